//! The full Palisade stack on axum, in the order of `docs/layer-order.md`:
//!
//! error mapping → latency → HTTP cache → deadline → concurrency limit →
//! (handler) → circuit breaker → keyed batching → a flaky bulk upstream.
//!
//! A built-in load generator drives it for a few seconds (`--duration 8s`,
//! or `--serve` to keep serving until Ctrl-C) while the upstream goes down
//! for two seconds and comes back. Every second it prints what the clients
//! saw: statuses, `x-cache` results, the breaker's state and how many bulk
//! calls reached the upstream. At the end it prints the latency report.
//! While it runs, open `http://127.0.0.1:<port>/latency` in a browser, or
//! scrape `http://127.0.0.1:<port>/metrics`: every Palisade metric in
//! Prometheus text, through `metrics-exporter-prometheus`.
//!
//! ```sh
//! cargo run -p palisade-examples --bin full_stack
//! ```

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    extract::{Path, State},
    response::{IntoResponse, Response},
    routing::get,
};
use bytes::Bytes;
use http::{StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use metrics_exporter_prometheus::PrometheusBuilder;
use palisade::{breaker::State as BreakerState, latency::RouteFrom, prelude::*};
use palisade_examples::{FlakyUpstream, User, run_duration};
use tower::{ServiceBuilder, ServiceExt, service_fn};

/// The stack the handler calls (breaker → loader → bulk upstream), kept in
/// axum `State` under one name.
type Users = SharedStack<u64, Option<User>>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // The upstream's errors during the outage are expected here:
                // the batcher and the handler's `HandlerError` log each one.
                .unwrap_or_else(|_| "warn,palisade_batch=off,palisade_core=off".into()),
        )
        .init();
    let run_for = run_duration(Duration::from_secs(8));

    // `/metrics`: a Prometheus recorder for the `metrics` facade every
    // Palisade crate records through, and a task for its upkeep.
    let prometheus = PrometheusBuilder::new().install_recorder()?;
    let upkeep = prometheus.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });

    // The upstream is down from 2 s to 4 s after start.
    let upstream = FlakyUpstream::new(
        (Duration::from_secs(2), Duration::from_secs(4)),
        Duration::from_millis(5),
    );

    // Every layer is built once; every route and clone shares its state.
    // Latency per route template (`/users/{id}`), from axum's `MatchedPath`.
    let tracker = LatencyTracker::builder("demo")
        .route(RouteFrom::AxumMatchedPath)
        .slow_threshold(Duration::from_millis(250))
        .blocking_threshold(Duration::from_millis(5))
        .window(Duration::from_secs(60))
        .build()?;
    let timeout = Timeout::builder("demo")
        .timeout(Duration::from_millis(500))
        .build()?;
    let limit = ConcurrencyLimit::builder("demo")
        .max_in_flight(48)
        .build()?;
    let cache = HttpCache::builder("users")
        .max_bytes(16 << 20)
        .default_ttl(Duration::from_millis(750))
        .stale_while_revalidate(Duration::from_millis(500))
        .stale_if_error(Duration::from_secs(30))
        .build()?;
    let breaker = CircuitBreaker::builder("user-service")
        .failure_rate(0.5)
        .count_window(40)
        .minimum_calls(10)
        .open_wait(Duration::from_millis(600))
        .half_open_probes(2)
        .build()?;
    breaker.on_transition(|t| {
        println!(
            "    breaker: {:?} -> {:?} ({:?})",
            t.from(),
            t.to(),
            t.reason()
        );
    });
    let loader = Loader::builder("users")
        .max_size(64)
        .max_wait(Duration::from_millis(1))
        .build()?;

    let bulk = {
        let upstream = upstream.clone();
        service_fn(move |ids: Vec<u64>| {
            let upstream = upstream.clone();
            async move { upstream.lookup(ids).await }
        })
    };
    let users: Users = share(
        ServiceBuilder::new()
            .circuit_breaker(&breaker)
            .load(&loader)
            .service(bulk),
    );

    let app = Router::new()
        .route("/users/{id}", get(get_user))
        .with_state(users)
        .layer(
            ServiceBuilder::new()
                .http_errors()
                .track_latency(&tracker)
                .http_cache(&cache)
                .deadline(&timeout)
                .limit_in_flight(&limit),
        )
        .route_service("/latency", tracker.report())
        .route(
            "/metrics",
            get(move || std::future::ready(prometheus.render())),
        );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!(
        "serving on http://{addr}  (latency report: http://{addr}/latency, Prometheus: http://{addr}/metrics)"
    );

    let Some(run_for) = run_for else {
        println!("--serve: press Ctrl-C to stop");
        tokio::signal::ctrl_c().await?;
        return Ok(());
    };
    println!(
        "driving it for {run_for:?} with 32 concurrent clients; the upstream is down from 2 s to 4 s\n"
    );
    let seen = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let load = tokio::spawn(load(addr, run_for, seen.clone()));

    let mut last_calls = 0;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    for second in 1..=run_for.as_secs() {
        ticker.tick().await;
        let counts = std::mem::take(&mut *seen.lock().unwrap());
        let calls = upstream.calls();
        let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!(
            "t={second}s  upstream {:<4} breaker {:<9} bulk calls {:>4}  | {}",
            if upstream.is_down() { "DOWN" } else { "up" },
            format!("{:?}", breaker.state()),
            calls - last_calls,
            summary.join(", "),
        );
        last_calls = calls;
    }
    let requests = load.await?;

    println!(
        "\n{requests} requests; the upstream saw {} bulk calls for {} ids",
        upstream.calls(),
        upstream.ids()
    );
    let stats = cache.stats();
    println!("cache: {stats:?}");
    let b = breaker.snapshot();
    println!("breaker: {:?}, opened {} times", b.state, b.times_opened);
    let snap = tracker.snapshot();
    for s in snap.routes() {
        println!(
            "latency {} {}: n={} errors={} p50={:?} p99={:?} max={:?}",
            s.method,
            s.route,
            s.count,
            s.errors,
            s.quantile(0.5),
            s.quantile(0.99),
            s.max
        );
    }
    if breaker.state() == BreakerState::Closed {
        println!("\nthe breaker closed again once the upstream recovered");
    }
    Ok(())
}

