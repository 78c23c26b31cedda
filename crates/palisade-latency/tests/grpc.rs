//! gRPC outcomes through a real tonic server (the `tonic-health` service) and
//! a real tonic client: a failure status, whether it comes in the headers of
//! a trailers-only response or in trailers after data, is recorded in the
//! `error` class and counted in `errors`; other statuses keep their HTTP class.
#![cfg(feature = "grpc")]

use std::{
    convert::Infallible,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use futures_util::stream;
use http::{HeaderMap, Response};
use http_body::Frame;
use http_body_util::StreamBody;
use palisade_core::grpc::{GrpcCode, GrpcErrors};
use palisade_latency::{LatencyTracker, RouteFrom, Snapshot, StatusClass};
use tonic::{Code, body::Body, transport::Server, transport::server::TcpIncoming};
use tonic_health::{
    ServingStatus,
    pb::{HealthCheckRequest, health_check_response, health_client::HealthClient},
};
use tower::{Layer, Service, ServiceBuilder};

const SERVING: i32 = health_check_response::ServingStatus::Serving as i32;
const CHECK: &str = "/grpc.health.v1.Health/Check";

/// A layer in front of the health service that answers every call itself.
#[derive(Clone, Copy)]
struct Answer(fn() -> Response<Body>);

impl<S> Layer<S> for Answer {
    type Service = Answering<S>;
    fn layer(&self, inner: S) -> Answering<S> {
        Answering(self.0, inner)
    }
}

/// Answers with its function; the inner service (kept for its error type) is
/// never called.
#[derive(Clone)]
struct Answering<S>(fn() -> Response<Body>, S);

impl<S: Service<R>, R> Service<R> for Answering<S> {
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = std::future::Ready<Result<Response<Body>, S::Error>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: R) -> Self::Future {
        std::future::ready(Ok((self.0)()))
    }
}

/// A trailers-only response: HTTP 200, `grpc-status: 14` in the headers.
fn unavailable_trailers_only() -> Response<Body> {
    Response::builder()
        .header("content-type", "application/grpc")
        .header("grpc-status", "14")
        .header("grpc-message", "down")
        .body(Body::empty())
        .unwrap()
}

/// HTTP 200, one (empty) message, then `grpc-status: 13` in trailers.
fn internal_in_trailers() -> Response<Body> {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", "13".parse().unwrap());
    trailers.insert("grpc-message", "boom".parse().unwrap());
    let frames = stream::iter([
        Ok::<_, Infallible>(Frame::data(Bytes::from_static(&[0, 0, 0, 0, 0]))),
        Ok(Frame::trailers(trailers)),
    ]);
    Response::builder()
        .header("content-type", "application/grpc")
        .body(Body::new(StreamBody::new(frames)))
        .unwrap()
}

