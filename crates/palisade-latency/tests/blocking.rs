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
