//! With a real `metrics` recorder (metrics-util's debugging recorder, installed
//! for this thread only), the exported names, labels and counts match.
#![cfg(all(feature = "metrics", feature = "axum"))]

use std::{collections::BTreeMap, time::Duration};

use axum::{Router, body::Body, routing::get};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use metrics_util::{
    MetricKind,
    debugging::{DebugValue, DebuggingRecorder, Snapshotter},
};
use palisade_latency::{LatencyTracker, RouteFrom};
use tower::ServiceExt;

type Labels = BTreeMap<String, String>;

fn collect(snapshotter: &Snapshotter) -> Vec<(MetricKind, String, Labels, DebugValue)> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(ck, _, _, value)| {
            let (kind, key) = ck.into_parts();
            let labels = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            (kind, key.name().to_owned(), labels, value)
        })
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn find<'a>(
    all: &'a [(MetricKind, String, Labels, DebugValue)],
    name: &str,
    want: &Labels,
) -> &'a DebugValue {
    all.iter()
        .find(|(_, n, l, _)| n == name && l == want)
        .map(|(_, _, _, v)| v)
        .unwrap_or_else(|| {
            panic!(
                "no {name} {want:?} in {:#?}",
                all.iter().map(|m| (&m.1, &m.2)).collect::<Vec<_>>()
            )
        })
}

async fn send(app: &Router, uri: &str) {
    let res = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    res.into_body().collect().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn durations_active_requests_and_slow_requests() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);

    let tracker = LatencyTracker::builder("m")
        .route(RouteFrom::AxumMatchedPath)
        .slow_threshold(Duration::from_millis(50))
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/users/{id}",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                "u"
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                (StatusCode::SERVICE_UNAVAILABLE, "busy")
            }),
        )
        .layer(tracker.layer());
    for i in 0..3 {
        send(&app, &format!("/users/{i}")).await;
    }
    send(&app, "/slow").await;
    send(&app, "/slow").await;
    send(&app, "/missing").await;

    let all = collect(&snapshotter);
    let users = labels(&[
        ("name", "m"),
        ("http_request_method", "GET"),
        ("http_route", "/users/{id}"),
        ("http_response_status_code", "200"),
    ]);
    let DebugValue::Histogram(samples) = find(&all, "http_server_request_duration_seconds", &users)
    else {
        panic!("not a histogram");
    };
    assert_eq!(samples.len(), 3);
    assert!(
        samples.iter().all(|s| (s.0 - 0.020).abs() < 0.002),
        "{samples:?}"
    );

    let slow = labels(&[
        ("name", "m"),
        ("http_request_method", "GET"),
        ("http_route", "/slow"),
        ("http_response_status_code", "503"),
    ]);
    let DebugValue::Histogram(samples) = find(&all, "http_server_request_duration_seconds", &slow)
    else {
        panic!("not a histogram");
    };
    assert_eq!(samples.len(), 2);
    let missing = labels(&[
        ("name", "m"),
        ("http_request_method", "GET"),
        ("http_route", "unmatched"),
        ("http_response_status_code", "404"),
    ]);
    assert!(
        matches!(find(&all, "http_server_request_duration_seconds", &missing), DebugValue::Histogram(s) if s.len() == 1)
    );

    let slow_count = find(
        &all,
        "palisade_latency_slow_requests_total",
        &labels(&[("name", "m"), ("route", "/slow")]),
    );
    assert_eq!(*slow_count, DebugValue::Counter(2));
    let not_slow = find(
        &all,
        "palisade_latency_slow_requests_total",
        &labels(&[("name", "m"), ("route", "/users/{id}")]),
    );
    assert_eq!(*not_slow, DebugValue::Counter(0));
    let active = find(
        &all,
        "http_server_active_requests",
        &labels(&[("name", "m")]),
    );
    assert!(
        matches!(active, DebugValue::Gauge(v) if v.0 == 0.0),
        "{active:?}"
    );
    assert_eq!(tracker.snapshot().route("GET", "/slow").unwrap().slow, 2);
}

#[tokio::test]
async fn blocking_polls_and_errors_are_exported() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);

    let tracker = LatencyTracker::builder("b")
        .route(RouteFrom::GrpcMethod)
        .blocking_threshold(Duration::from_millis(10))
        .build()
        .unwrap();
    let svc = tower::ServiceBuilder::new()
        .layer(tracker.layer())
        .service(tower::service_fn(|req: Request<()>| async move {
            std::thread::sleep(Duration::from_millis(20));
            if req.headers().contains_key("x-fail") {
                return Err(std::io::Error::other("transport"));
            }
            Ok(http::Response::new(
                http_body_util::Empty::<bytes::Bytes>::new(),
            ))
        }));
    // The method is answered once (so it is a route: the client named it),
    // then fails with an error of the inner service.
    let ok = svc
        .clone()
        .oneshot(Request::post("/pkg.Svc/Get").body(()).unwrap())
        .await
        .unwrap();
    ok.into_body().collect().await.unwrap();
    let failing = Request::post("/pkg.Svc/Get")
        .header("x-fail", "1")
        .body(())
        .unwrap();
    assert!(svc.oneshot(failing).await.is_err());

    let all = collect(&snapshotter);
    let blocking = find(
        &all,
        "palisade_latency_blocking_polls_total",
        &labels(&[("name", "b"), ("route", "/pkg.Svc/Get")]),
    );
    assert_eq!(*blocking, DebugValue::Counter(2));
    let error = labels(&[
        ("name", "b"),
        ("http_request_method", "POST"),
        ("http_route", "/pkg.Svc/Get"),
        ("error_type", "error"),
    ]);
    assert!(
        matches!(find(&all, "http_server_request_duration_seconds", &error), DebugValue::Histogram(s) if s.len() == 1)
    );
    let snap = tracker.snapshot();
    let get = snap.route("POST", "/pkg.Svc/Get").unwrap();
    assert_eq!((get.count, get.errors, get.blocking_polls), (2, 1, 2));
    assert!(snap.route("POST", palisade_latency::UNMATCHED).is_none());
}
