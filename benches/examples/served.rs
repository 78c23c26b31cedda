//! One axum route served behind one stack of layers, for the served-cost
//! harness (`benches/load/run.sh`): it prints the address it listens on and
//! serves until killed.
//!
//! ```sh
//! cargo run --release -p palisade-benches --example served -- full 127.0.0.1:0
//! ```
//!
//! The route is `GET /users/{id}`: a handler that formats a ~200-byte JSON
//! body, with `cache-control: public, max-age=3600` so a shared cache may
//! keep it. The stacks (first argument):
//!
//! | stack | layers, outermost first |
//! |---|---|
//! | `bare` | none |
//! | `identity` | tower's `Identity` layer: what axum's `Router::layer` itself costs (it boxes the layered service, its future and the response body) |
//! | `http_errors` | Palisade's rejection → HTTP mapping |
//! | `latency` | latency tracking (route template from `MatchedPath`) |
//! | `deadline` | `http_errors`, a 1 s `Timeout` |
//! | `limit` | `http_errors`, `ConcurrencyLimit` (1,024) |
//! | `adaptive` | `http_errors`, `AdaptiveLimit` (Gradient2) |
//! | `rate_limit` | `http_errors`, an unkeyed `RateLimit` that never refuses |
//! | `breaker` | `http_errors`, `CircuitBreaker::builder_for_http` |
//! | `full` | `http_errors`, latency, deadline, limit, breaker |
//! | `full_cache` | `full` with `HttpCache` where `docs/layer-order.md` puts it, right below latency (every request a hit) |
//! | `full_cache_under_limit` | `full` with `HttpCache` between the limit and the breaker (the order before issue 18) |
//! | `tower` | `HandleErrorLayer`, tower `Timeout`, `LoadShed`, `ConcurrencyLimit` |
//! | `peers` | axum-prometheus, `HandleErrorLayer`, tower `Timeout`, `ConcurrencyLimit`, tower-resilience breaker |
//! | `peers_cache` | `peers` with axum-response-cache under axum-prometheus (it needs an infallible inner service) |
//!
//! On SIGTERM a stack with latency tracking (`latency`, `full` and the
//! `full_cache` stacks) prints the tracker's own p99 of the route over its recent
//! view (windows of 1 s: the last one to two seconds of the load) as
//! `in-server p99 <µs> us`, then exits.

use std::{fmt::Write as _, time::Duration};

