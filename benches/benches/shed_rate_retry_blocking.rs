//! Added cost of palisade-shed's `RateLimit`, `Retry` and `BlockingPool`
//! against a baseline and the peers, in the same run:
//!
//! - `rate_limit/*`: one GET through an axum `Router` with no layer, with
//!   palisade's `RateLimit` (unkeyed, and keyed by a header; under
//!   `ErrorResponseLayer`, which axum needs) and with
//!   `tower_governor` (global key); tower's `RateLimit` (not `Clone`, so not
//!   usable in a `Router`) on a bare service beside its own bare baseline.
//!   The rates are high enough that nothing is refused.
//! - `retry/*`: the success path of a GET through palisade's `Retry` and
//!   through tower's `Retry` with a `TpsBudget` policy, beside the bare service.
//! - `blocking/*`: one trivial job through `BlockingPool::run` and through a
//!   bare `spawn_blocking`, on a 2-thread runtime.

use std::{convert::Infallible, hint::black_box, sync::Arc, time::Duration};

use axum::{Router, body::Body, routing::get};
use criterion::{Criterion, criterion_group};
use http::{Request, Response};
use palisade_benches::now;
use palisade_shed::{BlockingPool, RateLimit, Retry};
use tower::{
    Layer, Service, ServiceExt,
    retry::{
        Policy,
        budget::{Budget, TpsBudget},
    },
    service_fn,
};
use tower_governor::{
    GovernorLayer, governor::GovernorConfigBuilder, key_extractor::GlobalKeyExtractor,
};

fn router() -> Router {
    Router::new().route("/", get(|| async { "ok" }))
}

fn call_router(app: &Router) {
    let req = Request::get("/")
        .header("x-key", "k")
        .body(Body::empty())
        .unwrap();
    let res = now(app.clone().oneshot(req)).unwrap();
    assert!(res.status().is_success());
    black_box(res);
}

fn rate_limit(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate_limit");
    // Entering the runtime gives the keyed limit a place to spawn its sweep.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();

    for (name, app) in axum_rows() {
        group.bench_function(name, |b| {
            b.iter(|| call_router(&app));
        });
    }

    let keyed = RateLimit::builder("bench-keyed")
        .rate(1_000_000_000)
        .burst(1_000_000_000)
        .key(|req: &Request<Body>| req.headers().get("x-key").cloned())
        .build()
        .unwrap();
    let palisade_keyed = router().layer(
        tower::ServiceBuilder::new()
            .layer(palisade_core::http::ErrorResponseLayer::new())
            .layer(keyed.layer()),
    );
    group.bench_function("axum_palisade_keyed", |b| {
        b.iter(|| call_router(&palisade_keyed));
    });
    let palisade_keyed_http = router().layer(keyed.http_layer());
    group.bench_function("axum_palisade_keyed_http", |b| {
        b.iter(|| call_router(&palisade_keyed_http));
    });

    let inner = service_fn(|_req: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    let mut plain = inner;
    group.bench_function("service_bare", |b| {
        b.iter(|| {
            let _ = now(std::future::poll_fn(|cx| plain.poll_ready(cx)));
            black_box(now(plain.call(Request::new(()))).unwrap());
        });
    });
    let mut tower_rl =
        tower::limit::RateLimitLayer::new(u64::MAX / 2, Duration::from_secs(1)).layer(inner);
    group.bench_function("service_tower_rate_limit", |b| {
        b.iter(|| {
            let _ = now(std::future::poll_fn(|cx| tower_rl.poll_ready(cx)));
            black_box(now(tower_rl.call(Request::new(()))).unwrap());
        });
    });
    let limit = RateLimit::builder("bench")
        .rate(1_000_000_000)
        .burst(1_000_000_000)
        .build()
        .unwrap();
    let mut palisade_svc = limit.layer().layer(inner);
    group.bench_function("service_palisade_unkeyed", |b| {
        b.iter(|| {
            let _ = now(std::future::poll_fn(|cx| palisade_svc.poll_ready(cx)));
            black_box(now(palisade_svc.call(Request::new(()))).unwrap());
        });
    });
    group.finish();
}

/// tower's documented pattern: retry 5xx while the `TpsBudget` allows.
#[derive(Clone)]
struct TowerPolicy(Arc<TpsBudget>);

impl Policy<Request<String>, Response<()>, Infallible> for TowerPolicy {
    type Future = tokio::time::Sleep;
    fn retry(
        &mut self,
        _req: &mut Request<String>,
        result: &mut Result<Response<()>, Infallible>,
    ) -> Option<Self::Future> {
        match result {
            Ok(res) if res.status().is_server_error() && self.0.withdraw() => {
                Some(tokio::time::sleep(Duration::from_millis(10)))
            }
            _ => None,
        }
    }
    fn clone_request(&mut self, req: &Request<String>) -> Option<Request<String>> {
        self.0.deposit();
        let mut copy = Request::new(req.body().clone());
        *copy.method_mut() = req.method().clone();
        *copy.uri_mut() = req.uri().clone();
        *copy.headers_mut() = req.headers().clone();
        Some(copy)
    }
}

fn retry(c: &mut Criterion) {
    let mut group = c.benchmark_group("retry");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let inner =
        service_fn(|_req: Request<String>| async { Ok::<_, Infallible>(Response::new(())) });
    let req = || {
        Request::get("http://upstream/")
            .header("x-key", "k")
            .body(String::new())
            .unwrap()
    };

    let mut bare = inner;
    group.bench_function("bare", |b| {
        b.iter(|| {
            let _ = now(std::future::poll_fn(|cx| bare.poll_ready(cx)));
            black_box(now(bare.call(req())).unwrap());
        });
    });
    let retry = Retry::builder("bench").build().unwrap();
    let mut palisade = retry.layer().layer(inner);
    group.bench_function("palisade_retry", |b| {
        b.iter(|| {
            let _ = now(std::future::poll_fn(|cx| palisade.poll_ready(cx)));
            black_box(now(palisade.call(req())).unwrap());
        });
    });
    let mut tower_retry =
        tower::retry::RetryLayer::new(TowerPolicy(Arc::new(TpsBudget::default()))).layer(inner);
    group.bench_function("tower_retry_tps_budget", |b| {
        b.iter(|| {
            let _ = now(std::future::poll_fn(|cx| tower_retry.poll_ready(cx)));
            black_box(now(tower_retry.call(req())).unwrap());
        });
    });
    group.finish();
}

fn blocking(c: &mut Criterion) {
    let mut group = c.benchmark_group("blocking");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    group.bench_function("spawn_blocking", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                tokio::task::spawn_blocking(|| black_box(1u64))
                    .await
                    .unwrap(),
            );
        });
    });
    let pool = BlockingPool::builder("bench")
        .max_running(64)
        .max_queued(1024)
        .build()
        .unwrap();
    group.bench_function("pool_run", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(pool.run(|| black_box(1u64)).await.unwrap());
        });
    });
    group.finish();
}

