//! tonic end to end: a gRPC client's deadline becomes `DEADLINE_EXCEEDED`.
//!
//! The handler is tonic-health's `Health` service made slow by a layer that
//! delays it (no codegen needed). Real sockets, so real time (see
//! `propagate.rs`); nothing asserts a wall-clock duration.

use palisade_core::grpc::StatusLayer;
use palisade_shed::Timeout;
use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};
use tokio::net::TcpListener;
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

/// Delays every call of the inner service by `by`: a slow handler.
#[derive(Clone)]
struct Delay<S> {
    inner: S,
    by: Duration,
}

#[derive(Clone)]
struct DelayLayer(Duration);

impl<S> Layer<S> for DelayLayer {
    type Service = Delay<S>;
    fn layer(&self, inner: S) -> Delay<S> {
        Delay { inner, by: self.0 }
    }
}

impl<S, R> Service<R> for Delay<S>
where
    S: Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let response = self.inner.call(req);
        let by = self.by;
        Box::pin(async move {
            tokio::time::sleep(by).await;
            response.await
        })
    }
}

fn check() -> HealthCheckRequest {
    HealthCheckRequest {
        service: String::new(),
    }
}

/// The client sets a 50 ms deadline (`grpc-timeout: 50m`); the server's
/// Palisade timeout (10 s of its own) honours it and answers
/// `DEADLINE_EXCEEDED` through `StatusLayer`.
///
/// tonic's own transport enforces `grpc-timeout` too — its `Server` and its
/// `Channel` each start their own 50 ms timer and answer `CANCELLED` — and
/// would race with the layer under test. So the tonic service is served by
/// hyper directly, and the tonic client runs over a hyper-util HTTP/2
/// client: the gRPC code on both sides is tonic's, and only the Palisade
/// timeout enforces the deadline.
#[tokio::test]
async fn a_client_deadline_of_50ms_against_a_slow_handler_is_deadline_exceeded() {
    let (_reporter, health) = tonic_health::server::health_reporter();
    let timeout = Timeout::builder("grpc")
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let stack = ServiceBuilder::new()
        .layer(StatusLayer::new())
        .layer(timeout.layer())
        .layer(DelayLayer(Duration::from_secs(30)))
        .service(health);
    // What tonic's server does with a `Status` error: answer with it.
    let server = service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let stack = stack.clone();
        async move {
            Ok::<_, Infallible>(match stack.oneshot(req).await {
                Ok(response) => response,
                Err(err) => match err.downcast::<tonic::Status>() {
                    Ok(status) => status.into_http(),
                    Err(other) => tonic::Status::internal(other.to_string()).into_http(),
                },
            })
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let svc = hyper_util::service::TowerToHyperService::new(server.clone());
            tokio::spawn(
                hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc),
            );
        }
    });

    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<tonic::body::Body>();
    let mut client = HealthClient::with_origin(http, format!("http://{addr}").parse().unwrap());
    let mut request = tonic::Request::new(check());
    request.set_timeout(Duration::from_millis(50));
    let status = client.check(request).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        status.message().contains("deadline exceeded (grpc)"),
        "{status:?}"
    );
}

/// With tonic's own `transport::Server` and `Channel`: the server's Palisade
/// timeout (50 ms) answers `DEADLINE_EXCEEDED`.
#[tokio::test]
async fn tonic_transport_server_answers_deadline_exceeded() {
    let (_reporter, health) = tonic_health::server::health_reporter();
    let timeout = Timeout::builder("grpc")
        .timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(
                ServiceBuilder::new()
                    .layer(StatusLayer::new())
                    .layer(timeout.layer())
                    .layer(DelayLayer(Duration::from_secs(30))),
            )
            .add_service(health)
            .serve_with_incoming(tokio_stream_from(listener)),
    );
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let status = HealthClient::new(channel).check(check()).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
}

/// The accepted connections of `listener`, as tonic's `serve_with_incoming` wants them.
fn tokio_stream_from(
    listener: TcpListener,
) -> impl futures_util::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures_util::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(stream, _)| stream);
        Some((accepted, listener))
    })
}
