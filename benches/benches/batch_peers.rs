//! palisade-batch beside tower-batch-control (Zebra) on the same workload
//! with the same limits, and an unbatched baseline, in the same run.
//!
//! Workload: a serial backend (one call at a time, like one database
//! connection) costing 1 ms per call plus 5 µs per item; 256 callers in a
//! closed loop (each sends its next request when the last is answered). One
//! iteration = 256 items. Limits: at most 64 items per batch, 1 ms linger,
//! 4 batches in flight. `palisade_eager` is Palisade with `max_wait` zero.
//!
//! Criterion measures throughput; per-request latencies are collected and
//! p50/p99 are printed after each contender.
//!
//! Run: `cargo bench -p palisade-benches --bench batch_peers -- --warm-up-time 1 --measurement-time 3`

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use palisade_batch::Batcher;
use tokio::sync::oneshot;
use tower::{BoxError, Layer, Service, ServiceExt, service_fn};
use tower_batch_control::{BatchControl, RequestWeight};

const CALLERS: usize = 256;
const MAX_SIZE: usize = 64;
const MAX_WAIT: Duration = Duration::from_millis(1);
const MAX_IN_FLIGHT: usize = 4;

/// The serial backend: a thread that runs one call at a time.
#[derive(Clone)]
struct Backend {
    tx: std::sync::mpsc::Sender<(usize, oneshot::Sender<()>)>,
}

impl Backend {
    fn start() -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<(usize, oneshot::Sender<()>)>();
        std::thread::spawn(move || {
            for (items, done) in rx {
                let cost = Duration::from_millis(1) + Duration::from_micros(5) * items as u32;
                std::thread::sleep(cost);
                let _ = done.send(());
            }
        });
        Self { tx }
    }

    async fn process(&self, items: usize) {
        let (done, wait) = oneshot::channel();
        self.tx.send((items, done)).expect("backend thread");
        wait.await.expect("backend thread");
    }
}

/// tower-batch-control's request type must implement its `RequestWeight`.
struct Item(u64);

impl RequestWeight for Item {}

type BoxFut<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

/// The bulk service in tower-batch-control's shape: items accumulate, and
/// `Flush` sends them to the backend as one call and answers each.
struct TbcBulk {
    backend: Backend,
    batch: Vec<(u64, oneshot::Sender<u64>)>,
}

impl Service<BatchControl<Item>> for TbcBulk {
    type Response = u64;
    type Error = BoxError;
    type Future = BoxFut<u64>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: BatchControl<Item>) -> Self::Future {
        match req {
            BatchControl::Item(Item(x)) => {
                let (tx, rx) = oneshot::channel();
                self.batch.push((x, tx));
                Box::pin(async move { Ok(rx.await?) })
            }
            BatchControl::Flush => {
                let batch = std::mem::take(&mut self.batch);
                let backend = self.backend.clone();
                Box::pin(async move {
                    backend.process(batch.len()).await;
                    for (x, tx) in batch {
                        let _ = tx.send(x);
                    }
                    Ok(0)
                })
            }
        }
    }
}

/// `CALLERS` callers in a closed loop until `total` items are answered;
/// records each request's latency in µs.
async fn closed_loop<S, Req>(
    svc: S,
    wrap: fn(u64) -> Req,
    total: u64,
    latencies: Arc<Mutex<Vec<u64>>>,
) -> Duration
where
    S: Service<Req> + Clone + Send + 'static,
    S::Error: std::fmt::Debug,
    S::Future: Send,
    Req: Send + 'static,
{
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (mut svc, next) = (svc.clone(), next.clone());
            tokio::spawn(async move {
                let mut local = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let sent = Instant::now();
                    svc.ready().await.unwrap().call(wrap(i)).await.unwrap();
                    local.push(sent.elapsed().as_micros() as u64);
                }
                local
            })
        })
        .collect();
    let mut merged = Vec::new();
    for t in tasks {
        merged.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed();
    latencies.lock().unwrap().extend(merged);
    elapsed
}

fn report(name: &str, latencies: &Mutex<Vec<u64>>) {
    let mut l = latencies.lock().unwrap();
    l.sort_unstable();
    let at = |q: f64| l[((l.len() - 1) as f64 * q) as usize];
    println!(
        "{name}: {} requests, latency p50 {} µs, p99 {} µs, max {} µs",
        l.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let backend = Backend::start();

    let b = backend.clone();
    let unbatched = service_fn(move |x: u64| {
        let b = b.clone();
        async move {
            b.process(1).await;
            Ok::<_, Infallible>(x)
        }
    });
    let b = backend.clone();
    let bulk = service_fn(move |xs: Vec<u64>| {
        let b = b.clone();
        async move {
            b.process(xs.len()).await;
            Ok::<_, Infallible>(xs)
        }
    });
    let palisade = |max_wait: Duration| {
        Batcher::builder("bench")
            .max_size(MAX_SIZE)
            .max_wait(max_wait)
            .max_in_flight(MAX_IN_FLIGHT)
            .queue_capacity(4096)
            .runtime(rt.handle().clone())
            .build()
            .unwrap()
            .layer()
            .layer(bulk.clone())
    };
    let palisade_linger = palisade(MAX_WAIT);
    let palisade_eager = palisade(Duration::ZERO);
    let tbc = rt.block_on(async {
        tower_batch_control::Batch::new(
            TbcBulk {
                backend: backend.clone(),
                batch: Vec::new(),
            },
            MAX_SIZE,
            MAX_IN_FLIGHT,
            MAX_WAIT,
        )
    });

    let mut g = c.benchmark_group("batch_peers");
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.throughput(Throughput::Elements(CALLERS as u64));

    let lat = Arc::new(Mutex::new(Vec::new()));
    g.bench_function("unbatched", |bch| {
        bch.iter_custom(|iters| {
            rt.block_on(closed_loop(
                unbatched.clone(),
                |i| i,
                iters * CALLERS as u64,
                lat.clone(),
            ))
        });
    });
    report("unbatched", &lat);

    for (name, svc) in [
        ("palisade", palisade_linger),
        ("palisade_eager", palisade_eager),
    ] {
        let lat = Arc::new(Mutex::new(Vec::new()));
        g.bench_function(name, |bch| {
            bch.iter_custom(|iters| {
                rt.block_on(closed_loop(
                    svc.clone(),
                    |i| i,
                    iters * CALLERS as u64,
                    lat.clone(),
                ))
            });
        });
        report(name, &lat);
    }

    let lat = Arc::new(Mutex::new(Vec::new()));
    g.bench_function("tower_batch_control", |bch| {
        bch.iter_custom(|iters| {
            rt.block_on(closed_loop(
                tbc.clone(),
                Item,
                iters * CALLERS as u64,
                lat.clone(),
            ))
        });
    });
    report("tower_batch_control", &lat);
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
