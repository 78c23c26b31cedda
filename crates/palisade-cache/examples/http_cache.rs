//! An axum server with an `HttpCache` in front of a slow upstream handler,
//! and a client showing MISS, HIT, STALE (served at once while one refresh
//! runs), and how often the upstream was called.
//!
//! Run with `cargo run -p palisade-cache --example http_cache`; it ends by
//! itself after a couple of seconds.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, routing::get};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use palisade_cache::HttpCache;
use palisade_core::BoxError;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let upstream_calls = Arc::new(AtomicUsize::new(0));
    let calls = Arc::clone(&upstream_calls);
    // The slow upstream: 300 ms per answer, fresh for 1 s, then servable
    // stale for 10 s while it is refreshed in the background.
    let upstream = get(move || {
        let calls = Arc::clone(&calls);
        async move {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(300)).await;
            (
                [("cache-control", "max-age=1, stale-while-revalidate=10")],
                format!("report #{n}"),
            )
        }
    });

    let cache = HttpCache::builder("pages")
        .max_bytes(16 << 20)
        .max_body_bytes(1 << 20)
        .build()?;
    let app = Router::new()
        .route("/report", upstream)
        .layer(cache.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/report", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let fetch = |label: &'static str| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let start = Instant::now();
            let resp = client.get(url.parse()?).await?;
            let x_cache = resp.headers()["x-cache"].to_str()?.to_owned();
            let age = resp
                .headers()
                .get("age")
                .map_or("-".to_owned(), |v| v.to_str().unwrap_or("?").to_owned());
            let body = resp.into_body().collect().await?.to_bytes();
            println!(
                "{label:<28} x-cache: {x_cache:<6} age: {age:<2} {:>4} ms  {}",
                start.elapsed().as_millis(),
                String::from_utf8_lossy(&body),
            );
            Ok::<_, BoxError>(())
        }
    };

    fetch("first request").await?;
    fetch("again").await?;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    fetch("after the TTL (stale)").await?;
    fetch("while it refreshes").await?;
    tokio::time::sleep(Duration::from_millis(400)).await;
    fetch("after the refresh").await?;
    println!(
        "upstream called {} times for 5 requests; stats: {:?}",
        upstream_calls.load(Ordering::SeqCst),
        cache.stats()
    );
    Ok(())
}
