//! Per-request cost of palisade-shed's layers beside tower's own and a bare
//! service, in the same run.
//!
//! ```text
//! cargo bench -p palisade-shed --bench shed -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Each iteration is one request through `poll_ready`, `call` and one poll of
//! the response future around an always-ready echo service: what is measured
//! is the layer's own work. `timeout/pending_once/*` uses a handler that is
//! pending on its first poll, so the timeouts arm their timers (palisade arms
//! its timer only then). Results: `docs/BENCHMARKS.md`.

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_shed::{AdaptiveLimit, ConcurrencyLimit, Timeout, adaptive::Vegas, timeout::Ambient};
use std::{
    convert::Infallible,
    future::{Future, Ready, ready},
    hint::black_box,
    pin::pin,
    task::{Context, Poll, Waker},
    time::Duration,
};
use tower::{Layer, Service, ServiceBuilder};

/// Stands for what a server puts in a request's extensions before the
/// layer sees it (axum's `OriginalUri`, tonic's connection info).
#[derive(Debug, Clone, Copy)]
struct RouteMarker(#[allow(dead_code)] u64);

/// Answers every request at once with the request itself.
#[derive(Debug, Clone, Copy)]
struct Echo;

impl<R> Service<R> for Echo {
    type Response = R;
    type Error = Infallible;
    type Future = Ready<Result<R, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: R) -> Self::Future {
        ready(Ok(req))
    }
}

/// Answers every request with itself on the second poll of its future: a
/// handler that waits once, so a timeout has to arm its timer.
#[derive(Debug, Clone, Copy)]
struct YieldOnce;

/// The future of [`YieldOnce`].
struct Yield<R>(Option<R>, bool);

impl<R: Unpin> Future for Yield<R> {
    type Output = Result<R, Infallible>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.1 {
            Poll::Ready(Ok(self.0.take().expect("polled after completion")))
        } else {
            self.1 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

impl<R: Unpin> Service<R> for YieldOnce {
    type Response = R;
    type Error = Infallible;
    type Future = Yield<R>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: R) -> Self::Future {
        Yield(Some(req), false)
    }
}

/// One request: `poll_ready`, `call`, and polls of the future until it is
/// ready (at most twice).
fn twice<S: Service<R>, R>(svc: &mut S, req: R) -> Result<S::Response, S::Error> {
    let mut cx = Context::from_waker(Waker::noop());
    match svc.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(e)) => return Err(e),
        Poll::Pending => panic!("benchmarked service not ready"),
    }
    let mut fut = pin!(svc.call(req));
    for _ in 0..2 {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("benchmarked future not ready on its second poll")
}

/// One request: `poll_ready`, `call`, one poll of the future (all ready).
fn once<S: Service<R>, R>(svc: &mut S, req: R) -> Result<S::Response, S::Error> {
    let mut cx = Context::from_waker(Waker::noop());
    match svc.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(e)) => return Err(e),
        Poll::Pending => panic!("benchmarked service not ready"),
    }
    let mut fut = pin!(svc.call(req));
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("benchmarked future not ready"),
    }
}

