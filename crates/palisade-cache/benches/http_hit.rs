//! The fresh-hit path of `HttpCache` beside a direct call of the handler it
//! wraps. Figures in the crate README ("Conformance") and docs/BENCHMARKS.md.
//!
//! `cargo bench -p palisade-cache --bench http_hit -- --warm-up-time 1 --measurement-time 3`
//!
//! For instruction counts (steady under load), run the bench binary under
//! callgrind with `HTTP_HIT_ITERS=N`: it primes the cache, makes `N` hits and
//! exits; the difference between two values of `N` is the cost of the hits.
//! `HTTP_HIT_MODE` picks what each iteration does (every mode builds the same
//! request and drops what it got, so the request's cost is in each):
//!
//! - `layer` (default): a fresh hit through the `HttpCache` layer;
//! - `moka`: a raw `moka::future::Cache::get` of an entry stored under the
//!   same key as the layer's (its `authority + path?query` bytes), the
//!   baseline of the hit;
//! - `moka_response`: the same `get` of a stored response (status, headers,
//!   body) and the `Response` built from it (headers cloned, body shared):
//!   what a hand-written moka cache in front of the handler does on a hit;
//! - `request`: the request alone.
//!
//! - `latency` (not for callgrind): 1,000 URLs primed, then `N` hits cycling
//!   over them inside a tokio runtime, yielding after each (as a server
//!   does between requests, so that spawned tasks run); prints the wall
//!   time of `call` + first poll per hit as p50 / p99 / p99.9 / max.
//!
//! `scripts/callgrind-http-hit.sh` (in this crate) runs the others and prints
//! instructions per iteration and the ratio layer / moka.

use std::{
    convert::Infallible,
    future::Future,
    hint::black_box,
    task::{Context, Poll, Waker},
};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response, header};
use http_body_util::Full;
use palisade_cache::HttpCache;
use tower::{Layer, Service, service_fn};

/// Polls a future expected to be ready at once (hits are).
fn now<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("not ready"),
    }
}

/// A browser-like GET with the headers a real request carries.
fn request() -> Request<()> {
    Request::get("http://example.com/articles/42?lang=en")
        .header(header::USER_AGENT, "Mozilla/5.0 (X11; Linux x86_64)")
        .header(header::ACCEPT, "text/html,application/xhtml+xml")
        .header(header::ACCEPT_ENCODING, "gzip, br")
        .header(header::ACCEPT_LANGUAGE, "en-GB,en;q=0.9")
        .body(())
        .unwrap()
}

async fn origin(_req: Request<()>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::builder()
        .header(header::CACHE_CONTROL, "max-age=3600")
        .header(header::CONTENT_TYPE, "text/html")
        .header(header::ETAG, "\"v1\"")
        .body(Full::new(Bytes::from_static(b"<p>article 42</p>")))
        .unwrap())
}

fn main_bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let cache = HttpCache::builder("bench").build().unwrap();
    let mut svc = cache.layer().layer(service_fn(origin));
    let first = rt.block_on(svc.call(request())).unwrap();
    assert_eq!(first.headers()["x-cache"], "MISS");
    assert_eq!(
        now(svc.call(request())).unwrap().headers()["x-cache"],
        "HIT"
    );

    if let Ok(n) = std::env::var("HTTP_HIT_ITERS") {
        let n: u64 = n.parse().expect("HTTP_HIT_ITERS: a number");
        match std::env::var("HTTP_HIT_MODE").as_deref() {
            Ok("moka") => {
                let moka: moka::future::Cache<Bytes, std::sync::Arc<Response<Bytes>>> =
                    moka::future::Cache::builder().max_capacity(10_000).build();
                let key = Bytes::from_static(b"example.com/articles/42?lang=en");
                now(moka.insert(
                    key.clone(),
                    std::sync::Arc::new(Response::new(Bytes::new())),
                ));
                for _ in 0..n {
                    let req = black_box(request());
                    black_box(now(moka.get(black_box(&key))).unwrap());
                    drop(req);
                }
            }
            Ok("moka_response") => {
                type Stored = (http::StatusCode, http::HeaderMap, Bytes);
                let moka: moka::future::Cache<Bytes, std::sync::Arc<Stored>> =
                    moka::future::Cache::builder().max_capacity(10_000).build();
                let key = Bytes::from_static(b"example.com/articles/42?lang=en");
                let resp = now(origin(request())).unwrap();
                let stored = (
                    resp.status(),
                    resp.headers().clone(),
                    Bytes::from_static(b"<p>article 42</p>"),
                );
                now(moka.insert(key.clone(), std::sync::Arc::new(stored)));
                for _ in 0..n {
                    let req = black_box(request());
                    let hit = now(moka.get(black_box(&key))).unwrap();
                    let mut resp = Response::new(Full::new(hit.2.clone()));
                    *resp.status_mut() = hit.0;
                    *resp.headers_mut() = hit.1.clone();
                    black_box(resp);
                    drop(req);
                }
            }
            Ok("latency") => {
                let url = |i: u64| format!("http://example.com/articles/{i}?lang=en");
                let ids = 1_000;
                for i in 0..ids {
                    let req = Request::get(url(i)).body(()).unwrap();
                    rt.block_on(svc.call(req)).unwrap();
                }
                let mut times = Vec::with_capacity(usize::try_from(n).unwrap());
                rt.block_on(async {
                    for i in 0..n {
                        let req = Request::get(url(i % ids)).body(()).unwrap();
                        let start = std::time::Instant::now();
                        let resp = now(svc.call(req)).unwrap();
                        times.push(start.elapsed());
                        assert_eq!(resp.headers()["x-cache"], "HIT");
                        drop(resp);
                        tokio::task::yield_now().await;
                    }
                });
                times.sort();
                let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
                println!(
                    "hits {}: p50 {:?} p99 {:?} p99.9 {:?} max {:?}",
                    times.len(),
                    at(0.5),
                    at(0.99),
                    at(0.999),
                    times[times.len() - 1]
                );
            }
            Ok("request") => {
                for _ in 0..n {
                    black_box(request());
                }
            }
            _ => {
                for _ in 0..n {
                    black_box(now(svc.call(black_box(request()))).unwrap());
                }
            }
        }
        return;
    }

    let mut group = c.benchmark_group("http_hit");
    let mut direct = service_fn(origin);
    group.bench_function("direct handler call (baseline)", |b| {
        b.iter(|| black_box(now(direct.call(black_box(request()))).unwrap()));
    });
    group.bench_function("fresh hit", |b| {
        b.iter(|| black_box(now(svc.call(black_box(request()))).unwrap()));
    });
    group.finish();
}

criterion_group!(benches, main_bench);
criterion_main!(benches);
