//! Classification through real `http::Response` values and real `http_body` bodies.
#![cfg(feature = "grpc")]

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use palisade_core::{
    Classify, Outcome,
    grpc::{ClassifiedBody, GrpcCode, GrpcErrors, GrpcReport, GrpcVerdict},
    http::HttpServerErrors,
};

type Frames = Vec<Result<Frame<Bytes>, std::io::Error>>;
type Seen = Arc<Mutex<Vec<Outcome>>>;

fn body(frames: Frames) -> impl http_body::Body<Data = Bytes, Error = std::io::Error> {
    StreamBody::new(futures_util::stream::iter(frames))
}

fn trailers(code: &str) -> HeaderMap {
    let mut t = HeaderMap::new();
    t.insert("grpc-status", code.parse().unwrap());
    t
}

/// Wraps `frames` in a `ClassifiedBody`; returns it and the sink its report lands in.
fn classified(
    frames: Frames,
) -> (
    impl http_body::Body<Data = Bytes, Error = std::io::Error>,
    Seen,
) {
    let seen = Seen::default();
    let sink = seen.clone();
    let report = GrpcReport::new(GrpcErrors::new(), move |o| {
        sink.lock().unwrap().push(o);
    });
    let b = ClassifiedBody::new(body(frames), report);
    (b, seen)
}

#[test]
fn http_statuses_across_ranges() {
    let c = HttpServerErrors::new();
    for (status, expected) in [
        (200, Outcome::Success),
        (201, Outcome::Success),
        (302, Outcome::Success),
        (400, Outcome::Success),
        (404, Outcome::Success),
        (429, Outcome::Success),
        (500, Outcome::Failure),
        (502, Outcome::Failure),
        (503, Outcome::Failure),
        (504, Outcome::Failure),
    ] {
        let res = Response::builder()
            .status(status)
            .body(Bytes::new())
            .unwrap();
        assert_eq!(
            Classify::<_, Infallible>::classify(&c, Ok(&res)),
            expected,
            "{status}"
        );
    }
    let c = c.also_failure(StatusCode::TOO_MANY_REQUESTS);
    let res = Response::builder().status(429).body(Bytes::new()).unwrap();
    assert_eq!(
        Classify::<_, Infallible>::classify(&c, Ok(&res)),
        Outcome::Failure
    );
}

#[test]
fn grpc_status_in_headers_is_read_at_once() {
    let c = GrpcErrors::new();
    let res = Response::builder()
        .header("grpc-status", "13")
        .body(())
        .unwrap();
    assert_eq!(
        c.classify_response(&res),
        GrpcVerdict::Ready(Outcome::Failure)
    );
    let res = Response::builder()
        .header("grpc-status", "3")
        .body(())
        .unwrap();
    assert_eq!(
        c.classify_response(&res),
        GrpcVerdict::Ready(Outcome::Success)
    );
    let c = c.failure(GrpcCode::InvalidArgument);
    assert_eq!(
        c.classify_response(&res),
        GrpcVerdict::Ready(Outcome::Failure)
    );
}

#[test]
fn grpc_status_missing_from_headers_waits_for_trailers() {
    let c = GrpcErrors::new();
    let res = Response::new(());
    assert_eq!(c.classify_response(&res), GrpcVerdict::AtEndOfStream);
    assert_eq!(
        Classify::<_, Infallible>::classify(&c, Ok(&res)),
        Outcome::Ignored
    );
}

#[tokio::test]
async fn grpc_status_in_trailers() {
    let (b, seen) = classified(vec![
        Ok(Frame::data(Bytes::from_static(b"one"))),
        Ok(Frame::data(Bytes::from_static(b"two"))),
        Ok(Frame::trailers(trailers("14"))),
    ]);
    let collected = b.collect().await.unwrap();
    assert_eq!(collected.trailers().unwrap()["grpc-status"], "14");
    assert_eq!(*seen.lock().unwrap(), vec![Outcome::Failure]);

    let (b, seen) = classified(vec![Ok(Frame::trailers(trailers("0")))]);
    b.collect().await.unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![Outcome::Success]);
}

#[tokio::test]
async fn grpc_stream_without_trailers_or_status() {
    // No trailers at all: nothing says the call failed.
    let (b, seen) = classified(vec![Ok(Frame::data(Bytes::from_static(b"x")))]);
    b.collect().await.unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![Outcome::Success]);

    // Trailers without grpc-status.
    let mut t = HeaderMap::new();
    t.insert("x-other", "1".parse().unwrap());
    let (b, seen) = classified(vec![Ok(Frame::trailers(t))]);
    b.collect().await.unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![Outcome::Success]);
}

#[tokio::test]
async fn grpc_body_error_is_a_failure_reported_once() {
    let (b, seen) = classified(vec![
        Ok(Frame::data(Bytes::from_static(b"x"))),
        Err(std::io::Error::other("reset")),
    ]);
    assert!(b.collect().await.is_err());
    assert_eq!(*seen.lock().unwrap(), vec![Outcome::Failure]);
}

#[tokio::test]
async fn grpc_early_drop_is_ignored() {
    let (mut b, seen) = classified(vec![
        Ok(Frame::data(Bytes::from_static(b"first"))),
        Ok(Frame::data(Bytes::from_static(b"second"))),
        Ok(Frame::trailers(trailers("13"))),
    ]);
    let first = b.frame().await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), Bytes::from_static(b"first"));
    assert!(seen.lock().unwrap().is_empty(), "no verdict before the end");
    drop(b);
    assert_eq!(*seen.lock().unwrap(), vec![Outcome::Ignored]);
}
