//! Cache hits side by side: a bare service (baseline), palisade-cache,
//! tower-resilience's cache (generic responses) and axum-response-cache
//! (HTTP responses). Figures in docs/BENCHMARKS.md.
//!
//! `cargo bench -p palisade-benches --bench cache_peers -- --warm-up-time 1 --measurement-time 3`

use std::{convert::Infallible, hint::black_box, sync::Arc, time::Duration};

use axum::{body::Body, http::Request, response::Response};
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use palisade_benches::now;
use palisade_cache::{Cache, HttpCache};
use tower::{Layer, Service, service_fn};

type Value = Arc<str>;

fn ready_call<S: Service<R>, R>(svc: &mut S, req: R) -> Result<S::Response, S::Error> {
    now(std::future::poll_fn(|cx| svc.poll_ready(cx)))?;
    now(svc.call(req))
}

fn value_service()
-> impl Service<u64, Response = Value, Error = Infallible, Future: Send> + Clone + Send + 'static {
    let value: Value = Value::from("the cached value");
    service_fn(move |_k: u64| {
        let v = Arc::clone(&value);
        async move { Ok::<_, Infallible>(v) }
    })
}

fn generic(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let mut bare = value_service();

    let cache: Cache<u64, Value> = Cache::builder("bench")
        .max_entries(10_000)
        .ttl(Duration::from_secs(3_600))
        .build()
        .unwrap();
    let mut palisade = cache.layer(|k: &u64| Some(*k)).layer(value_service());

    let layer = tower_resilience::cache::SharedCacheLayer::<u64, u64, Value>::builder()
        .max_size(10_000)
        .ttl(Duration::from_secs(3_600))
        .key_extractor(|k: &u64| *k)
        .build()
        .unwrap();
    let mut resilience = layer.layer(value_service());

    // Fill both caches.
    ready_call(&mut palisade, 7).unwrap();
    ready_call(&mut resilience, 7).unwrap();

    let mut g = c.benchmark_group("cache_peers_hit");
    g.bench_function("bare_service", |b| {
        b.iter(|| black_box(ready_call(&mut bare, black_box(7))));
    });
    g.bench_function("palisade_cache", |b| {
        b.iter(|| black_box(ready_call(&mut palisade, black_box(7)).is_ok()));
    });
    g.bench_function("tower_resilience_cache", |b| {
        b.iter(|| black_box(ready_call(&mut resilience, black_box(7)).is_ok()));
    });
    g.finish();

    // Two threads hitting one key: wall time per hit (both threads together).
    fn two_threads<S>(svc: &S, iters: u64) -> std::time::Duration
    where
        S: Service<u64> + Clone + Send,
    {
        let start = std::time::Instant::now();
        std::thread::scope(|s| {
            for _ in 0..2 {
                let mut svc = svc.clone();
                s.spawn(move || {
                    for _ in 0..iters / 2 {
                        black_box(ready_call(&mut svc, 7).is_ok());
                    }
                });
            }
        });
        start.elapsed()
    }
    let mut g = c.benchmark_group("cache_peers_hit_2_threads");
    g.bench_function("bare_service", |b| {
        b.iter_custom(|n| two_threads(&bare, n));
    });
    g.bench_function("palisade_cache", |b| {
        b.iter_custom(|n| two_threads(&palisade, n));
    });
    g.bench_function("tower_resilience_cache", |b| {
        b.iter_custom(|n| two_threads(&resilience, n));
    });
    g.finish();
}

fn page_service()
-> impl Service<Request<Body>, Response = Response, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    service_fn(|_req: Request<Body>| async {
        let mut resp = Response::new(Body::from(Bytes::from_static(
            b"<html>a cached page</html>",
        )));
        resp.headers_mut()
            .insert("cache-control", "max-age=3600".parse().unwrap());
        Ok::<_, Infallible>(resp)
    })
}

fn request() -> Request<Body> {
    Request::get("http://bench.local/page?id=7")
        .body(Body::empty())
        .unwrap()
}

fn http(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let mut bare = page_service();

    let pages = HttpCache::builder("bench")
        .max_bytes(16 << 20)
        .build()
        .unwrap();
    let mut palisade = pages.layer().layer(page_service());

    let mut arc = axum_response_cache::CacheLayer::with_lifespan(Duration::from_secs(3_600))
        .layer(page_service());

    // Fill both caches (the body must be read for the HTTP caches to store it).
    rt.block_on(async {
        let r = ready_call(&mut palisade, request());
        assert!(r.is_ok());
        std::future::poll_fn(|cx| arc.poll_ready(cx)).await.unwrap();
        let resp = arc.call(request()).await.unwrap();
        let _ = axum::body::to_bytes(resp.into_body(), usize::MAX).await;
    });
    assert_eq!(
        ready_call(&mut palisade, request()).unwrap().headers()["x-cache"],
        "HIT"
    );

    let mut g = c.benchmark_group("http_cache_peers_hit");
    g.bench_function("bare_service", |b| {
        b.iter(|| black_box(ready_call(&mut bare, request())));
    });
    g.bench_function("palisade_http_cache", |b| {
        b.iter(|| black_box(ready_call(&mut palisade, request()).is_ok()));
    });
    g.bench_function("axum_response_cache", |b| {
        b.iter(|| black_box(ready_call(&mut arc, request())));
    });
    g.finish();
}

criterion_group!(benches, generic, http);
criterion_main!(benches);
