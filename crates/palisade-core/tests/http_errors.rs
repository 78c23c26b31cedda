//! `ErrorResponseLayer` inside a real axum `Router`, served over TCP and
//! called with a real HTTP client.
#![cfg(feature = "http")]

use std::{net::SocketAddr, time::Duration};

use axum::{Router, body::Body};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use palisade_core::{BoxError, RejectKind, Rejected, http::ErrorResponseLayer};
use tokio::{io::AsyncReadExt, io::AsyncWriteExt, net::TcpStream};
use tower::{ServiceBuilder, service_fn};

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A minimal HTTP/1.1 client: one request, read until the server closes.
async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

fn app() -> Router {
    let open = service_fn(|_req: Request<Body>| async {
        let err: BoxError = Rejected::new(RejectKind::CircuitOpen, "payments")
            .with_retry_after(Duration::from_millis(2500))
            .into();
        Err::<Response<Body>, _>(err)
    });
    let late = service_fn(|_req: Request<Body>| async {
        let err: BoxError = Rejected::new(RejectKind::DeadlineExceeded, "edge").into();
        Err::<Response<Body>, _>(err)
    });
    let broken = service_fn(|_req: Request<Body>| async {
        let err: BoxError = "database password is hunter2".into();
        Err::<Response<Body>, _>(err)
    });
    let fine = service_fn(|_req: Request<Body>| async {
        Ok::<_, BoxError>(Response::new(Body::from("hello")))
    });
    let limited = service_fn(|_req: Request<Body>| async {
        let err: BoxError = Rejected::new(RejectKind::Overloaded, "per-client").into();
        Err::<Response<Body>, _>(err)
    });
    Router::new()
        .route_service(
            "/open",
            ServiceBuilder::new()
                .layer(ErrorResponseLayer::new())
                .service(open),
        )
        .route_service(
            "/late",
            ServiceBuilder::new()
                .layer(ErrorResponseLayer::new())
                .service(late),
        )
        .route_service(
            "/broken",
            ServiceBuilder::new()
                .layer(ErrorResponseLayer::new())
                .service(broken),
        )
        .route_service(
            "/fine",
            ServiceBuilder::new()
                .layer(ErrorResponseLayer::new())
                .service(fine),
        )
        .route_service(
            "/limited",
            ServiceBuilder::new()
                .layer(
                    ErrorResponseLayer::new()
                        .status_for(RejectKind::Overloaded, StatusCode::TOO_MANY_REQUESTS),
                )
                .service(limited),
        )
}

#[tokio::test]
async fn circuit_open_is_503_with_retry_after_rounded_up() {
    let addr = serve(app()).await;
    let (status, head, body) = get(addr, "/open").await;
    assert_eq!(status, 503);
    assert!(head.contains("\r\nretry-after: 3\r\n"), "{head}");
    assert!(
        head.contains("\r\ncontent-type: text/plain; charset=utf-8\r\n"),
        "{head}"
    );
    assert_eq!(body, "service unavailable: circuit open");
}

#[tokio::test]
async fn deadline_is_504_without_retry_after() {
    let addr = serve(app()).await;
    let (status, head, body) = get(addr, "/late").await;
    assert_eq!(status, 504);
    assert!(!head.contains("retry-after"), "{head}");
    assert_eq!(body, "gateway timeout: deadline exceeded");
}

#[tokio::test]
async fn other_errors_are_500_and_leak_nothing() {
    let addr = serve(app()).await;
    let (status, _, body) = get(addr, "/broken").await;
    assert_eq!(status, 500);
    assert_eq!(body, "internal server error");
}

#[tokio::test]
async fn success_passes_through_and_overrides_apply() {
    let addr = serve(app()).await;
    let (status, _, body) = get(addr, "/fine").await;
    assert_eq!((status, body.as_str()), (200, "hello"));
    let (status, head, body) = get(addr, "/limited").await;
    assert_eq!(status, 429);
    assert!(!head.contains("retry-after"), "{head}");
    assert_eq!(body, "too many requests");
}

#[tokio::test]
async fn readiness_errors_are_answered_not_lost() {
    use std::task::{Context, Poll};
    use tower::{Service, ServiceExt};

    #[derive(Clone)]
    struct NeverReady;
    impl Service<Request<Body>> for NeverReady {
        type Response = Response<Body>;
        type Error = BoxError;
        type Future = std::future::Ready<Result<Response<Body>, BoxError>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            Poll::Ready(Err(Rejected::new(RejectKind::Overloaded, "pool").into()))
        }
        fn call(&mut self, _: Request<Body>) -> Self::Future {
            unreachable!("never called: poll_ready failed")
        }
    }
    let svc = ErrorResponseLayer::new();
    let res = tower::Layer::layer(&svc, NeverReady)
        .oneshot(Request::new(Body::empty()))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"service unavailable: overloaded");
}

#[tokio::test]
async fn rate_limit_quota_becomes_429_with_ietf_fields() {
    use palisade_core::RateLimitQuota;
    use tower::ServiceExt;
    let quota = RateLimitQuota::new(
        10,
        Duration::from_millis(2500),
        0,
        Duration::from_millis(250),
    );
    let svc = ServiceBuilder::new()
        .layer(ErrorResponseLayer::new())
        .service(service_fn(move |_req: Request<Body>| async move {
            let err: BoxError = Rejected::new(RejectKind::Overloaded, "per \"client\"\n")
                .with_retry_after(Duration::from_millis(250))
                .with_rate_limit_quota(quota)
                .into();
            Err::<Response<Body>, _>(err)
        }));
    let res = svc.oneshot(Request::new(Body::empty())).await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(
        res.headers()["ratelimit-policy"],
        r#""per \"client\"_";q=10;w=3"#
    );
    assert_eq!(res.headers()["ratelimit"], r#""per \"client\"_";r=0;t=1"#);
}
