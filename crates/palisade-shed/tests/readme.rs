//! The README's first example (axum), the same code, compiled and run: a
//! request with a 500 ms budget header sees its deadline in the handler.

use axum::body::Body;
use http::{Request, StatusCode};
use tower::ServiceExt;

#[tokio::test(start_paused = true)]
async fn readme_axum_example_runs() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // --- the README's code, unchanged ---
    use axum::{Router, routing::get};
    use http::HeaderName;
    use palisade_core::http::ErrorResponseLayer;
    use palisade_shed::{ConcurrencyLimit, Deadline, Timeout};
    use std::time::Duration;
    use tower::ServiceBuilder;

    let timeout = Timeout::builder("api")
        .timeout(Duration::from_secs(2))
        .honor_header(HeaderName::from_static("x-request-timeout-ms"))
        .build()?;
    let limit = ConcurrencyLimit::builder("api")
        .max_in_flight(256)
        .retry_after(Duration::from_secs(1))
        .build()?;

    // Outgoing calls carry the remaining budget (grpc-timeout + x-request-timeout-ms).
    let client = ServiceBuilder::new()
        .layer(timeout.propagate_layer())
        .service(
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Full<bytes::Bytes>>(),
        );

    let app = Router::new()
        .route(
            "/",
            get(|| async {
                let left = Deadline::current().map(|d| d.remaining());
                format!("{left:?} left")
            }),
        )
        .layer(
            ServiceBuilder::new()
                .layer(ErrorResponseLayer::new()) // Rejected -> 504 / 503 + Retry-After
                .layer(timeout.layer())
                .layer(limit.layer()),
        );
    // --- end of the README's code ---
    drop(client);

    let req = Request::get("/")
        .header("x-request-timeout-ms", "500")
        .body(Body::empty())?;
    let res = app.oneshot(req).await?;
    assert_eq!(res.status(), StatusCode::OK);
    let body = axum::body::to_bytes(res.into_body(), 1024).await?;
    // Paused time: the handler runs at the instant the request arrived.
    assert_eq!(&body[..], b"Some(500ms) left");
    assert_eq!(limit.in_flight(), 0);
    Ok(())
}
