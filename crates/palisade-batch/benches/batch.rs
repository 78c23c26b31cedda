//! palisade-batch benchmarks (criterion, same run):
//!
//! 1. `overhead/*`: cost per item of going through a `Batcher` to a trivial
//!    inner service, against calling a trivial single-item service directly,
//!    with 1 caller (one call at a time) and 256 concurrent callers. tower's
//!    `Buffer` (same shape: a channel to a worker task, a oneshot back) is
//!    measured beside it for reference.
//! 2. `throughput/*`: the point of batching. The inner service is a serial
//!    backend (one call at a time, like one database connection) costing
//!    1 ms per call plus 5 µs per item; 256 concurrent callers in a closed
//!    loop. One iteration = 256 items. Batched vs unbatched.
//!
//! Run: `cargo bench -p palisade-batch --bench batch -- --warm-up-time 1 --measurement-time 3`
//! Results: docs/BENCHMARKS.md.

use std::{
    convert::Infallible,
    future::{Ready, ready},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use futures_util::future::join_all;
use palisade_batch::Batcher;
use tower::{Layer, Service, ServiceExt, service_fn};

/// A trivial bulk service: answers every item with itself.
#[derive(Clone, Copy)]
struct EchoAll;

impl Service<Vec<u64>> for EchoAll {
    type Response = Vec<u64>;
    type Error = Infallible;
    type Future = Ready<Result<Vec<u64>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, items: Vec<u64>) -> Self::Future {
        ready(Ok(items))
    }
}

/// A trivial single-item service: the direct-call baseline.
#[derive(Clone, Copy)]
struct EchoOne;

impl Service<u64> for EchoOne {
    type Response = u64;
    type Error = Infallible;
    type Future = Ready<Result<u64, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, item: u64) -> Self::Future {
        ready(Ok(item))
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn concurrent<S>(svc: &mut S, n: u64) -> u64
where
    S: Service<u64, Response = u64>,
    S::Error: std::fmt::Debug,
{
    let mut calls = Vec::with_capacity(n as usize);
    for i in 0..n {
        calls.push(svc.ready().await.unwrap().call(i));
    }
    join_all(calls).await.into_iter().map(|r| r.unwrap()).sum()
}

fn overhead(c: &mut Criterion) {
    let rt = runtime();
    let batcher = Batcher::builder("bench")
        .max_size(256)
        .max_in_flight(4)
        .queue_capacity(4096)
        .runtime(rt.handle().clone())
        .build()
        .unwrap();
    let batched = batcher.layer().layer(EchoAll);
    let buffered = rt.block_on(async { tower::buffer::Buffer::new(EchoOne, 4096) });

    let mut g = c.benchmark_group("overhead");
    g.throughput(Throughput::Elements(1));
    g.bench_function("direct/1", |b| {
        b.to_async(&rt).iter(|| async {
            let mut svc = EchoOne;
            svc.ready().await.unwrap().call(1).await.unwrap()
        });
    });
    g.bench_function("batched/1", |b| {
        b.to_async(&rt).iter(|| {
            let mut svc = batched.clone();
            async move { svc.ready().await.unwrap().call(1).await.unwrap() }
        });
    });
    g.bench_function("tower_buffer/1", |b| {
        b.to_async(&rt).iter(|| {
            let mut svc = buffered.clone();
            async move { svc.ready().await.unwrap().call(1).await.unwrap() }
        });
    });
    g.throughput(Throughput::Elements(256));
    g.bench_function("direct/256", |b| {
        b.to_async(&rt)
            .iter(|| async { concurrent(&mut EchoOne, 256).await });
    });
    g.bench_function("batched/256", |b| {
        b.to_async(&rt).iter(|| {
            let mut svc = batched.clone();
            async move { concurrent(&mut svc, 256).await }
        });
    });
    g.bench_function("tower_buffer/256", |b| {
        b.to_async(&rt).iter(|| {
            let mut svc = buffered.clone();
            async move { concurrent(&mut svc, 256).await }
        });
    });
    g.finish();
}

/// A serial backend on its own thread: one call at a time, each costing
/// 1 ms plus 5 µs per item.
#[derive(Clone)]
struct Backend {
    tx: std::sync::mpsc::Sender<(usize, tokio::sync::oneshot::Sender<()>)>,
}

impl Backend {
    fn start() -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<(usize, tokio::sync::oneshot::Sender<()>)>();
        std::thread::spawn(move || {
            for (items, done) in rx {
                std::thread::sleep(
                    Duration::from_millis(1) + Duration::from_micros(5) * items as u32,
                );
                let _ = done.send(());
            }
        });
        Self { tx }
    }

    async fn process(&self, items: usize) {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.tx.send((items, done)).unwrap();
        wait.await.unwrap();
    }
}

/// 256 callers in a closed loop until `total` items are answered.
async fn closed_loop<S>(svc: S, callers: usize, total: u64) -> Duration
where
    S: Service<u64, Response = u64> + Clone + Send + 'static,
    S::Error: std::fmt::Debug,
    S::Future: Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let (mut svc, next) = (svc.clone(), next.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    svc.ready().await.unwrap().call(7).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}

fn throughput(c: &mut Criterion) {
    let rt = runtime();
    let backend = Backend::start();
    let b1 = backend.clone();
    let unbatched = service_fn(move |x: u64| {
        let b = b1.clone();
        async move {
            b.process(1).await;
            Ok::<_, Infallible>(x)
        }
    });
    let b2 = backend.clone();
    let bulk = service_fn(move |xs: Vec<u64>| {
        let b = b2.clone();
        async move {
            b.process(xs.len()).await;
            Ok::<_, Infallible>(xs)
        }
    });
    let batcher = Batcher::builder("bench")
        .max_size(256)
        .max_in_flight(1)
        .queue_capacity(4096)
        .runtime(rt.handle().clone())
        .build()
        .unwrap();
    let batched = batcher.layer().layer(bulk);

    let mut g = c.benchmark_group("throughput");
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.throughput(Throughput::Elements(256));
    g.bench_function("unbatched/256", |b| {
        b.iter_custom(|iters| rt.block_on(closed_loop(unbatched.clone(), 256, iters * 256)));
    });
    g.bench_function("batched/256", |b| {
        b.iter_custom(|iters| rt.block_on(closed_loop(batched.clone(), 256, iters * 256)));
    });
    g.finish();
}

criterion_group!(benches, overhead, throughput);
criterion_main!(benches);
