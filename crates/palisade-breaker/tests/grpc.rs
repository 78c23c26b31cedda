//! A `builder_for_grpc` breaker counts the gRPC status wherever it arrives:
//! in the head of a trailers-only response, or in the trailers at the end
//! of the body. Through a real tonic server and client, and body by body.
#![cfg(feature = "grpc")]

use std::{
    convert::Infallible,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use palisade_breaker::{AtEndOfStream, CircuitBreaker, CircuitBreakerService, State};
use palisade_core::{BoxError, grpc::GrpcErrors};
use tokio_stream::{Stream, StreamExt, wrappers::TcpListenerStream};
use tonic::{Code, Status, transport::Server};
use tonic_health::pb::{
    HealthCheckRequest, HealthCheckResponse,
    health_check_response::ServingStatus,
    health_client::HealthClient,
    health_server::{Health, HealthServer},
};
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

/// A health service that fails every call with `code`: `check` as a
/// trailers-only response, `watch` after one message, in the trailers.
struct Failing {
    code: Code,
    calls: Arc<AtomicUsize>,
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Health for Failing {
    async fn check(
        &self,
        _request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<HealthCheckResponse>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Err(Status::new(self.code, "failing"))
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        _request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<WatchStream>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let first = HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        };
        let items = vec![Ok(first), Err(Status::new(self.code, "failing"))];
        Ok(tonic::Response::new(Box::pin(tokio_stream::iter(items))))
    }
}

/// Starts a server whose every call fails with `code`; returns a connected
/// channel and the count of calls that reached the handler.
async fn server(code: Code) -> (tonic::transport::Channel, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let service = HealthServer::new(Failing {
        code,
        calls: calls.clone(),
    });
    tokio::spawn(async move {
        Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    (channel, calls)
}

/// A health client through a `builder_for_grpc` breaker that trips when
/// the last `window` calls all failed, to a server failing with `code`; and
/// the count of calls that reached the server.
async fn client(
    code: Code,
    window: usize,
) -> (
    HealthClient<CircuitBreakerService<tonic::transport::Channel, GrpcErrors, AtEndOfStream>>,
    CircuitBreaker<GrpcErrors, AtEndOfStream>,
    Arc<AtomicUsize>,
) {
    let (channel, calls) = server(code).await;
    let breaker = CircuitBreaker::builder_for_grpc("health")
        .count_window(window)
        .minimum_calls(window as u64)
        .failure_rate(1.0)
        .build()
        .unwrap();
    let client = HealthClient::new(breaker.layer().layer(channel));
    (client, breaker, calls)
}

fn request() -> HealthCheckRequest {
    HealthCheckRequest {
        service: String::new(),
    }
}

#[tokio::test]
async fn unavailable_in_a_trailers_only_response_opens_the_breaker() {
    let (mut client, breaker, calls) = client(Code::Unavailable, 4).await;

    for _ in 0..4 {
        let status = client.check(request()).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable);
    }
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.snapshot().times_opened, 1);

    // Refused without reaching the server.
    client.check(request()).await.unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn unavailable_in_the_trailers_of_a_stream_opens_the_breaker() {
    let (mut client, breaker, calls) = client(Code::Unavailable, 3).await;

    for i in 0..3 {
        let mut stream = client.watch(request()).await.unwrap().into_inner();
        let first = stream.next().await.unwrap().unwrap();
        assert_eq!(first.status, ServingStatus::Serving as i32);
        // The head said nothing: nothing recorded before the end of the body.
        assert_eq!(breaker.snapshot().calls, i);
        let status = stream.next().await.unwrap().unwrap_err();
        assert_eq!(status.code(), Code::Unavailable);
        assert!(stream.next().await.is_none());
        drop(stream);
        if i < 2 {
            assert_eq!(breaker.snapshot().failures, i + 1, "call {i}");
        }
    }
    // The third failure opened it (and reset the window).
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.snapshot().times_opened, 1);
    client.watch(request()).await.unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn not_found_is_not_a_failure() {
    let (mut client, breaker, _calls) = client(Code::NotFound, 4).await;

    for _ in 0..4 {
        let status = client.check(request()).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
        let mut stream = client.watch(request()).await.unwrap().into_inner();
        while stream.next().await.is_some() {}
    }
    let snap = breaker.snapshot();
    assert_eq!(snap.state, State::Closed);
    assert_eq!((snap.calls, snap.failures), (4, 0));
}

#[tokio::test]
async fn keyed_breaker_counts_trailers_per_method() {
    let (channel, _calls) = server(Code::Internal).await;
    let keyed = CircuitBreaker::builder_for_grpc("health")
        .consecutive_failures(2)
        .key(|req: &http::Request<tonic::body::Body>| req.uri().path().to_owned())
        .build()
        .unwrap();
    let mut client = HealthClient::new(ServiceBuilder::new().layer(keyed.layer()).service(channel));

    for _ in 0..2 {
        let mut stream = client.watch(request()).await.unwrap().into_inner();
        while stream.next().await.is_some() {}
    }
    let watch = keyed
        .get(&"/grpc.health.v1.Health/Watch".to_owned())
        .unwrap();
    assert_eq!(watch.state(), State::Open);
    // The other method has its own breaker, still closed.
    let _ = client.check(request()).await;
    let check = keyed
        .get(&"/grpc.health.v1.Health/Check".to_owned())
        .unwrap();
    assert_eq!(check.state(), State::Closed);
}

type Body =
    StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

/// A `200 OK` whose body is one message and then trailers with `grpc-status: code`.
fn with_trailers(code: &'static str) -> http::Response<Body> {
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", code.parse().unwrap());
    let frames = vec![
        Ok(Frame::data(Bytes::from_static(b"message"))),
        Ok(Frame::trailers(trailers)),
    ];
    http::Response::new(StreamBody::new(futures_util::stream::iter(frames)))
}

/// The breaker's `(calls, failures)` after one call answered with trailers
/// `grpc-status: code` and its body read to the end (the window is large
/// enough not to trip).
async fn after_body_with_status(code: &'static str) -> (u64, u64) {
    let breaker = CircuitBreaker::builder_for_grpc("body")
        .count_window(10)
        .minimum_calls(10)
        .build()
        .unwrap();
    let mut svc = ServiceBuilder::new()
        .layer(breaker.layer())
        .service(service_fn(move |_req: ()| async move {
            Ok::<_, BoxError>(with_trailers(code))
        }));
    let response = svc.ready().await.unwrap().call(()).await.unwrap();
    assert_eq!(
        breaker.snapshot().calls,
        0,
        "nothing known before the body ends"
    );
    let collected = response.into_body().collect().await.unwrap();
    assert_eq!(collected.trailers().unwrap()["grpc-status"], code);
    let snap = breaker.snapshot();
    (snap.calls, snap.failures)
}

#[tokio::test]
async fn status_200_with_unavailable_in_trailers_is_a_failure() {
    assert_eq!(after_body_with_status("14").await, (1, 1));
}

#[tokio::test]
async fn status_200_with_ok_in_trailers_is_a_success() {
    assert_eq!(after_body_with_status("0").await, (1, 0));
}

#[tokio::test]
async fn status_200_with_not_found_in_trailers_is_a_success() {
    assert_eq!(after_body_with_status("5").await, (1, 0));
}

#[tokio::test]
async fn body_dropped_before_its_end_is_ignored() {
    let breaker = CircuitBreaker::builder_for_grpc("body")
        .consecutive_failures(1)
        .build()
        .unwrap();
    let mut svc = ServiceBuilder::new()
        .layer(breaker.layer())
        .service(service_fn(|_req: ()| async {
            Ok::<_, BoxError>(with_trailers("14"))
        }));
    let response = svc.ready().await.unwrap().call(()).await.unwrap();
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.is_data());
    drop(body);
    let snap = breaker.snapshot();
    assert_eq!(
        (snap.calls, snap.failures, snap.state),
        (0, 0, State::Closed)
    );
}

#[tokio::test]
async fn status_in_the_head_is_recorded_at_once() {
    let breaker = CircuitBreaker::builder_for_grpc("head")
        .consecutive_failures(1)
        .build()
        .unwrap();
    let mut svc = ServiceBuilder::new()
        .layer(breaker.layer())
        .service(service_fn(|_req: ()| async {
            let response = http::Response::builder()
                .header("grpc-status", "13")
                .body(http_body_util::Empty::<Bytes>::new())
                .unwrap();
            Ok::<_, BoxError>(response)
        }));
    let response = svc.ready().await.unwrap().call(()).await.unwrap();
    assert_eq!(breaker.state(), State::Open);
    // Reading the (empty) body records nothing more.
    response.into_body().collect().await.unwrap();
    assert_eq!(breaker.snapshot().times_opened, 1);
}

#[tokio::test]
async fn a_transport_error_is_a_failure() {
    let breaker = CircuitBreaker::builder_for_grpc("transport")
        .consecutive_failures(1)
        .build()
        .unwrap();
    let mut svc = ServiceBuilder::new()
        .layer(breaker.layer())
        .service(service_fn(|_req: ()| async {
            Err::<http::Response<http_body_util::Empty<Bytes>>, BoxError>("connection reset".into())
        }));
    let result = svc.ready().await.unwrap().call(()).await;
    assert!(result.is_err());
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test]
async fn a_breaker_on_the_server_counts_streams_failing_in_trailers() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let breaker = CircuitBreaker::builder_for_grpc("server")
        .consecutive_failures(2)
        .build()
        .unwrap();
    let layer = breaker.layer();
    let service = HealthServer::new(Failing {
        code: Code::DataLoss,
        calls: calls.clone(),
    });
    tokio::spawn(async move {
        Server::builder()
            .layer(layer)
            .add_service(service)
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
    for _ in 0..2 {
        let mut stream = client.watch(request()).await.unwrap().into_inner();
        while stream.next().await.is_some() {}
    }
    // The server records a call when it has sent the trailers: wait for it.
    for _ in 0..100 {
        if breaker.state() == State::Open {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(breaker.state(), State::Open);
    // Refused on the server, before the handler.
    client.watch(request()).await.unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