criterion_group!(benches, rate_limit, retry, blocking);

/// The axum rows' routers, by row name.
fn axum_rows() -> Vec<(&'static str, Router)> {
    let limit = RateLimit::builder("profile")
        .rate(1_000_000_000)
        .burst(1_000_000_000)
        .build()
        .unwrap();
    let config = Arc::new(
        GovernorConfigBuilder::default()
            .key_extractor(GlobalKeyExtractor)
            .per_nanosecond(1)
            .burst_size(1_000_000_000)
            .finish()
            .unwrap(),
    );
    vec![
        ("axum_bare", router()),
        (
            "axum_palisade_unkeyed",
            router().layer(
                tower::ServiceBuilder::new()
                    .layer(palisade_core::http::ErrorResponseLayer::new())
                    .layer(limit.layer()),
            ),
        ),
        // The same limit answering its own refusals: no ErrorResponseLayer.
        ("axum_palisade_http", router().layer(limit.http_layer())),
        (
            "axum_tower_governor",
            router().layer(GovernorLayer::new(config)),
        ),
    ]
}

/// `PALISADE_PROFILE_ROW=<row> PALISADE_PROFILE_CALLS=<n>`: makes `n` calls
/// through one axum row and exits, for `valgrind --tool=callgrind` (the
/// instructions of `n` calls minus those of 0 calls, over `n`, are one
/// call's, free of the machine's noise).
fn profile_row(row: &str) {
    let calls: u32 = std::env::var("PALISADE_PROFILE_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let rows = axum_rows();
    let (_, app) = rows
        .iter()
        .find(|(name, _)| *name == row)
        .unwrap_or_else(|| panic!("no row {row}"));
    call_router(app); // first-call setup outside the count difference
    for _ in 0..calls {
        call_router(app);
    }
}

fn main() {
    if let Ok(row) = std::env::var("PALISADE_PROFILE_ROW") {
        profile_row(&row);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
