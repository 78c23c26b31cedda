//! Body timing: time to head and time to end, and bodies dropped early.

use std::{convert::Infallible, time::Duration};

use bytes::Bytes;
use futures_util::stream;
use http::{Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use palisade_latency::{LatencyTracker, RouteFn, RouteFrom};
use tower::{ServiceBuilder, ServiceExt, service_fn};

type Streaming = StreamBody<stream::BoxStream<'static, Result<Frame<Bytes>, Infallible>>>;

/// Head after 10 ms; then three chunks, the last one 100 ms after the head.
async fn streaming(_req: Request<()>) -> Result<Response<Streaming>, Infallible> {
    tokio::time::sleep(Duration::from_millis(10)).await;
    let chunks = stream::unfold(0u8, |i| async move {
        if i == 3 {
            return None;
        }
        let wait = if i == 0 { 20 } else { 40 };
        tokio::time::sleep(Duration::from_millis(wait)).await;
        Some((Ok(Frame::data(Bytes::from_static(b"chunk"))), i + 1))
    });
    Ok(Response::new(StreamBody::new(
        Box::pin(chunks) as stream::BoxStream<'static, _>
    )))
}

fn tracker() -> LatencyTracker {
    LatencyTracker::builder("body")
        .route(RouteFrom::Fn(RouteFn::new(|_| Some("/stream"))))
        .build()
        .unwrap()
}

fn close(got: Duration, want_ms: u64) -> bool {
    let want = Duration::from_millis(want_ms);
    let slack = want / 50 + Duration::from_millis(1);
    got + slack >= want && got <= want + slack
}

#[tokio::test(start_paused = true)]
async fn a_body_ending_100ms_after_the_head_records_both_durations() {
    let tracker = tracker();
    let svc = ServiceBuilder::new()
        .layer(tracker.layer())
        .service(service_fn(streaming));
    let res = svc
        .oneshot(Request::get("/").body(()).unwrap())
        .await
        .unwrap();

    // The head is out; nothing is recorded until the body ends.
    assert!(tracker.snapshot().routes().is_empty());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"chunkchunkchunk");

    let snap = tracker.snapshot();
    let s = snap.route("GET", "/stream").unwrap();
    assert_eq!((s.count, s.aborted), (1, 0));
    assert!(
        close(s.head_quantile(1.0), 10),
        "head {:?}",
        s.head_quantile(1.0)
    );
    assert!(close(s.quantile(1.0), 110), "end {:?}", s.quantile(1.0));
    assert!(close(s.max, 110));
}

#[tokio::test(start_paused = true)]
async fn a_body_dropped_early_is_recorded_as_aborted() {
    let tracker = tracker();
    let svc = ServiceBuilder::new()
        .layer(tracker.layer())
        .service(service_fn(streaming));
    let res = svc
        .oneshot(Request::get("/").body(()).unwrap())
        .await
        .unwrap();
    let mut body = res.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), Bytes::from_static(b"chunk"));
    drop(body); // the client went away after 30 ms

    let snap = tracker.snapshot();
    let s = snap.route("GET", "/stream").unwrap();
    assert_eq!((s.count, s.aborted, s.errors), (1, 1, 0));
    assert!(close(s.quantile(1.0), 30), "{:?}", s.quantile(1.0));
    assert!(close(s.head_quantile(1.0), 10));
}

#[tokio::test(start_paused = true)]
async fn a_body_dropped_right_after_its_trailers_has_ended() {
    let tracker = tracker();
    let svc = ServiceBuilder::new()
        .layer(tracker.layer())
        .service(service_fn(|_req: Request<()>| async {
            let frames = stream::iter([
                Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"chunk"))),
                Ok(Frame::trailers(http::HeaderMap::new())),
            ]);
            Ok::<_, Infallible>(Response::new(StreamBody::new(
                Box::pin(frames) as stream::BoxStream<'static, _>
            )))
        }));
    let res = svc
        .oneshot(Request::get("/").body(()).unwrap())
        .await
        .unwrap();
    let mut body = res.into_body();
    assert!(body.frame().await.unwrap().unwrap().is_data());
    assert!(body.frame().await.unwrap().unwrap().is_trailers());
    // As hyper's HTTP/2 server does: the trailers are sent, the body dropped
    // without being polled to `None`.
    drop(body);

    let snap = tracker.snapshot();
    let s = snap.route("GET", "/stream").unwrap();
    assert_eq!((s.count, s.aborted, s.errors), (1, 0, 0));
}