/// Serves the health service behind the tracker (and `answer`, if any) and
/// calls `Check` for `service` with a tonic client.
async fn check(
    tracker: &LatencyTracker,
    answer: Option<Answer>,
    service: &str,
) -> Result<i32, Code> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("known", ServingStatus::Serving)
        .await;
    let stack = ServiceBuilder::new()
        .layer(tracker.layer())
        .layer(tower::util::option_layer(answer));
    tokio::spawn(async move {
        Server::builder()
            .layer(stack)
            .add_service(health)
            .serve_with_incoming(TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let res = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await;
    drop(reporter);
    match res {
        Ok(res) => Ok(res.into_inner().status),
        Err(status) => Err(status.code()),
    }
}

fn tracker() -> LatencyTracker {
    LatencyTracker::builder("grpc")
        .route(RouteFrom::GrpcMethod)
        .build()
        .unwrap()
}

/// The snapshot once `n` requests are recorded: the server records a request
/// when it has sent the end of the body, which may be just after the client
/// has read it.
async fn snapshot_of(tracker: &LatencyTracker, n: u64) -> Snapshot {
    for _ in 0..2000 {
        let snap = tracker.snapshot();
        if snap.route("POST", CHECK).is_some_and(|s| s.count >= n) {
            return snap;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!(
        "{n} requests not recorded: {:#?}",
        tracker.snapshot().cumulative().routes()
    );
}

#[tokio::test]
async fn ok_and_not_found_keep_their_http_class() {
    let t = tracker();
    assert_eq!(check(&t, None, "known").await, Ok(SERVING));
    assert_eq!(check(&t, None, "unknown").await, Err(Code::NotFound));
    let snap = snapshot_of(&t, 2).await;
    let s = snap.route("POST", CHECK).unwrap();
    assert_eq!((s.count, s.errors), (2, 0));
    let ok = snap
        .route_class("POST", CHECK, StatusClass::Success)
        .unwrap();
    assert_eq!((ok.count, ok.errors), (2, 0));
    assert!(
        snap.route_class("POST", CHECK, StatusClass::Error)
            .is_none()
    );
}

#[tokio::test]
async fn failure_in_trailers_only_response_is_an_error() {
    let t = tracker();
    let got = check(&t, Some(Answer(unavailable_trailers_only)), "").await;
    assert_eq!(got, Err(Code::Unavailable));
    let snap = snapshot_of(&t, 1).await;
    let s = snap.route("POST", CHECK).unwrap();
    assert_eq!((s.count, s.errors), (1, 1));
    let e = snap.route_class("POST", CHECK, StatusClass::Error).unwrap();
    assert_eq!((e.count, e.errors, e.aborted), (1, 1, 0));
    assert!(
        snap.route_class("POST", CHECK, StatusClass::Success)
            .is_none()
    );
}

#[tokio::test]
async fn failure_in_trailers_is_an_error() {
    let t = tracker();
    let got = check(&t, Some(Answer(internal_in_trailers)), "").await;
    assert_eq!(got, Err(Code::Internal));
    let snap = snapshot_of(&t, 1).await;
    let e = snap.route_class("POST", CHECK, StatusClass::Error).unwrap();
    assert_eq!((e.count, e.errors, e.aborted), (1, 1, 0));
    assert!(
        snap.route_class("POST", CHECK, StatusClass::Success)
            .is_none()
    );
}

#[tokio::test]
async fn failure_codes_are_configurable() {
    let t = LatencyTracker::builder("grpc")
        .route(RouteFrom::GrpcMethod)
        .grpc_errors(GrpcErrors::new().failure(GrpcCode::NotFound))
        .build()
        .unwrap();
    assert_eq!(check(&t, None, "unknown").await, Err(Code::NotFound));
    assert_eq!(check(&t, None, "known").await, Ok(SERVING));
    let snap = snapshot_of(&t, 2).await;
    let s = snap.route("POST", CHECK).unwrap();
    assert_eq!((s.count, s.errors), (2, 1));
    let e = snap.route_class("POST", CHECK, StatusClass::Error).unwrap();
    assert_eq!(e.count, 1);
    let ok = snap
        .route_class("POST", CHECK, StatusClass::Success)
        .unwrap();
    assert_eq!((ok.count, ok.errors), (1, 0));
}

/// The exported histogram of a failed call keeps its HTTP status and names
/// the gRPC code as its `error_type` (OTel HTTP conventions).
#[cfg(feature = "metrics")]
#[tokio::test]
async fn failed_calls_are_exported_with_their_code() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let t = tracker();
    let got = check(&t, Some(Answer(unavailable_trailers_only)), "").await;
    assert_eq!(got, Err(Code::Unavailable));
    assert_eq!(check(&t, None, "known").await, Ok(SERVING));
    snapshot_of(&t, 2).await;

    let mut durations: Vec<(Vec<(String, String)>, usize)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(ck, ..)| ck.key().name() == palisade_latency::REQUEST_DURATION)
        .map(|(ck, _, _, value)| {
            let mut labels: Vec<(String, String)> = ck
                .key()
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            let DebugValue::Histogram(samples) = value else {
                panic!("not a histogram");
            };
            (labels, samples.len())
        })
        .collect();
    durations.sort();
    let pairs = |extra: &[(&str, &str)]| {
        let mut l: Vec<(String, String)> = [
            ("name", "grpc"),
            ("http_request_method", "POST"),
            ("http_route", CHECK),
            ("http_response_status_code", "200"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        l.sort();
        l
    };
    let mut want = vec![
        (pairs(&[("error_type", "UNAVAILABLE")]), 1),
        (pairs(&[]), 1),
    ];
    want.sort();
    assert_eq!(durations, want);
}

/// A gRPC request for `path` carrying one empty message (a `HealthCheckRequest`
/// for the server's overall health).
fn grpc_request(path: &str) -> http::Request<Body> {
    http::Request::post(path)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Body::new(http_body_util::Full::new(Bytes::from_static(&[
            0, 0, 0, 0, 0,
        ]))))
        .unwrap()
}

#[tokio::test]
async fn the_default_builder_names_grpc_methods_and_ignores_unimplemented_junk() {
    use http_body_util::BodyExt;
    use palisade_latency::{OTHER, UNMATCHED};
    use tower::ServiceExt;

    // No `.route(...)`: a gRPC request's method is its route.
    let tracker = LatencyTracker::builder("grpc").build().unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let routes = tonic::service::Routes::new(health);
    let svc = ServiceBuilder::new().layer(tracker.layer()).service(routes);
    // 10,000 junk methods, answered UNIMPLEMENTED by tonic's router.
    for i in 0..10_000 {
        let res = svc
            .clone()
            .oneshot(grpc_request(&format!("/junk.Svc{i}/Method")))
            .await
            .unwrap();
        assert_eq!(res.headers()["grpc-status"], "12");
        res.into_body().collect().await.unwrap();
    }
    // Then a real method gets traffic: it has its own row.
    let res = svc.clone().oneshot(grpc_request(CHECK)).await.unwrap();
    let trailers = res.into_body().collect().await.unwrap().trailers().cloned();
    assert_eq!(trailers.unwrap()["grpc-status"], "0");

    let snap = tracker.snapshot();
    let check = snap.route("POST", CHECK).expect("its own row");
    assert_eq!((check.count, check.errors), (1, 0));
    let junk = snap.route("POST", UNMATCHED).unwrap();
    assert_eq!((junk.count, junk.errors), (10_000, 10_000));
    assert!(snap.route("POST", OTHER).is_none());
    assert_eq!(snap.routes().len(), 2);
}
