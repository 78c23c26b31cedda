//! Latency tracking on an axum router, side by side in one run:
//!
//! - `bare`: the router alone (baseline);
//! - `palisade-latency`: `LatencyTracker::layer()` with `RouteFrom::AxumMatchedPath`;
//! - `axum-prometheus`: `PrometheusMetricLayer` (0.10, axum 0.8), with the
//!   Prometheus recorder it installs;
//! - `palisade-latency + prometheus recorder`: the tracker again, now also
//!   exporting through that same recorder (the like-for-like comparison).
//!
//! Each request goes through `Router::layer` to a handler that answers at
//! once, and its body is read to the end.
//!
//! Two measurements of the same benchmarks: `wall/...` (criterion's wall
//! clock) and `cpu/...` (the benchmark thread's own CPU time, from
//! `CLOCK_THREAD_CPUTIME_ID`), which leaves out the time the thread
//! waited for a core on a shared, loaded machine.
//!
//! `cargo bench -p palisade-benches --bench latency_peers -- --warm-up-time 1 --measurement-time 3`
//! Results: docs/BENCHMARKS.md.

use std::{
    hint::black_box,
    pin::pin,
    sync::OnceLock,
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use axum::{Router, body::Body, routing::get};
use axum_prometheus::PrometheusMetricLayer;
use criterion::{
    Criterion, Throughput, criterion_group, criterion_main,
    measurement::{Measurement, ValueFormatter},
};
use http::Request;
use http_body::Body as _;
use palisade_benches::now;
use palisade_latency::{LatencyTracker, RouteFrom};
use tower::Service;

fn router() -> Router {
    Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route("/health", get(|| async { "ok" }))
}

/// One request through `app`, body read to its end.
fn one(app: &mut Router) {
    let req = Request::get("/users/42")
        .body(Body::empty())
        .expect("request");
    let res = now(app.call(req)).expect("infallible");
    let mut body = pin!(res.into_body());
    let mut cx = Context::from_waker(Waker::noop());
    while let Poll::Ready(Some(frame)) = body.as_mut().poll_frame(&mut cx) {
        black_box(frame.is_ok());
    }
}

fn tracker() -> LatencyTracker {
    LatencyTracker::builder("bench")
        .route(RouteFrom::AxumMatchedPath)
        .build()
        .expect("valid config")
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

/// Built once for both measurements: a global recorder can be installed once.
struct Setup {
    _rt: tokio::runtime::Runtime,
    /// Built and warmed up before the Prometheus recorder exists: its cached
    /// metric handles are no-ops.
    plain: LatencyTracker,
    prometheus: PrometheusMetricLayer<'static>,
    /// Renders the Prometheus exposition.
    render: Box<dyn Fn() -> String + Send + Sync>,
    /// Built after: exports through the Prometheus recorder.
    exporting: LatencyTracker,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        // axum-prometheus spawns its upkeep task on the current runtime.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let _guard = rt.enter();
        let plain = tracker();
        one(&mut router().layer(plain.layer()));
        let (prometheus, handle) = PrometheusMetricLayer::pair();
        let exporting = tracker();
        Setup {
            _rt: rt,
            plain,
            prometheus,
            render: Box::new(move || handle.render()),
            exporting,
        }
    })
}

fn bench<M: Measurement + 'static>(c: &mut Criterion<M>, name: &str) {
    let s = setup();
    let mut g = c.benchmark_group(format!("{name}/latency_peers/axum router"));
    g.bench_function("bare", |b| {
        let mut app = router();
        b.iter(|| one(&mut app));
    });
    g.bench_function("palisade-latency", |b| {
        let mut app = router().layer(s.plain.layer());
        b.iter(|| one(&mut app));
    });
    g.bench_function("axum-prometheus", |b| {
        let mut app = router().layer(s.prometheus.clone());
        b.iter(|| one(&mut app));
    });
    g.bench_function("palisade-latency + prometheus recorder", |b| {
        let mut app = router().layer(s.exporting.layer());
        b.iter(|| one(&mut app));
    });
    g.finish();

    let rendered = (s.render)();
    assert!(rendered.contains("axum_http_requests_total"));
    assert!(rendered.contains("http_server_request_duration_seconds"));
    let snap = s.exporting.snapshot();
    let st = snap.route("GET", "/users/{id}").expect("recorded");
    eprintln!(
        "palisade-latency recorded {} requests, p99 {:?}",
        st.count,
        st.quantile(0.99)
    );
}

fn wall(c: &mut Criterion) {
    bench(c, "wall");
}

fn cpu(c: &mut Criterion<ThreadCpu>) {
    bench(c, "cpu");
}

criterion_group!(wall_group, wall);
criterion_group! {
    name = cpu_group;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = cpu
}
criterion_main!(wall_group, cpu_group);
