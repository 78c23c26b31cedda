//! The circuit breaker beside its peers on the same workload: per-call cost
//! of an always-ready inner service (`Echo`) bare, behind
//! `palisade-breaker`, behind tower-resilience's circuit breaker (0.13) and
//! behind failsafe (1.3), all closed, each call `ready().await` +
//! `call().await` on one tokio current-thread runtime, in the same run.
//!
//! Also, same harness: a 10 s **time window** (all successes, 1% and 50%
//! failures; failure-rate threshold 1.0 so nothing trips) beside
//! tower-resilience's time-based window, and a **keyed** breaker
//! (`KeyedCircuitBreaker`) over 1, 1,000 and 100,000 distinct keys
//! (`max_keys` 1024: the 100,000-key row churns, making a breaker per call
//! most of the time). Results: docs/BENCHMARKS.md.
//!
//! Run: `cargo bench -p palisade-benches --bench breaker_peers -- --warm-up-time 1 --measurement-time 3`

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_benches::Echo;
use std::{
    convert::Infallible,
    future::{Ready, ready},
    hint::black_box,
    task::{Context, Poll},
    time::{Duration, Instant},
};
use tower::{Layer, Service, ServiceExt};

/// failsafe has no tower layer: the thinnest adapter that runs each call
/// through its state machine.
#[derive(Clone)]
struct Failsafe<S, B> {
    inner: S,
    breaker: B,
}

impl<S, B> Service<u64> for Failsafe<S, B>
where
    S: Service<u64, Error = Infallible>,
    B: failsafe::futures::CircuitBreaker,
{
    type Response = S::Response;
    type Error = failsafe::Error<Infallible>;
    type Future = failsafe::futures::ResponseFuture<
        S::Future,
        B::FailurePolicy,
        B::Instrument,
        failsafe::Any,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(failsafe::Error::Inner)
    }

    fn call(&mut self, req: u64) -> Self::Future {
        self.breaker.call(self.inner.call(req))
    }
}

async fn one<S: Service<u64>>(svc: &mut S, req: u64) -> bool {
    match svc.ready().await {
        Ok(svc) => svc.call(req).await.is_ok(),
        Err(_) => false,
    }
}

/// `iters` calls in a row on a clone of `svc` (clones share the breaker).
fn run<S>(b: &mut criterion::Bencher<'_>, rt: &tokio::runtime::Runtime, svc: &S)
where
    S: Service<u64> + Clone,
{
    b.to_async(rt).iter_custom(|iters| {
        let mut svc = svc.clone();
        async move {
            let start = Instant::now();
            for i in 0..iters {
                black_box(one(&mut svc, black_box(i)).await);
            }
            start.elapsed()
        }
    });
}

fn peers(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("breaker_peers_closed");

    g.bench_function("bare", |b| {
        let svc = Echo;
        run(b, &rt, &svc);
    });

    g.bench_function("palisade", |b| {
        let breaker = rt.block_on(async {
            palisade_breaker::CircuitBreaker::builder("bench")
                .build()
                .unwrap()
        });
        let svc = breaker.layer().layer(Echo);
        run(b, &rt, &svc);
    });

    g.bench_function("tower_resilience", |b| {
        let layer = tower_resilience::circuitbreaker::CircuitBreakerLayer::builder()
            .failure_rate_threshold(0.5)
            .sliding_window_size(100)
            .build()
            .unwrap();
        let svc = layer.layer(Echo);
        run(b, &rt, &svc);
    });

    g.bench_function("failsafe", |b| {
        let svc = Failsafe {
            inner: Echo,
            breaker: failsafe::Config::new().build(),
        };
        run(b, &rt, &svc);
    });
    g.finish();
}

/// Fails one call in `every` (by request number); `every == 0`: never.
#[derive(Debug, Clone, Copy)]
struct Fails {
    every: u64,
}

impl Service<u64> for Fails {
    type Response = u64;
    type Error = &'static str;
    type Future = Ready<Result<u64, &'static str>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), &'static str>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: u64) -> Self::Future {
        ready(if self.every != 0 && req.is_multiple_of(self.every) {
            Err("fails")
        } else {
            Ok(req)
        })
    }
}

fn time_window(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("breaker_time_window");
    for (label, every) in [
        ("successes", 0),
        ("1pct_failures", 100),
        ("50pct_failures", 2),
    ] {
        let inner = Fails { every };
        g.bench_function(format!("bare_{label}"), |b| run(b, &rt, &inner));
        g.bench_function(format!("palisade_{label}"), |b| {
            let breaker = rt.block_on(async {
                palisade_breaker::CircuitBreaker::builder("bench")
                    .time_window(Duration::from_secs(10))
                    .failure_rate(1.0)
                    .build()
                    .unwrap()
            });
            run(b, &rt, &breaker.layer().layer(inner));
        });
        g.bench_function(format!("tower_resilience_{label}"), |b| {
            let layer = tower_resilience::circuitbreaker::CircuitBreakerLayer::builder()
                .sliding_window_type(tower_resilience::circuitbreaker::SlidingWindowType::TimeBased)
                .sliding_window_duration(Duration::from_secs(10))
                .failure_rate_threshold(1.0)
                .build()
                .unwrap();
            run(b, &rt, &layer.layer(inner));
        });
    }
    g.finish();
}

fn keyed(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("breaker_keyed");
    g.bench_function("bare", |b| run(b, &rt, &Echo));
    g.bench_function("single_breaker", |b| {
        let breaker = rt.block_on(async {
            palisade_breaker::CircuitBreaker::builder("bench")
                .build()
                .unwrap()
        });
        run(b, &rt, &breaker.layer().layer(Echo));
    });
    for keys in [1u64, 1_000, 100_000] {
        g.bench_function(format!("keyed_{keys}_keys"), |b| {
            let keyed = rt.block_on(async {
                palisade_breaker::CircuitBreaker::builder("bench")
                    .key(move |req: &u64| *req % keys)
                    .build::<u64, u64>()
                    .unwrap()
            });
            run(b, &rt, &keyed.layer().layer(Echo));
        });
    }
    g.finish();
}

criterion_group!(benches, peers, time_window, keyed);
criterion_main!(benches);
