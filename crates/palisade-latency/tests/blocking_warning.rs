//! The blocking-poll warning itself, read from a `tracing` subscriber: it
//! names the fix. A test binary of its own: `tracing` caches per call site
//! whether anyone listens, and a test running beside it without a subscriber
//! could have the site cached as silent.
#![cfg(all(feature = "axum", feature = "tracing"))]

use std::time::Duration;

use axum::{Router, body::Body, routing::get};
use http::Request;
use http_body_util::BodyExt;
use palisade_latency::{LatencyTracker, RouteFrom};
use tower::ServiceExt;

/// Collects what the `fmt` subscriber writes.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test]
async fn the_blocking_warning_names_the_blocking_pool_as_the_fix() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    // The only test of this binary: the subscriber can be the global one.
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let tracker = LatencyTracker::builder("blocking-log")
        .route(RouteFrom::AxumMatchedPath)
        .blocking_threshold(Duration::from_millis(10))
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/hash",
            get(|| async {
                std::thread::sleep(Duration::from_millis(20));
                "blocked the executor"
            }),
        )
        .layer(tracker.layer());
    let res = app
        .oneshot(Request::get("/hash").body(Body::empty()).unwrap())
        .await
        .unwrap();
    res.into_body().collect().await.unwrap();

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let warnings: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("blocked the executor thread"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning:\n{text}");
    let line = warnings[0];
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("route=\"/hash\""), "{line}");
    assert!(line.contains("palisade_shed::BlockingPool"), "{line}");
    assert!(line.contains("pool.run(|| work()).await"), "{line}");
    assert!(line.contains("pool.service(f)"), "{line}");
}
