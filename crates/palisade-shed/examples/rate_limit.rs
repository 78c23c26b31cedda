//! A per-API-key rate limit in an axum router: each key gets 5 requests at
//! once and 2 a second after that; refusals are 429 with `Retry-After` and the
//! IETF `RateLimit-Policy` / `RateLimit` fields.
//!
//! `cargo run -p palisade-shed --example rate_limit`

use axum::{Router, body::Body, routing::get};
use http::Request;
use palisade_core::http::ErrorResponseLayer;
use palisade_shed::RateLimit;
use tower::{ServiceBuilder, ServiceExt};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let limit = RateLimit::builder("per-key")
        .rate(2)
        .burst(5)
        .key(|req: &Request<Body>| req.headers().get("x-api-key").cloned())
        .build()?;
    let app: Router = Router::new().route("/", get(|| async { "hello" })).layer(
        ServiceBuilder::new()
            .layer(ErrorResponseLayer::new())
            .layer(limit.layer()),
    );

    for key in ["alice", "bob"] {
        let attempts = if key == "alice" { 7 } else { 2 };
        for i in 1..=attempts {
            let req = Request::get("/")
                .header("x-api-key", key)
                .body(Body::empty())?;
            let res = app.clone().oneshot(req).await?;
            let h = |name: &str| {
                res.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-")
                    .to_owned()
            };
            println!(
                "{key} #{i}: {} retry-after={} ratelimit-policy={} ratelimit={}",
                res.status(),
                h("retry-after"),
                h("ratelimit-policy"),
                h("ratelimit"),
            );
        }
    }
    println!("keys held: {}", limit.keys());
    Ok(())
}