use axum::{
    Router,
    error_handling::HandleErrorLayer,
    extract::Path,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use palisade::prelude::*;
use tower::ServiceBuilder;

/// The handler every stack serves: a JSON user, formatted per request.
async fn user(Path(id): Path<u64>) -> Response {
    let mut body = String::with_capacity(256);
    let _ = write!(
        body,
        r#"{{"id":{id},"name":"user {id}","email":"user{id}@example.com","plan":"standard","created_at":"2024-01-01T00:00:00Z","tags":["alpha","beta","gamma"],"score":{},"bio":"an example user served by the load-test route"}}"#,
        id * 7 % 1000
    );
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

fn route() -> Router {
    Router::new().route("/users/{id}", get(user))
}

async fn tower_error(err: BoxError) -> StatusCode {
    if err.is::<tower::timeout::error::Elapsed>() {
        StatusCode::GATEWAY_TIMEOUT
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// The stack's router, and its latency tracker when it has one.
fn app(stack: &str) -> Result<(Router, Option<LatencyTracker>), BoxError> {
    let tracked = LatencyTracker::builder("served")
        .window(Duration::from_secs(1))
        .build()?;
    let tracker = || Ok::<_, BoxError>(tracked.clone());
    let timeout = || {
        Timeout::builder("served")
            .timeout(Duration::from_secs(1))
            .build()
    };
    let limit = || {
        ConcurrencyLimit::builder("served")
            .max_in_flight(1024)
            .build()
    };
    let breaker = || CircuitBreaker::builder_for_http("served").build();
    let app = match stack {
        "bare" => route(),
        "identity" => route().layer(tower::layer::util::Identity::new()),
        "http_errors" => route().layer(ServiceBuilder::new().http_errors()),
        "latency" => route().layer(ServiceBuilder::new().track_latency(&tracker()?)),
        "deadline" => route().layer(ServiceBuilder::new().http_errors().deadline(&timeout()?)),
        "limit" => route().layer(
            ServiceBuilder::new()
                .http_errors()
                .limit_in_flight(&limit()?),
        ),
        "adaptive" => {
            let adaptive = AdaptiveLimit::builder("served").build()?;
            route().layer(
                ServiceBuilder::new()
                    .http_errors()
                    .adaptive_limit(&adaptive),
            )
        }
        "rate_limit" => {
            let rate = RateLimit::builder("served")
                .rate(1_000_000_000)
                .period(Duration::from_secs(1))
                .build()?;
            route().layer(ServiceBuilder::new().http_errors().limit_rate(&rate))
        }
        "breaker" => route().layer(
            ServiceBuilder::new()
                .http_errors()
                .circuit_breaker(&breaker()?),
        ),
        "full" => route().layer(
            ServiceBuilder::new()
                .http_errors()
                .track_latency(&tracker()?)
                .deadline(&timeout()?)
                .limit_in_flight(&limit()?)
                .circuit_breaker(&breaker()?),
        ),
        "full_cache" => {
            let cache = HttpCache::builder("served").max_bytes(64 << 20).build()?;
            route().layer(
                ServiceBuilder::new()
                    .http_errors()
                    .track_latency(&tracker()?)
                    .http_cache(&cache)
                    .deadline(&timeout()?)
                    .limit_in_flight(&limit()?)
                    .circuit_breaker(&breaker()?),
            )
        }
        "full_cache_under_limit" => {
            let cache = HttpCache::builder("served").max_bytes(64 << 20).build()?;
            route().layer(
                ServiceBuilder::new()
                    .http_errors()
                    .track_latency(&tracker()?)
                    .deadline(&timeout()?)
                    .limit_in_flight(&limit()?)
                    .http_cache(&cache)
                    .circuit_breaker(&breaker()?),
            )
        }
        "tower" => route().layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(tower_error))
                .timeout(Duration::from_secs(1))
                .load_shed()
                .concurrency_limit(1024),
        ),
        "peers" | "peers_cache" => {
            let (prometheus, _handle) = axum_prometheus::PrometheusMetricLayer::pair();
            let resilience = tower_resilience::circuitbreaker::CircuitBreakerLayer::builder()
                .failure_rate_threshold(0.5)
                .sliding_window_size(100)
                .build()?;
            let below = ServiceBuilder::new()
                .layer(HandleErrorLayer::new(tower_error))
                .timeout(Duration::from_secs(1))
                .load_shed()
                .concurrency_limit(1024);
            if stack == "peers" {
                route().layer(below.layer(resilience)).layer(prometheus)
            } else {
                let cache =
                    axum_response_cache::CacheLayer::with_lifespan(Duration::from_secs(3_600));
                // axum-response-cache wants an infallible inner service, so
                // it sits above the error handling, under the metrics.
                route()
                    .layer(below.layer(resilience))
                    .layer(cache)
                    .layer(prometheus)
            }
        }
        other => return Err(format!("unknown stack `{other}`").into()),
    };
    let tracked = matches!(
        stack,
        "latency" | "full" | "full_cache" | "full_cache_under_limit"
    )
    .then_some(tracked);
    Ok((app, tracked))
}

/// Waits for SIGTERM (the harness's `kill`).
async fn terminated() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            term.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let stack = args.next().unwrap_or_else(|| "bare".to_owned());
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:0".to_owned());
    // One worker thread: the harness pins the server to one core and reads
    // its CPU time, so the runtime's own threads must not spread the work.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let (app, tracker) = app(&stack)?;
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!("listening on {}", listener.local_addr()?);
        axum::serve(listener, app)
            .with_graceful_shutdown(terminated())
            .await?;
        if let Some(tracker) = tracker {
            let snapshot = tracker.snapshot();
            if let Some(route) = snapshot.window().route("GET", "/users/{id}") {
                println!("in-server p99 {} us", route.quantile(0.99).as_micros());
            }
        }
        Ok::<_, BoxError>(())
    })
}
