//! The blocking-poll detector, in real time (a blocked thread does not
//! advance a paused clock). Counts are asserted, never durations.
#![cfg(feature = "axum")]

use std::time::Duration;

use axum::{Router, body::Body, routing::get};
use http::Request;
use http_body_util::BodyExt;
use palisade_latency::{LatencyTracker, RouteFrom};
use tower::ServiceExt;

#[tokio::test]
async fn a_thread_sleep_blocks_and_an_async_sleep_does_not() {
    let tracker = LatencyTracker::builder("blocking")
        .route(RouteFrom::AxumMatchedPath)
        .blocking_threshold(Duration::from_millis(10))
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/blocks",
            get(|| async {
                std::thread::sleep(Duration::from_millis(20));
                "blocked the executor"
            }),
        )
        .route(
            "/awaits",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                "yielded"
            }),
        )
        .layer(tracker.layer());

    for path in ["/blocks", "/awaits", "/awaits"] {
        let res = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        res.into_body().collect().await.unwrap();
    }
    let snap = tracker.snapshot();
    let blocks = snap.route("GET", "/blocks").unwrap();
    assert_eq!((blocks.count, blocks.blocking_polls), (1, 1));
    let awaits = snap.route("GET", "/awaits").unwrap();
    assert_eq!((awaits.count, awaits.blocking_polls), (2, 0));
}

#[tokio::test]
async fn without_a_threshold_nothing_is_timed() {
    let tracker = LatencyTracker::builder("off")
        .route(RouteFrom::AxumMatchedPath)
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/blocks",
            get(|| async {
                std::thread::sleep(Duration::from_millis(20));
                "x"
            }),
        )
        .layer(tracker.layer());
    let res = app
        .oneshot(Request::get("/blocks").body(Body::empty()).unwrap())
        .await
        .unwrap();
    res.into_body().collect().await.unwrap();
    let s = tracker.snapshot();
    let s = s.route("GET", "/blocks").unwrap();
    assert_eq!((s.count, s.blocking_polls), (1, 0));
}

/// The warning itself, read from a `tracing` subscriber.
#[cfg(feature = "tracing")]
mod warning {
    use super::*;

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
        // A current-thread runtime: the handler runs on this thread, under this subscriber.
        let _guard = tracing::subscriber::set_default(subscriber);

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
}
