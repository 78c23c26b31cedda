//! Cost of the latency layer per request, against a no-layer baseline in the
//! same run: bare vs tracked, with and without the blocking-poll detector, on
//! one thread and on two threads at once (same tracker, same route); and, on
//! one thread, tracked with the default route source (no `.route(...)`).
//!
//! `cargo bench -p palisade-latency --bench latency -- --warm-up-time 1 --measurement-time 3`
//!
//! Each request is an `http::Request<()>` answered at once with a
//! one-chunk body, which is read to its end (that is when the tracker
//! records). Results: docs/BENCHMARKS.md.
//!
//! Two measurements of the same benchmarks: `wall/...` (criterion's wall
//! clock) and `cpu/...` (the benchmark thread's own CPU time, from
//! `CLOCK_THREAD_CPUTIME_ID`): on a shared, loaded machine the second
//! leaves out the time the thread waited for a core, so its ratios are far
//! steadier.

use std::{
    convert::Infallible,
    future::{Ready, ready},
    hint::black_box,
    pin::pin,
    sync::Barrier,
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use bytes::Bytes;
use criterion::{
    Criterion, Throughput, criterion_group, criterion_main,
    measurement::{Measurement, ValueFormatter, WallTime},
};
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use palisade_latency::{LatencyTracker, RouteFn, RouteFrom};
use tower::{Layer, Service};

/// Answers every request at once with a small body.
#[derive(Debug, Clone, Copy)]
struct Ok200;

impl Service<Request<()>> for Ok200 {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Request<()>) -> Self::Future {
        ready(Ok(Response::new(Full::new(Bytes::from_static(b"ok")))))
    }
}

/// Sends one request and reads the body to its end, without a runtime.
fn one<S, B>(svc: &mut S)
where
    S: Service<Request<()>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: Body,
{
    let mut cx = Context::from_waker(Waker::noop());
    let req = Request::get("/users/42").body(()).expect("valid request");
    let mut fut = pin!(svc.call(req));
    let Poll::Ready(res) = fut.as_mut().poll(&mut cx) else {
        panic!("not ready")
    };
    let mut body = pin!(res.expect("infallible").into_body());
    while let Poll::Ready(Some(frame)) = body.as_mut().poll_frame(&mut cx) {
        black_box(frame.is_ok());
    }
}

fn tracker(blocking: bool) -> LatencyTracker {
    let mut b = LatencyTracker::builder("bench").route(RouteFrom::Fn(RouteFn::new(|head| {
        head.uri
            .path()
            .starts_with("/users/")
            .then_some("/users/{id}")
    })));
    if blocking {
        b = b.blocking_threshold(Duration::from_millis(5));
    }
    b.build().expect("valid config")
}

/// `iters` requests on each of `threads` threads at once; the mean time (wall
/// or CPU) of one thread's run, so the figure is per request while the other thread
/// records into the same tracker.
fn threaded<M: Clock, S, B>(svc: &S, threads: usize, iters: u64) -> Duration
where
    S: Service<Request<()>, Response = Response<B>> + Clone + Send,
    S::Error: std::fmt::Debug,
    B: Body,
{
    let barrier = Barrier::new(threads);
    let total: Duration = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let mut svc = svc.clone();
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    M::run(|| {
                        for _ in 0..iters {
                            one(&mut svc);
                        }
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread"))
            .sum()
    });
    total / u32::try_from(threads).unwrap_or(1)
}

/// This thread's CPU time so far; `None` where the OS does not tell.
fn thread_cpu() -> Option<Duration> {
    cpu_time::ThreadTime::try_now()
        .ok()
        .map(|t| t.as_duration())
}

/// Criterion measurement: CPU time of the benchmark thread (wall time where
/// the kernel does not tell).
struct ThreadCpu;

struct Nanos;

impl ValueFormatter for Nanos {
    fn scale_values(&self, _typical: f64, _values: &mut [f64]) -> &'static str {
        "ns (cpu)"
    }

    fn scale_throughputs(
        &self,
        _typical: f64,
        _t: &Throughput,
        _values: &mut [f64],
    ) -> &'static str {
        "ns (cpu)"
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

impl Measurement for ThreadCpu {
    type Intermediate = (Option<Duration>, Instant);
    type Value = Duration;

    fn start(&self) -> Self::Intermediate {
        (thread_cpu(), Instant::now())
    }

    fn end(&self, (cpu, wall): Self::Intermediate) -> Duration {
        match (cpu, thread_cpu()) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => wall.elapsed(),
        }
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &Nanos
    }
}

/// How one thread's run is timed.
trait Clock: Measurement<Value = Duration> + Sync {
    const NAME: &'static str;
    fn run(f: impl FnOnce()) -> Duration;
}

impl Clock for WallTime {
    const NAME: &'static str = "wall";

    fn run(f: impl FnOnce()) -> Duration {
        let start = Instant::now();
        f();
        start.elapsed()
    }
}

impl Clock for ThreadCpu {
    const NAME: &'static str = "cpu";

    fn run(f: impl FnOnce()) -> Duration {
        let start = ThreadCpu.start();
        f();
        ThreadCpu.end(start)
    }
}

fn bench<M: Clock>(c: &mut Criterion<M>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    // tokio's clock is read inside a runtime context, as in a server.
    let _guard = rt.enter();

    let plain = tracker(false);
    let detector = tracker(true);
    let bare = Ok200;
    let tracked = plain.layer().layer(Ok200);
    let tracked_blocking = detector.layer().layer(Ok200);
    // The default route source (no `.route(...)`): here, no `MatchedPath`
    // and not gRPC, so `unmatched`.
    let default_source = LatencyTracker::builder("bench-default")
        .build()
        .expect("valid config");
    let tracked_default = default_source.layer().layer(Ok200);

    let mut g = c.benchmark_group(format!("{}/latency/1 thread", M::NAME));
    g.bench_function("bare", |b| {
        let mut svc = bare;
        b.iter(|| one(&mut svc));
    });
    g.bench_function("tracked", |b| {
        let mut svc = tracked.clone();
        b.iter(|| one(&mut svc));
    });
    g.bench_function("tracked + blocking detector", |b| {
        let mut svc = tracked_blocking.clone();
        b.iter(|| one(&mut svc));
    });
    g.bench_function("tracked, default route source", |b| {
        let mut svc = tracked_default.clone();
        b.iter(|| one(&mut svc));
    });
    g.finish();

    let mut g = c.benchmark_group(format!("{}/latency/2 threads", M::NAME));
    g.bench_function("bare", |b| {
        b.iter_custom(|n| threaded::<M, _, _>(&bare, 2, n));
    });
    g.bench_function("tracked", |b| {
        b.iter_custom(|n| threaded::<M, _, _>(&tracked, 2, n));
    });
    g.bench_function("tracked + blocking detector", |b| {
        b.iter_custom(|n| threaded::<M, _, _>(&tracked_blocking, 2, n));
    });
    g.finish();

    // Nothing is recorded when a filter (`--bench <regex>`, `--profile-time`
    // under a profiler) left the tracked benchmarks of this group out.
    let snap = plain.snapshot();
    if let Some(s) = snap.route("GET", "/users/{id}") {
        eprintln!(
            "tracked requests recorded: {}, p50 {:?}",
            s.count,
            s.quantile(0.5)
        );
    }
}

criterion_group!(wall, bench::<WallTime>);
criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = bench::<ThreadCpu>
}
criterion_main!(wall, cpu);
