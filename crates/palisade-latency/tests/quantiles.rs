//! Known latencies in, known quantiles out — per route and class, with paused time.

use std::{convert::Infallible, time::Duration};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use palisade_latency::{LatencyTracker, RouteFn, RouteFrom, StatusClass};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

/// Answers after `?ms=N` milliseconds with `?status=S`; the route is the path.
async fn handler(req: Request<()>) -> Result<Response<Empty<Bytes>>, Infallible> {
    let q = req.uri().query().unwrap_or_default();
    let param = |k: &str| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
            .and_then(|v| v.parse::<u64>().ok())
    };
    tokio::time::sleep(Duration::from_millis(param("ms").unwrap_or(0))).await;
    let mut res = Response::new(Empty::new());
    *res.status_mut() = StatusCode::from_u16(param("status").unwrap_or(200) as u16).unwrap();
    Ok(res)
}

fn path_route() -> RouteFrom {
    RouteFrom::Fn(RouteFn::new(|head| Some(head.uri.path())))
}

fn close(got: Duration, want_ms: u64) -> bool {
    // hdrhistogram keeps two significant digits (1%); the paused clock may
    // land on the next millisecond tick.
    let want = Duration::from_millis(want_ms);
    let slack = want / 100 + Duration::from_millis(1);
    got + slack >= want && got <= want + slack
}

