//! A service with every kind of component and the live status page.
//!
//! ```text
//! cargo run -p palisade-health --all-features --example status_page
//! cargo run -p palisade-health --all-features --example status_page -- --port 8080 --duration 60s
//! ```
//!
//! It serves `/api/items/{id}` (concurrency limit → breaker → cache with a
//! Redis tier → a flaky upstream that is down 5 s out of every 30 s) and
//! `/api/len/{text}` (a batcher), tracks their latency, drives them with a
//! little load of its own, and checks PostgreSQL (`DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`; skipped with a message when
//! absent) and Redis (`REDIS_URL`, default `redis://127.0.0.1:6379`). Open
//! `/status` in a browser; `/health`, `/health/ready` and `/health/live`
//! are the JSON endpoints; `/latency` is the latency tracker's own report,
//! drawn by the same page renderer.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    extract::{Path, State},
    http::StatusCode,
    routing::get,
};
use palisade_batch::Batcher;
use palisade_breaker::CircuitBreaker;
use palisade_cache::{Cache, RedisStore};
use palisade_health::{
    Health, Options, Probe,
    components::{CacheComponent, LimitComponent},
};
use palisade_latency::{LatencyTracker, RouteFrom};
use palisade_shed::ConcurrencyLimit;
use tower::{BoxError, ServiceBuilder, ServiceExt, service_fn, util::BoxCloneSyncService};

type Items = BoxCloneSyncService<u64, String, BoxError>;
type Lengths = BoxCloneSyncService<String, usize, BoxError>;

/// The demo: its router (API, health endpoints, status page) and its health.
#[derive(Debug)]
pub struct Demo {
    /// Every route.
    pub app: Router,
    /// The health of the demo.
    pub health: Health,
}

/// Builds the demo. Needs a tokio runtime; starts the load generator.
pub async fn demo() -> Result<Demo, BoxError> {
    let started = tokio::time::Instant::now();
    let upstream_calls = Arc::new(AtomicU64::new(0));
    let upstream = {
        let calls = upstream_calls.clone();
        service_fn(move |id: u64| {
            let n = calls.fetch_add(1, Ordering::Relaxed);
            let down = started.elapsed().as_secs() % 30 >= 25;
            async move {
                tokio::time::sleep(Duration::from_millis(2 + (n * 7 + id) % 18)).await;
                if down || n.is_multiple_of(17) {
                    Err::<String, BoxError>("inventory unavailable".into())
                } else {
                    Ok(format!("item {id}"))
                }
            }
        })
    };

    let tracker = LatencyTracker::builder("http")
        .route(RouteFrom::AxumMatchedPath)
        .window(Duration::from_secs(30))
        .build()?;
    let limit = ConcurrencyLimit::builder("api").max_in_flight(16).build()?;
    let breaker = CircuitBreaker::builder("inventory")
        .failure_rate(0.5)
        .count_window(40)
        .minimum_calls(10)
        .open_wait(Duration::from_secs(2))
        .build()?;
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let store = RedisStore::builder(redis_url.as_str())
        .namespace(format!("health-demo-{}", std::process::id()))
        .timeout(Duration::from_millis(100))
        .build()
        .await?;
    let cache = Cache::builder("items")
        .max_entries(1_000)
        .ttl(Duration::from_millis(800))
        .l2(store.clone())
        .build()?;
    let batcher = Batcher::builder("lengths")
        .max_size(16)
        .max_wait(Duration::from_millis(2))
        .build()?;

    let items: Items = BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(limit.layer())
            .layer(breaker.layer())
            .layer(cache.layer(|id: &u64| Some(*id)))
            .service(upstream),
    );
    let lengths: Lengths = BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(batcher.layer())
            .service(service_fn(|texts: Vec<String>| async move {
                Ok::<_, BoxError>(texts.iter().map(String::len).collect::<Vec<_>>())
            })),
    );

    let mut health = Health::builder()
        .name("demo")
        .page_refresh(Duration::from_secs(1))
        .component(breaker.clone())
        .component(LimitComponent::new(limit.clone()).saturated_for(Duration::from_secs(10)))
        .component(CacheComponent::new(cache.clone()).l2(store.clone()))
        .component(store.clone())
        .component(batcher.clone())
        .component(tracker.clone());
    let database_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    match connect_postgres(&database_url).await {
        Ok(client) => {
            let client = Arc::new(client);
            health = health.component_with(
                Probe::new("postgres", move || {
                    let client = client.clone();
                    async move { client.simple_query("SELECT 1").await }
                }),
                Options::new()
                    .interval(Duration::from_secs(2))
                    .timeout(Duration::from_millis(500)),
            );
        }
        Err(e) => println!(
            "PostgreSQL at {database_url} is not available ({e}): skipping the database check"
        ),
    }
    let health = health.build()?;

    let app = Router::new()
        .route("/api/items/{id}", get(get_item).with_state(items))
        .route("/api/len/{text}", get(get_len).with_state(lengths))
        .layer(tracker.layer())
        .route_service("/health", health.service())
        .route_service("/health/ready", health.readiness_service())
        .route_service("/health/live", health.liveness_service())
        .route_service("/status", health.status_page())
        .route_service("/latency", tracker.report());

    tokio::spawn(drive(app.clone()));
    Ok(Demo { app, health })
}

async fn connect_postgres(url: &str) -> Result<tokio_postgres::Client, BoxError> {
    let connect = tokio_postgres::connect(url, tokio_postgres::NoTls);
    let (client, connection) = tokio::time::timeout(Duration::from_secs(3), connect)
        .await
        .map_err(|_| "timed out connecting")??;
    tokio::spawn(connection);
    Ok(client)
}

async fn get_item(State(items): State<Items>, Path(id): Path<u64>) -> (StatusCode, String) {
    match items.oneshot(id).await {
        Ok(item) => (StatusCode::OK, item),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

async fn get_len(State(lengths): State<Lengths>, Path(text): Path<String>) -> (StatusCode, String) {
    match lengths.oneshot(text).await {
        Ok(n) => (StatusCode::OK, n.to_string()),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// A little steady load through the router, so the page has live numbers.
async fn drive(app: Router) {
    let mut n: u64 = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    loop {
        tick.tick().await;
        n += 1;
        let uri = if n.is_multiple_of(3) {
            format!("/api/len/word{}", n % 11)
        } else {
            format!("/api/items/{}", (n * 37) % 64)
        };
        let app = app.clone();
        tokio::spawn(async move {
            let req = axum::http::Request::get(uri).body(axum::body::Body::empty());
            if let Ok(req) = req {
                let _ = app.oneshot(req).await;
            }
        });
    }
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut port = 0u16;
    let mut duration = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port needs a value")?.parse()?,
            "--duration" => {
                let v = args.next().ok_or("--duration needs a value")?;
                let secs: u64 = v.trim_end_matches('s').parse()?;
                duration = Some(Duration::from_secs(secs));
            }
            other => {
                return Err(
                    format!("unknown argument {other:?} (use --port N, --duration Ns)").into(),
                );
            }
        }
    }
    let Demo { app, health } = demo().await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    println!("status page: http://{addr}/status   health: http://{addr}/health/ready");
    tokio::spawn(async move { axum::serve(listener, app).await });
    match duration {
        Some(d) => tokio::time::sleep(d).await,
        None => tokio::signal::ctrl_c().await?,
    }
    println!("{}", String::from_utf8_lossy(&health.to_json()));
    Ok(())
}
