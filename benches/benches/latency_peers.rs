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
//! `cargo bench -p palisade-benches --bench latency_peers -- --warm-up-time 1 --measurement-time 3`
//! Results: docs/BENCHMARKS.md.

use std::{
    hint::black_box,
    pin::pin,
    task::{Context, Poll, Waker},
};

use axum::{Router, body::Body, routing::get};
use axum_prometheus::PrometheusMetricLayer;
use criterion::{Criterion, criterion_group, criterion_main};
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

fn bench(c: &mut Criterion) {
    // axum-prometheus spawns its upkeep task on the current runtime.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = rt.enter();

    let mut g = c.benchmark_group("latency_peers/axum router");
    g.bench_function("bare", |b| {
        let mut app = router();
        b.iter(|| one(&mut app));
    });
    let plain = tracker();
    g.bench_function("palisade-latency", |b| {
        let mut app = router().layer(plain.layer());
        b.iter(|| one(&mut app));
    });

    // From here on a global Prometheus recorder is installed.
    let (prometheus, handle) = PrometheusMetricLayer::pair();
    g.bench_function("axum-prometheus", |b| {
        let mut app = router().layer(prometheus.clone());
        b.iter(|| one(&mut app));
    });
    let exporting = tracker();
    g.bench_function("palisade-latency + prometheus recorder", |b| {
        let mut app = router().layer(exporting.layer());
        b.iter(|| one(&mut app));
    });
    g.bench_function("bare (after)", |b| {
        let mut app = router();
        b.iter(|| one(&mut app));
    });
    g.finish();

    let rendered = handle.render();
    assert!(rendered.contains("axum_http_requests_total"));
    assert!(rendered.contains("http_server_request_duration_seconds"));
    let snap = exporting.snapshot();
    let s = snap.route("GET", "/users/{id}").expect("recorded");
    eprintln!(
        "palisade-latency recorded {} requests, p99 {:?}",
        s.count,
        s.quantile(0.99)
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