async fn call<S>(svc: &mut S, method: &str, uri: &str)
where
    S: Service<Request<()>, Response = Response<palisade_latency::LatencyBody<Empty<Bytes>>>>,
    S::Error: std::fmt::Debug,
{
    let req = Request::builder().method(method).uri(uri).body(()).unwrap();
    let res = svc.ready().await.unwrap().call(req).await.unwrap();
    res.into_body().collect().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn known_latencies_give_known_quantiles_per_route_and_class() {
    let tracker = LatencyTracker::builder("q")
        .route(path_route())
        .build()
        .unwrap();
    let mut svc = ServiceBuilder::new()
        .layer(tracker.layer())
        .service(service_fn(handler));

    for ms in 1..=100 {
        call(&mut svc, "GET", &format!("/a?ms={ms}")).await;
    }
    for _ in 0..10 {
        call(&mut svc, "GET", "/a?ms=200&status=503").await;
    }
    for _ in 0..5 {
        call(&mut svc, "POST", "/b?ms=30&status=404").await;
    }
    call(&mut svc, "PURGE", "/b?ms=7").await;

    let snap = tracker.snapshot();
    let ok = snap.route_class("GET", "/a", StatusClass::Success).unwrap();
    assert_eq!(ok.count, 100);
    assert_eq!(ok.errors, 0);
    assert!(close(ok.quantile(0.5), 50), "p50 {:?}", ok.quantile(0.5));
    assert!(close(ok.quantile(0.9), 90), "p90 {:?}", ok.quantile(0.9));
    assert!(close(ok.quantile(0.99), 99), "p99 {:?}", ok.quantile(0.99));
    assert!(close(ok.max, 100), "max {:?}", ok.max);
    assert!(close(ok.mean, 50), "mean {:?}", ok.mean); // (1 + 100) / 2 = 50.5
    // An empty body ends with the head: both durations are the same.
    assert_eq!(ok.head_quantile(0.9), ok.quantile(0.9));

    let failed = snap
        .route_class("GET", "/a", StatusClass::ServerError)
        .unwrap();
    assert_eq!((failed.count, failed.errors), (10, 10));
    assert!(close(failed.quantile(0.5), 200));

    let all = snap.route("GET", "/a").unwrap();
    assert_eq!((all.count, all.errors, all.class), (110, 10, None));
    // 10 of 110 requests took 200 ms: the p95 is one of them, the p90 is not.
    assert!(
        close(all.quantile(0.95), 200),
        "p95 {:?}",
        all.quantile(0.95)
    );
    // The 99th of 110 values in order: 99 ms (not a 200 ms one, not lower).
    assert!(close(all.quantile(0.9), 99), "p90 {:?}", all.quantile(0.9));
    assert!(all.quantile(0.9) < Duration::from_millis(101));

    let b = snap
        .route_class("POST", "/b", StatusClass::ClientError)
        .unwrap();
    assert_eq!((b.count, b.errors), (5, 0));
    assert!(close(b.quantile(0.99), 30));
    assert!(snap.route("GET", "/b").is_none());

    // A non-standard method is recorded as _OTHER, and looked up either way.
    let other = snap.route("_OTHER", "/b").unwrap();
    assert_eq!(other.count, 1);
    assert_eq!(other.method, "_OTHER");
    assert_eq!(snap.route("PURGE", "/b").unwrap().count, 1);

    // Rates: requests over the time since the tracker started.
    let expected = 116.0 / snap.uptime().as_secs_f64();
    let total: f64 = snap.routes().iter().map(|r| r.rate_per_sec).sum();
    assert!((total - expected).abs() < 1e-6, "{total} vs {expected}");
    // Quantiles clamp bad input instead of panicking.
    assert_eq!(ok.quantile(f64::NAN), ok.quantile(0.0));
    assert_eq!(ok.quantile(7.0), ok.quantile(1.0));
}

#[tokio::test(start_paused = true)]
async fn windows_rotate_without_losing_the_cumulative_view() {
    let tracker = LatencyTracker::builder("w")
        .route(path_route())
        .window(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut svc = ServiceBuilder::new()
        .layer(tracker.layer())
        .service(service_fn(handler));

    for _ in 0..4 {
        call(&mut svc, "GET", "/w?ms=5").await;
    }
    tokio::time::advance(Duration::from_secs(12)).await; // window 1
    for _ in 0..3 {
        call(&mut svc, "GET", "/w?ms=50").await;
    }
    let snap = tracker.snapshot();
    assert_eq!(snap.route("GET", "/w").unwrap().count, 7);
    assert_eq!(snap.window().route("GET", "/w").unwrap().count, 7);

    tokio::time::advance(Duration::from_secs(10)).await; // window 2: window 0 leaves the view
    call(&mut svc, "GET", "/w?ms=500").await;
    let snap = tracker.snapshot();
    let recent = snap.window().route("GET", "/w").unwrap();
    assert_eq!(recent.count, 4);
    assert!(
        close(recent.quantile(0.0), 50),
        "{:?}",
        recent.quantile(0.0)
    );
    let all = snap.route("GET", "/w").unwrap();
    assert_eq!(all.count, 8);
    assert!(close(all.quantile(0.0), 5));
    assert!(close(all.max, 500));
    // The window covers from the start of the previous window to now.
    // 4 × 5 ms + 12 s + 3 × 50 ms + 10 s + 500 ms = 22.67 s since the
    // start; the previous window started at 10 s.
    assert_eq!(snap.window().elapsed(), Duration::from_millis(12_670));

    tokio::time::advance(Duration::from_secs(60)).await;
    let snap = tracker.snapshot();
    assert!(snap.window().routes().is_empty());
    assert_eq!(snap.route("GET", "/w").unwrap().count, 8);
}

#[tokio::test(start_paused = true)]
async fn errors_and_dropped_futures_are_recorded() {
    let tracker = LatencyTracker::builder("e")
        .route(path_route())
        .build()
        .unwrap();
    let mut svc = ServiceBuilder::new()
        .layer(tracker.layer())
        .service(service_fn(|req: Request<()>| async move {
            tokio::time::sleep(Duration::from_millis(40)).await;
            if req.uri().path() == "/fail" {
                Err::<Response<Empty<Bytes>>, _>(std::io::Error::other("boom"))
            } else {
                Ok(Response::new(Empty::new()))
            }
        }));
    let err = svc
        .ready()
        .await
        .unwrap()
        .call(Request::get("/fail").body(()).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "boom");

    // A caller that gives up after 10 ms: the request is recorded as aborted.
    let fut = svc
        .ready()
        .await
        .unwrap()
        .call(Request::get("/gone").body(()).unwrap());
    assert!(
        tokio::time::timeout(Duration::from_millis(10), fut)
            .await
            .is_err()
    );

    let snap = tracker.snapshot();
    let failed = snap
        .route_class("GET", "/fail", StatusClass::Error)
        .unwrap();
    assert_eq!((failed.count, failed.errors, failed.aborted), (1, 1, 0));
    assert!(close(failed.quantile(1.0), 40));
    let gone = snap.route("GET", "/gone").unwrap();
    assert_eq!((gone.count, gone.aborted), (1, 1));
    assert!(close(gone.max, 10));
}
