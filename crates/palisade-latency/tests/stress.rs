//! Many threads, one tracker: every request is counted once.
#![cfg(feature = "axum")]

use std::{net::SocketAddr, sync::Arc};

use axum::{Router, body::Body, routing::get};
use http::Request;
use http_body_util::BodyExt;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use palisade_latency::{LatencyTracker, RouteFrom};
use tower::ServiceExt;

fn app(tracker: &LatencyTracker) -> Router {
    Router::new()
        .route("/a/{id}", get(|| async { "a" }))
        .route(
            "/b",
            get(|| async {
                tokio::task::yield_now().await;
                "b"
            })
            .post(|| async { "posted" }),
        )
        .layer(tracker.layer())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counts_equal_requests_across_threads() {
    const TASKS: usize = 8;
    const PER_TASK: usize = 500;
    let tracker = LatencyTracker::builder("stress")
        .route(RouteFrom::AxumMatchedPath)
        .blocking_threshold(std::time::Duration::from_secs(1))
        .build()
        .unwrap();
    let app = app(&tracker);
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_TASK {
                let req = match (t + i) % 3 {
                    0 => Request::get(format!("/a/{i}")),
                    1 => Request::get("/b"),
                    _ => Request::post("/b"),
                };
                let res = app
                    .clone()
                    .oneshot(req.body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                res.into_body().collect().await.unwrap();
            }
        }));
    }
    // Snapshots taken while requests are running must not disturb them.
    for _ in 0..20 {
        let _ = tracker.snapshot();
        tokio::task::yield_now().await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    let snap = tracker.snapshot();
    let total: u64 = snap.routes().iter().map(|r| r.count).sum();
    assert_eq!(total, (TASKS * PER_TASK) as u64);
    let a = snap.route("GET", "/a/{id}").unwrap().count;
    let b = snap.route("GET", "/b").unwrap().count;
    let p = snap.route("POST", "/b").unwrap().count;
    let expected = |r: usize| {
        (0..TASKS)
            .map(|t| (0..PER_TASK).filter(|i| (t + i) % 3 == r).count() as u64)
            .sum::<u64>()
    };
    assert_eq!((a, b, p), (expected(0), expected(1), expected(2)));
    assert_eq!(
        snap.window().routes().iter().map(|r| r.count).sum::<u64>(),
        total
    );
    assert!(
        snap.routes()
            .iter()
            .all(|r| r.aborted == 0 && r.errors == 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_real_server() {
    let tracker = LatencyTracker::builder("server")
        .route(RouteFrom::AxumMatchedPath)
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let server = tokio::spawn(axum::serve(listener, app(&tracker)).into_future());

    let client = Arc::new(
        Client::builder(TokioExecutor::new()).build_http::<http_body_util::Empty<bytes::Bytes>>(),
    );
    let mut tasks = Vec::new();
    for t in 0..4 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let uri = format!("http://{addr}/a/{}", t * 100 + i);
                let res = client.get(uri.parse().unwrap()).await.unwrap();
                assert!(res.status().is_success());
                res.into_body().collect().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // The server records a request when its body has been written out; the
    // client has read it by now, but the server task may still be finishing.
    let mut count = 0;
    for _ in 0..200 {
        count = tracker
            .snapshot()
            .route("GET", "/a/{id}")
            .map_or(0, |s| s.count);
        if count == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(count, 200);
    server.abort();
}
