//! Retries on an outgoing client: a flaky upstream that fails half of its
//! calls with 503, a POST that is never retried, and a deadline too short
//! for another attempt.
//!
//! `cargo run -p palisade-shed --example retry`

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use http::{Method, Request, Response, StatusCode};
use palisade_shed::{Deadline, Retry};
use tower::{ServiceBuilder, ServiceExt, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let retry = Retry::builder("upstream")
        .max_retries(3)
        .backoff(Duration::from_millis(20), Duration::from_millis(200))
        .build()?;
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    // Fails every other call, taking 30 ms each time.
    let upstream = service_fn(move |_req: Request<String>| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            let status = if n.is_multiple_of(2) {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            };
            let mut res = Response::new(());
            *res.status_mut() = status;
            Ok::<_, Infallible>(res)
        }
    });
    let client = ServiceBuilder::new().layer(retry.layer()).service(upstream);

    let get = || Request::get("http://upstream/").body(String::new());
    let before = calls.load(Ordering::SeqCst);
    let res = client.clone().oneshot(get()?).await?;
    println!(
        "GET: {} after {} attempts",
        res.status(),
        calls.load(Ordering::SeqCst) - before
    );

    let before = calls.load(Ordering::SeqCst);
    let post = Request::builder()
        .method(Method::POST)
        .uri("http://upstream/")
        .body(String::new())?;
    let res = client.clone().oneshot(post).await?;
    println!(
        "POST: {} after {} attempt (not idempotent, never retried)",
        res.status(),
        calls.load(Ordering::SeqCst) - before
    );

    let before = calls.load(Ordering::SeqCst);
    let res = Deadline::after(Duration::from_millis(50))
        .scope(client.oneshot(get()?))
        .await?;
    println!(
        "GET with 50 ms left: {} after {} attempt (another would not fit the deadline)",
        res.status(),
        calls.load(Ordering::SeqCst) - before
    );
    Ok(())
}