/// `GET /users/{id}`: one user, through the breaker and the loader. A
/// rejection from the breaker (`?` through `HandlerError`) keeps its status
/// and `Retry-After`; any other upstream error is a `500` that says nothing of
/// its cause.
async fn get_user(
    State(users): State<Users>,
    Path(id): Path<u64>,
) -> Result<Response, HandlerError> {
    Ok(match users.oneshot(id).await? {
        Some(user) => (
            [(header::CONTENT_TYPE, "application/json")],
            format!(r#"{{"id":{},"name":"{}"}}"#, user.id, user.name),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    })
}

/// 32 clients asking for random users until `run_for` has passed; counts
/// statuses and `x-cache` values into `seen`. Returns the number of requests.
async fn load(
    addr: std::net::SocketAddr,
    run_for: Duration,
    seen: Arc<Mutex<BTreeMap<String, u64>>>,
) -> u64 {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let stop = tokio::time::Instant::now() + run_for;
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let client = client.clone();
        let seen = seen.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while tokio::time::Instant::now() < stop {
                let id = fastrand::u64(1..=400);
                let uri = format!("http://{addr}/users/{id}");
                let label = match client.get(uri.parse().expect("valid uri")).await {
                    Ok(res) => {
                        let status = res.status().as_u16();
                        let x_cache = res
                            .headers()
                            .get("x-cache")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-")
                            .to_owned();
                        let _ = res.into_body().collect().await;
                        format!("{status}/{x_cache}")
                    }
                    Err(_) => "connection error".to_owned(),
                };
                *seen.lock().unwrap().entry(label).or_default() += 1;
                n += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap_or(0);
    }
    total
}