fn timeout(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let d = Duration::from_secs(2);
    let ambient = Timeout::builder("bench")
        .timeout(d)
        .source(Ambient)
        .build()
        .unwrap();
    let http = Timeout::builder("bench").timeout(d).build().unwrap();

    let mut g = c.benchmark_group("timeout");
    let mut bare = Echo;
    g.bench_function("bare", |b| b.iter(|| once(&mut bare, black_box(7_u64))));
    let mut tower_t = tower::timeout::TimeoutLayer::new(d).layer(Echo);
    g.bench_function("tower", |b| b.iter(|| once(&mut tower_t, black_box(7_u64))));
    let mut ours = ambient.layer().layer(Echo);
    g.bench_function("palisade", |b| b.iter(|| once(&mut ours, black_box(7_u64))));

    // A handler that is not ready at once: both timeouts arm their timer.
    let mut bare = YieldOnce;
    g.bench_function("pending_once/bare", |b| {
        b.iter(|| twice(&mut bare, black_box(7_u64)));
    });
    let mut tower_t = tower::timeout::TimeoutLayer::new(d).layer(YieldOnce);
    g.bench_function("pending_once/tower", |b| {
        b.iter(|| twice(&mut tower_t, black_box(7_u64)));
    });
    let mut ours = ambient.layer().layer(YieldOnce);
    g.bench_function("pending_once/palisade", |b| {
        b.iter(|| twice(&mut ours, black_box(7_u64)));
    });

    // HTTP requests: palisade also reads grpc-timeout and inserts the
    // Deadline into the request's extensions; on this bare request the
    // extensions are empty, so that creates the map as well as the entry.
    let req = || http::Request::builder().body(()).unwrap();
    let mut bare = Echo;
    g.bench_function("http/bare", |b| {
        b.iter(|| once(&mut bare, black_box(req())));
    });
    let mut tower_t = tower::timeout::TimeoutLayer::new(d).layer(Echo);
    g.bench_function("http/tower", |b| {
        b.iter(|| once(&mut tower_t, black_box(req())));
    });
    let mut ours = http.layer().layer(Echo);
    g.bench_function("http/palisade", |b| {
        b.iter(|| once(&mut ours, black_box(req())));
    });

    // An HTTP request as a layer inside axum or tonic sees it: a few headers
    // (so `grpc-timeout` is looked up in a non-empty map) and an extensions
    // map that already exists (axum inserts `OriginalUri` and the path
    // parameters, tonic the connection info), so the `Deadline` insert adds
    // one entry rather than creating the map.
    let served = || {
        let mut req = http::Request::builder()
            .uri("/api/items")
            .header(http::header::HOST, "svc.local")
            .header(http::header::USER_AGENT, "bench/1.0")
            .header(http::header::ACCEPT, "*/*")
            .body(())
            .unwrap();
        req.extensions_mut().insert(RouteMarker(7));
        req
    };
    let mut bare = Echo;
    g.bench_function("http_served/bare", |b| {
        b.iter(|| once(&mut bare, black_box(served())));
    });
    let mut tower_t = tower::timeout::TimeoutLayer::new(d).layer(Echo);
    g.bench_function("http_served/tower", |b| {
        b.iter(|| once(&mut tower_t, black_box(served())));
    });
    let mut ours = http.layer().layer(Echo);
    g.bench_function("http_served/palisade", |b| {
        b.iter(|| once(&mut ours, black_box(served())));
    });
    let lean = Timeout::builder("bench")
        .timeout(d)
        .deadline_in_extensions(false)
        .build()
        .unwrap();
    let mut ours = lean.layer().layer(Echo);
    g.bench_function("http_served/palisade_no_extension", |b| {
        b.iter(|| once(&mut ours, black_box(served())));
    });
    g.finish();
}

fn limit(c: &mut Criterion) {
    let limit = ConcurrencyLimit::builder("bench")
        .max_in_flight(256)
        .build()
        .unwrap();
    let mut g = c.benchmark_group("limit");
    let mut bare = Echo;
    g.bench_function("bare", |b| b.iter(|| once(&mut bare, black_box(7_u64))));
    let mut tower_pair = ServiceBuilder::new()
        .load_shed()
        .concurrency_limit(256)
        .service(Echo);
    g.bench_function("tower", |b| {
        b.iter(|| once(&mut tower_pair, black_box(7_u64)));
    });
    let mut ours = limit.layer().layer(Echo);
    g.bench_function("palisade", |b| b.iter(|| once(&mut ours, black_box(7_u64))));
    // The adaptive limit: as a server sees it (an echo answers in well under
    // 100 µs, so the request is admitted and timed but not sampled), and
    // with every request sampled into the window (`min_rtt(0)`).
    let adaptive = AdaptiveLimit::builder("bench")
        .algorithm(Vegas::default().initial_limit(256))
        .build()
        .unwrap();
    let mut ours = adaptive.layer().layer(Echo);
    g.bench_function("palisade_adaptive", |b| {
        b.iter(|| once(&mut ours, black_box(7_u64)));
    });
    let sampled = AdaptiveLimit::builder("bench")
        .algorithm(Vegas::default().initial_limit(256))
        .min_rtt(Duration::ZERO)
        .build()
        .unwrap();
    let mut ours = sampled.layer().layer(Echo);
    g.bench_function("palisade_adaptive_sampled", |b| {
        b.iter(|| once(&mut ours, black_box(7_u64)));
    });
    g.finish();
}

/// Two threads sending requests at once through clones of one limit: the
/// shared counter (palisade) or semaphore (tower) is contended.
fn limit_contended(c: &mut Criterion) {
    fn run<S>(svc: &S, iters: u64) -> Duration
    where
        S: Service<u64> + Clone + Send,
    {
        let start = std::time::Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..2 {
                let mut svc = svc.clone();
                scope.spawn(move || {
                    for i in 0..iters / 2 {
                        let _ = black_box(once(&mut svc, black_box(i)));
                    }
                });
            }
        });
        start.elapsed()
    }
    let limit = ConcurrencyLimit::builder("bench")
        .max_in_flight(256)
        .build()
        .unwrap();
    let mut g = c.benchmark_group("limit_2_threads");
    g.bench_function("bare", |b| b.iter_custom(|iters| run(&Echo, iters)));
    let tower_pair = ServiceBuilder::new()
        .load_shed()
        .concurrency_limit(256)
        .service(Echo);
    g.bench_function("tower", |b| b.iter_custom(|iters| run(&tower_pair, iters)));
    let ours = limit.layer().layer(Echo);
    g.bench_function("palisade", |b| b.iter_custom(|iters| run(&ours, iters)));
    g.finish();
}

criterion_group!(benches, timeout, limit, limit_contended);
criterion_main!(benches);
