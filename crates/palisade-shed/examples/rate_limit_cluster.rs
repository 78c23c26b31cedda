//! One rate limit shared by two replicas through Redis: each replica (here
//! two limiter instances with their own connections, as two processes
//! would have) asks the same GCRA bucket, so the burst of 5 is shared, not
//! doubled. With Redis down every request is still answered: each replica
//! then limits locally to its share (5 / 2 replicas = 2 at once).
//!
//! `REDIS_URL=redis://127.0.0.1:6379 cargo run -p palisade-shed --features redis --example rate_limit_cluster`

use std::time::Duration;

use axum::{Router, body::Body, routing::get};
use http::Request;
use palisade_redis::RedisConnection;
use palisade_shed::RateLimit;
use tower::ServiceExt;

fn replica(redis: RedisConnection) -> Result<Router, palisade_core::ConfigError> {
    let limit = RateLimit::builder("example-cluster")
        .rate(1)
        .period(Duration::from_secs(10))
        .burst(5)
        .key(|req: &Request<Body>| req.headers().get("x-api-key").cloned())
        .redis(redis)
        .replicas(2)
        .build()?;
    // `http_layer`: refusals are 429 responses; no ErrorResponseLayer needed.
    Ok(Router::new()
        .route("/", get(|| async { "hello" }))
        .layer(limit.http_layer()))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let connect = || {
        RedisConnection::builder(url.as_str())
            .name("example")
            .timeout(Duration::from_millis(50))
            .build()
    };
    let (a, b) = (connect()?, connect()?);
    let up = a.connected(Duration::from_secs(1)).await & b.connected(Duration::from_secs(1)).await;
    println!(
        "redis at {url}: {}",
        if up { "up" } else { "down (local limits)" }
    );
    let replicas = [replica(a)?, replica(b)?];

    // A fresh key per run, so a rerun within 50 s starts with a full burst.
    let key = format!("run-{}", std::process::id());
    for i in 0..8 {
        let app = replicas[i % 2].clone();
        let req = Request::get("/")
            .header("x-api-key", &key)
            .body(Body::empty())?;
        let res = app.oneshot(req).await?;
        println!(
            "replica {} request {}: {} {}",
            ["a", "b"][i % 2],
            i + 1,
            res.status(),
            res.headers()
                .get("ratelimit")
                .map_or("", |v| v.to_str().unwrap_or(""))
        );
    }
    Ok(())
}
