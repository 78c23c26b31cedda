//! An axum service under overload behind an `AdaptiveLimit` (Vegas), with
//! the limit printed every second.
//!
//! The handler stands for a backend of 4 workers × 20 ms (200 req/s). A
//! load generator sends 100 req/s for 3 s, then 600 req/s (3× capacity)
//! for 6 s, then 100 req/s again. Watch the limit settle near the backend's
//! concurrency under overload, the excess answered at once with 503 +
//! `Retry-After`, and the limit grow back once the load ends.
//! Self-contained: binds 127.0.0.1:0 and exits after about 15 s.
//!
//! ```text
//! cargo run -p palisade-shed --example adaptive_overload
//! ```

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{Router, extract::State, routing::get};
use bytes::Bytes;
use http::StatusCode;
use http_body_util::Full;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use palisade_core::http::ErrorResponseLayer;
use palisade_shed::{
    Deadline, Timeout,
    adaptive::{AdaptiveLimit, Vegas},
};
use tokio::sync::Semaphore;
use tower::ServiceBuilder;

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    shed: AtomicU64,
    other: AtomicU64,
}

async fn work(State(workers): State<Arc<Semaphore>>) -> &'static str {
    let _worker = workers.acquire().await.expect("never closed");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let _ = Deadline::current(); // the request's deadline, set by the timeout
    "done"
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let limit = AdaptiveLimit::builder("api")
        .algorithm(Vegas::default())
        .window(Duration::from_millis(250))
        .build()?;
    let timeout = Timeout::builder("api")
        .timeout(Duration::from_millis(200))
        .build()?;
    let app = Router::new()
        .route("/", get(work))
        .with_state(Arc::new(Semaphore::new(4)))
        .layer(
            ServiceBuilder::new()
                .layer(ErrorResponseLayer::new())
                .layer(timeout.layer())
                .layer(limit.layer()),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let counts = Arc::new(Counts::default());
    let uri: http::Uri = format!("http://{addr}/").parse()?;
    let load = tokio::spawn({
        let counts = Arc::clone(&counts);
        async move {
            for (rate, secs) in [(100u64, 3u64), (600, 6), (100, 5)] {
                let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
                for _ in 0..rate * secs {
                    tick.tick().await;
                    let (client, counts, uri) = (client.clone(), Arc::clone(&counts), uri.clone());
                    tokio::spawn(async move {
                        let counter = match client.get(uri).await.map(|r| r.status()) {
                            Ok(StatusCode::OK) => &counts.ok,
                            Ok(StatusCode::SERVICE_UNAVAILABLE) => &counts.shed,
                            _ => &counts.other,
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                    });
                }
            }
        }
    });

    println!("  s  limit  in-flight    ok/s  shed/s  other/s");
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    for second in 1..=15 {
        tick.tick().await;
        println!(
            "{second:>3}  {:>5}  {:>9}  {:>6}  {:>6}  {:>7}",
            limit.limit(),
            limit.in_flight(),
            counts.ok.swap(0, Ordering::Relaxed),
            counts.shed.swap(0, Ordering::Relaxed),
            counts.other.swap(0, Ordering::Relaxed),
        );
    }
    load.await?;
    Ok(())
}
