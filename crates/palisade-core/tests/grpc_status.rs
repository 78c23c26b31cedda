//! `StatusLayer` in front of a real tonic server (the `tonic-health` service),
//! called with a real tonic client.
#![cfg(feature = "grpc")]

use std::{
    task::{Context, Poll},
    time::Duration,
};

use palisade_core::{BoxError, RejectKind, Rejected, grpc::StatusLayer};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Code, transport::Server};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tower::{Layer, Service, ServiceBuilder};

/// A layer that refuses every request with a fixed rejection, as an open
/// breaker or an expired deadline would.
#[derive(Clone)]
struct Refuse(Rejected);

impl<S> Layer<S> for Refuse {
    type Service = Refusing;
    fn layer(&self, _inner: S) -> Refusing {
        Refusing(self.0.clone())
    }
}

#[derive(Clone)]
struct Refusing(Rejected);

impl<R> Service<R> for Refusing {
    type Response = http::Response<tonic::body::Body>;
    type Error = BoxError;
    type Future = std::future::Ready<Result<Self::Response, BoxError>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: R) -> Self::Future {
        std::future::ready(Err(self.0.clone().into()))
    }
}

async fn status_seen_by_client(rejected: Rejected) -> tonic::Status {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let stack = ServiceBuilder::new()
        .layer(StatusLayer::new())
        .layer(Refuse(rejected));
    tokio::spawn(async move {
        Server::builder()
            .layer(stack)
            .add_service(health)
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = HealthClient::new(channel);
    client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect_err("the layer refuses every call")
}

#[tokio::test]
async fn circuit_open_is_unavailable() {
    let status = status_seen_by_client(
        Rejected::new(RejectKind::CircuitOpen, "payments").with_retry_after(Duration::from_secs(2)),
    )
    .await;
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.message(), "circuit open (payments); retry after 2s");
    assert_eq!(
        status.metadata().get("grpc-retry-pushback-ms").unwrap(),
        "2000"
    );
}

#[tokio::test]
async fn deadline_exceeded_is_deadline_exceeded() {
    let status = status_seen_by_client(Rejected::new(RejectKind::DeadlineExceeded, "edge")).await;
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert_eq!(status.message(), "deadline exceeded (edge)");
    assert!(status.metadata().get("grpc-retry-pushback-ms").is_none());
}

#[tokio::test]
async fn overloaded_is_resource_exhausted() {
    let status = status_seen_by_client(Rejected::new(RejectKind::Overloaded, "api")).await;
    assert_eq!(status.code(), Code::ResourceExhausted);
}

/// A health service whose handler passes a `Rejected` on with `?`
/// (`From<Rejected> for tonic::Status`).
struct RejectingHealth(Rejected);

#[tonic::async_trait]
impl tonic_health::pb::health_server::Health for RejectingHealth {
    async fn check(
        &self,
        _request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<tonic_health::pb::HealthCheckResponse>, tonic::Status> {
        let admit = || -> Result<(), Rejected> { Err(self.0.clone()) };
        admit()?;
        Ok(tonic::Response::new(
            tonic_health::pb::HealthCheckResponse::default(),
        ))
    }

    type WatchStream =
        tokio_stream::Empty<Result<tonic_health::pb::HealthCheckResponse, tonic::Status>>;

    async fn watch(
        &self,
        _request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<Self::WatchStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("watch"))
    }
}

#[tokio::test]
async fn question_mark_in_a_tonic_handler_sends_the_mapped_status() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let health = tonic_health::pb::health_server::HealthServer::new(RejectingHealth(
        Rejected::new(RejectKind::BatchFull, "embed").with_retry_after(Duration::from_millis(750)),
    ));
    tokio::spawn(async move {
        Server::builder()
            .add_service(health)
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let status = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect_err("the handler refuses every call");
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(
        status.message(),
        "batch queue full (embed); retry after 750ms"
    );
    assert_eq!(
        status.metadata().get("grpc-retry-pushback-ms").unwrap(),
        "750"
    );
}
