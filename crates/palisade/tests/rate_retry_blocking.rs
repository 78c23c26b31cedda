//! Rate limit, retries and the blocking pool through `ServiceBuilderExt` and
//! the prelude, in an axum `Router`.
#![cfg(all(
    feature = "rate-limit",
    feature = "retry",
    feature = "blocking",
    feature = "http"
))]

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, body::Body, routing::get};
use http::{Request, StatusCode};
use palisade::prelude::*;
use tower::{ServiceBuilder, ServiceExt};

#[tokio::test(start_paused = true)]
async fn rate_limit_retry_and_pool_in_one_router() {
    let limit = RateLimit::builder("edge").rate(1).burst(2).build().unwrap();
    let retry = Retry::builder("edge")
        .backoff(Duration::from_millis(10), Duration::from_millis(10))
        .build()
        .unwrap();
    let pool = BlockingPool::builder("cpu").max_running(1).build().unwrap();
    // An outgoing client with retries: its first attempt of each call fails with 503.
    let flaky_calls = Arc::new(AtomicUsize::new(0));
    let calls = Arc::clone(&flaky_calls);
    let upstream = ServiceBuilder::new()
        .retry_with(&retry)
        .service(tower::service_fn(move |_req: Request<String>| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            let status = if n.is_multiple_of(2) { 503 } else { 200 };
            async move {
                Ok::<_, Infallible>(http::Response::builder().status(status).body(()).unwrap())
            }
        }));
    let app: Router = Router::new()
        .route(
            "/hash",
            get(move || {
                let pool = pool.clone();
                async move { pool.run(|| "hashed").await.unwrap_or("refused") }
            }),
        )
        .route(
            "/flaky",
            get(move || {
                let upstream = upstream.clone();
                async move {
                    let req = Request::get("http://upstream/")
                        .body(String::new())
                        .unwrap();
                    upstream.oneshot(req).await.unwrap().status()
                }
            }),
        )
        .layer(ServiceBuilder::new().http_errors().limit_rate(&limit));
    let call = |path: &'static str| {
        let app = app.clone();
        async move {
            app.oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(call("/hash").await, StatusCode::OK);
    assert_eq!(call("/flaky").await, StatusCode::OK);
    assert_eq!(flaky_calls.load(Ordering::SeqCst), 2, "retried once");
    // The limit is shared by both routes: the burst of 2 is spent.
    assert_eq!(call("/hash").await, StatusCode::TOO_MANY_REQUESTS);
}
