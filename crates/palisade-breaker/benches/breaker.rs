//! Per-call cost of the breaker: a bare inner service vs the same service
//! behind the breaker while closed (1 and 2 threads; all successes, and 1%
//! failures, which keeps the window's ring moving), and the cost of a
//! rejection while open. Figures are recorded in `docs/BENCHMARKS.md`.
//!
//! Run: `cargo bench -p palisade-breaker --bench breaker -- --warm-up-time 1 --measurement-time 3`

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_breaker::CircuitBreaker;
use std::{
    convert::Infallible,
    future::{Future, Ready, ready},
    hint::black_box,
    pin::pin,
    sync::Barrier,
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};
use tower::{Layer, Service};

/// Answers at once: the benchmark measures only what wraps it.
#[derive(Debug, Clone, Copy)]
struct Echo;

impl Service<u64> for Echo {
    type Response = u64;
    type Error = Infallible;
    type Future = Ready<Result<u64, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: u64) -> Self::Future {
        ready(Ok(req))
    }
}

/// Fails one call in 100 (by request number): not enough to trip the
/// default breaker, enough that every call writes to the count window.
#[derive(Debug, Clone, Copy)]
struct Flaky;

impl Service<u64> for Flaky {
    type Response = u64;
    type Error = &'static str;
    type Future = Ready<Result<u64, &'static str>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), &'static str>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: u64) -> Self::Future {
        ready(if req.is_multiple_of(100) {
            Err("flaky")
        } else {
            Ok(req)
        })
    }
}

/// One request through `svc`: poll_ready, call, poll the future once.
#[inline]
fn one<S: Service<u64>>(svc: &mut S, req: u64) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    let Poll::Ready(Ok(())) = svc.poll_ready(&mut cx) else {
        panic!("always ready")
    };
    let fut = pin!(svc.call(req));
    match fut.poll(&mut cx) {
        Poll::Ready(res) => res.is_ok(),
        Poll::Pending => panic!("always ready"),
    }
}

fn closed_breaker() -> CircuitBreaker {
    CircuitBreaker::builder("bench").build().unwrap()
}

/// Wall time of `iters` calls on each of `threads` threads, started together.
fn threaded<S>(make: impl Fn() -> S + Sync, threads: usize, iters: u64) -> Duration
where
    S: Service<u64>,
{
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let barrier = &barrier;
                let make = &make;
                scope.spawn(move || {
                    let mut svc = make();
                    barrier.wait();
                    for i in 0..iters {
                        black_box(one(&mut svc, black_box(i)));
                    }
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        for h in handles {
            h.join().unwrap();
        }
        start.elapsed()
    })
}

fn closed(c: &mut Criterion) {
    // Measured in a runtime context so the breaker's clock is tokio's.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let mut g = c.benchmark_group("breaker_closed");
    g.bench_function("bare_1_thread", |b| {
        let mut svc = Echo;
        let mut i = 0;
        b.iter(|| {
            i += 1;
            one(&mut svc, black_box(i))
        });
    });
    g.bench_function("breaker_1_thread", |b| {
        let breaker = closed_breaker();
        let mut svc = breaker.layer().layer(Echo);
        let mut i = 0;
        b.iter(|| {
            i += 1;
            one(&mut svc, black_box(i))
        });
    });
    // Time per call per thread: with 2 threads doing `iters` calls each, the
    // throughput relative to 1 thread is 2 * t(1 thread) / t(2 threads).
    g.bench_function("bare_2_threads", |b| {
        b.iter_custom(|iters| threaded(|| Echo, 2, iters));
    });
    // The machine's own scaling in this run (it is shared and noisy): the
    // bare service through the same harness on 1 thread.
    g.bench_function("bare_1_thread_scoped", |b| {
        b.iter_custom(|iters| threaded(|| Echo, 1, iters));
    });
    g.bench_function("breaker_2_threads", |b| {
        let breaker = closed_breaker();
        b.iter_custom(|iters| threaded(|| breaker.layer().layer(Echo), 2, iters));
    });
    g.bench_function("breaker_1_thread_scoped", |b| {
        let breaker = closed_breaker();
        b.iter_custom(|iters| threaded(|| breaker.layer().layer(Echo), 1, iters));
    });
    g.bench_function("bare_1pct_failures", |b| {
        let mut svc = Flaky;
        let mut i = 0;
        b.iter(|| {
            i += 1;
            one(&mut svc, black_box(i))
        });
    });
    g.bench_function("breaker_1pct_failures", |b| {
        let breaker = closed_breaker();
        let mut svc = breaker.layer().layer(Flaky);
        let mut i = 0;
        b.iter(|| {
            i += 1;
            one(&mut svc, black_box(i))
        });
    });
    g.finish();
}

fn open(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let mut g = c.benchmark_group("breaker_open");
    g.bench_function("bare", |b| {
        let mut svc = Echo;
        let mut i = 0;
        b.iter(|| {
            i += 1;
            one(&mut svc, black_box(i))
        });
    });
    g.bench_function("rejection", |b| {
        let breaker = CircuitBreaker::builder("bench-open")
            .consecutive_failures(1)
            .open_wait(Duration::from_secs(3600))
            .build()
            .unwrap();
        breaker.try_acquire().unwrap().failure();
        let mut svc = breaker.layer().layer(Echo);
        let mut i = 0;
        b.iter(|| {
            i += 1;
            one(&mut svc, black_box(i))
        });
    });
    g.finish();
}

criterion_group!(benches, closed, open);
criterion_main!(benches);
