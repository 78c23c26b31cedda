//! A server whose upstream fails for a while and then recovers, behind a
//! circuit breaker, and a client hammering it: prints every transition and
//! what the client saw. Self-contained (one process, 127.0.0.1:0) and done in
//! about three seconds.
//!
//! `cargo run -p palisade-breaker --example flaky_upstream`

use axum::{
    Router,
    body::{Body, Bytes},
};
use http::{Request, Response, StatusCode};
use http_body_util::Empty;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use palisade_breaker::CircuitBreaker;
use palisade_core::{
    BoxError,
    http::{ErrorResponseLayer, HttpServerErrors},
};
use std::time::{Duration, Instant};
use tower::{ServiceBuilder, service_fn};

/// The upstream is down from 0.4 s to 1.4 s after start.
const OUTAGE: (Duration, Duration) = (Duration::from_millis(400), Duration::from_millis(1400));

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let start = Instant::now();
    let breaker = CircuitBreaker::builder("upstream")
        .count_window(10)
        .minimum_calls(5)
        .failure_rate(0.5)
        .open_wait(Duration::from_millis(300))
        .half_open_probes(2)
        .classify(HttpServerErrors::new())
        .build()?;
    breaker.on_transition(move |t| {
        println!(
            "{:>5} ms  breaker {}: {} -> {} ({})",
            start.elapsed().as_millis(),
            t.name(),
            t.from(),
            t.to(),
            t.reason()
        );
    });

    // The flaky upstream: in-process here, an HTTP client in real life.
    let upstream = service_fn(move |_req: Request<Body>| async move {
        let now = start.elapsed();
        let status = if now >= OUTAGE.0 && now < OUTAGE.1 {
            StatusCode::BAD_GATEWAY
        } else {
            StatusCode::OK
        };
        Ok::<_, BoxError>(
            Response::builder()
                .status(status)
                .body(Body::from("quote"))?,
        )
    });
    let app = Router::new().route_service(
        "/quote",
        ServiceBuilder::new()
            .layer(ErrorResponseLayer::new())
            .layer(breaker.layer())
            .service(upstream),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri: http::Uri = format!("http://{addr}/quote").parse()?;
    let (mut ok, mut failed, mut rejected) = (0, 0, 0);
    let mut last = None;
    while start.elapsed() < Duration::from_millis(2600) {
        let res = client.get(uri.clone()).await?;
        let status = res.status();
        let retry = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(|v| format!(" (retry-after: {v}s)"))
            .unwrap_or_default();
        match status {
            StatusCode::OK => ok += 1,
            StatusCode::SERVICE_UNAVAILABLE => rejected += 1,
            _ => failed += 1,
        }
        if last != Some(status) {
            println!(
                "{:>5} ms  client sees {status}{retry}",
                start.elapsed().as_millis()
            );
            last = Some(status);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.abort();
    let snap = breaker.snapshot();
    println!(
        "done: {ok} ok, {failed} upstream failures, {rejected} rejected by the breaker \
         (opened {} times, now {})",
        snap.times_opened, snap.state
    );
    Ok(())
}
