//! A hit through the cache layer vs a direct moka get of the same key, and
//! hit throughput with 2 threads. Figures in docs/BENCHMARKS.md.
//!
//! `cargo bench -p palisade-cache --bench cache -- --warm-up-time 1 --measurement-time 3`

use std::{
    convert::Infallible,
    future::Future,
    hint::black_box,
    sync::Arc,
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_cache::Cache;
use tower::{Service, ServiceBuilder, service_fn};

/// Polls a future expected to be ready at once (hits are).
fn now<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("not ready"),
    }
}

type Value = Arc<str>;

fn cached_service(
    cache: &Cache<u64, Value>,
) -> impl Service<u64, Response = Value, Error = palisade_core::BoxError, Future: Send>
+ Clone
+ Send
+ 'static {
    ServiceBuilder::new()
        .layer(cache.layer(|k: &u64| Some(*k)))
        .service(service_fn(|k: u64| async move {
            Ok::<_, Infallible>(Value::from(format!("value {k}")))
        }))
}

fn hit(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let moka: moka::future::Cache<u64, Value> =
        moka::future::Cache::builder().max_capacity(10_000).build();
    now(moka.insert(7, Value::from("value 7")));
    let cache: Cache<u64, Value> = Cache::builder("bench")
        .max_entries(10_000)
        .ttl(Duration::from_secs(3_600))
        .build()
        .unwrap();
    let mut svc = cached_service(&cache);
    now(std::future::poll_fn(|cx| svc.poll_ready(cx))).unwrap();
    now(svc.call(7)).unwrap();

    let mut g = c.benchmark_group("cache_hit");
    g.bench_function("moka_get_direct", |b| {
        b.iter(|| black_box(now(moka.get(black_box(&7)))));
    });
    g.bench_function("palisade_layer", |b| {
        b.iter(|| {
            let _ = now(std::future::poll_fn(|cx| svc.poll_ready(cx)));
            black_box(now(svc.call(black_box(7))))
        });
    });
    g.finish();

    // Two threads hitting one key: total time per hit (lower is better).
    let mut g = c.benchmark_group("cache_hit_2_threads");
    g.bench_function("moka_get_direct", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    let moka = moka.clone();
                    s.spawn(move || {
                        for _ in 0..iters / 2 {
                            black_box(now(moka.get(&7)));
                        }
                    });
                }
            });
            start.elapsed()
        });
    });
    g.bench_function("palisade_layer", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    let mut svc = svc.clone();
                    s.spawn(move || {
                        for _ in 0..iters / 2 {
                            let _ = now(std::future::poll_fn(|cx| svc.poll_ready(cx)));
                            let _ = black_box(now(svc.call(7)));
                        }
                    });
                }
            });
            start.elapsed()
        });
    });
    g.finish();
}

criterion_group!(benches, hit);
criterion_main!(benches);
