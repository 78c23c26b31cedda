//! Any builder input either is refused by `build()` with a `ConfigError`
//! naming its field, or gives a tracker that then records a few hundred
//! requests — slow ones, blocking ones, failed ones, aborted ones, junk gRPC
//! methods, across window rotations — and reports them, without a panic
//! (paused time).

#![cfg(feature = "axum")]

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use palisade_latency::{LatencyTracker, RouteFn, RouteFrom};
use proptest::prelude::*;
use tower::{Layer, ServiceExt, service_fn};

const FIELDS: [&str; 6] = [
    "name",
    "max_routes",
    "slow_threshold",
    "blocking_threshold",
    "window",
    "shards",
];

fn usize_value() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0),
        Just(1),
        2usize..100,
        Just(10_000),
        Just(10_001),
        Just(usize::MAX),
        any::<usize>(),
    ]
}

fn duration_value() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::from_nanos(1)),
        (1u64..100).prop_map(Duration::from_millis),
        Just(Duration::from_secs(1)),
        Just(Duration::from_secs(86_400)),
        Just(Duration::from_secs(86_401)),
        Just(Duration::MAX),
        any::<u64>().prop_map(Duration::from_nanos),
        any::<u64>().prop_map(Duration::from_secs),
    ]
}

fn route_from() -> impl Strategy<Value = Option<RouteFrom>> {
    prop_oneof![
        Just(None),
        Just(Some(RouteFrom::None)),
        Just(Some(RouteFrom::Auto)),
        Just(Some(RouteFrom::GrpcMethod)),
        Just(Some(RouteFrom::AxumMatchedPath)),
        Just(Some(RouteFrom::Fn(RouteFn::new(|head| Some(
            head.uri.path()
        ))))),
    ]
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

/// Request `i`: a path among 40 (some gRPC), a status, a delay, sometimes a
/// poll that blocks the thread or an error of the inner service.
async fn handler(req: Request<()>) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let i: u64 = req.headers()["x-i"].to_str().unwrap().parse().unwrap();
    tokio::time::sleep(Duration::from_millis(i % 5 * 7)).await;
    if i.is_multiple_of(31) {
        // A poll that holds the thread (a tiny real pause: paused time does not move).
        std::thread::sleep(Duration::from_micros(50));
    }
    if i.is_multiple_of(17) {
        return Err(std::io::Error::other("inner error"));
    }
    let mut res = Response::builder().status(match i % 6 {
        0 => StatusCode::NOT_FOUND,
        1 => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::OK,
    });
    if i.is_multiple_of(3) {
        res = res
            .header("content-type", "application/grpc")
            .header("grpc-status", if i.is_multiple_of(4) { "12" } else { "0" });
    }
    Ok(res.body(Full::new(Bytes::from_static(b"body"))).unwrap())
}

fn request(i: u64) -> Request<()> {
    let mut b = Request::builder()
        .method(if i.is_multiple_of(9) { "PURGE" } else { "GET" })
        .header("x-i", i.to_string());
    if i.is_multiple_of(3) {
        b = b
            .uri(format!("/pkg.Svc{}/Method", i % 40))
            .header("content-type", "application/grpc");
    } else {
        b = b.uri(format!("/r{}/x", i % 40));
    }
    b.body(()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn latency_tracker_builder_refuses_or_records(
        empty_name in proptest::bool::weighted(0.1),
        route in route_from(),
        max_routes in proptest::option::of(usize_value()),
        slow in proptest::option::of(duration_value()),
        blocking in proptest::option::of(duration_value()),
        window in proptest::option::of(duration_value()),
        shards in proptest::option::of(usize_value()),
    ) {
        paused_runtime().block_on(async {
            let claims_grpc = matches!(route, Some(RouteFrom::GrpcMethod))
                || (cfg!(feature = "grpc") && matches!(route, None | Some(RouteFrom::Auto)));
            let mut b = LatencyTracker::builder(if empty_name { "" } else { "prop" });
            if let Some(r) = route {
                b = b.route(r);
            }
            if let Some(v) = max_routes {
                b = b.max_routes(v);
            }
            if let Some(v) = slow {
                b = b.slow_threshold(v);
            }
            if let Some(v) = blocking {
                b = b.blocking_threshold(v);
            }
            if let Some(v) = window {
                b = b.window(v);
            }
            if let Some(v) = shards {
                b = b.shards(v);
            }
            let tracker = match b.build() {
                Ok(t) => t,
                Err(err) => {
                    prop_assert!(FIELDS.contains(&err.field()), "unexpected field {}", err.field());
                    prop_assert!(err.to_string().starts_with(err.field()), "{}", err);
                    return Ok(());
                }
            };
            let svc = tracker.layer().layer(service_fn(handler));
            let mut recorded = 0u64;
            for i in 0..300u64 {
                match svc.clone().oneshot(request(i)).await {
                    Ok(res) if i % 11 == 0 => drop(res), // body dropped: aborted
                    Ok(res) => {
                        res.into_body().collect().await.expect("body");
                    }
                    Err(_) => prop_assert_eq!(i % 17, 0),
                }
                recorded += 1;
                if i % 50 == 49 {
                    // Across windows (the longest accepted is one day).
                    tokio::time::advance(Duration::from_secs(86_400 / 3)).await;
                }
            }
            // A caller that gives up before the response: aborted too.
            let gone = tokio::time::timeout(
                Duration::from_millis(1),
                svc.clone().oneshot(request(4)),
            )
            .await;
            prop_assert!(gone.is_err());
            recorded += 1;

            let snap = tracker.snapshot();
            let total: u64 = snap.routes().iter().map(|r| r.count).sum();
            prop_assert_eq!(total, recorded);
            let max = max_routes.unwrap_or(palisade_latency::DEFAULT_MAX_ROUTES);
            // Known routes, plus `unmatched` and `other` (per method).
            let names: std::collections::HashSet<&str> =
                snap.routes().iter().map(|r| &*r.route).collect();
            prop_assert!(names.len() <= max + 2, "{} routes for max {}", names.len(), max);
            // A gRPC method the server always answers UNIMPLEMENTED (those
            // of `n % 4 == 0`) is never a route of its own.
            if claims_grpc {
                for r in snap.routes() {
                    if let Some(n) = r.route.strip_prefix("/pkg.Svc") {
                        let n: u64 = n.trim_end_matches("/Method").parse().unwrap();
                        prop_assert!(!n.is_multiple_of(4), "{} is a route", r.route);
                    }
                }
            }
            let json = snap.to_json();
            prop_assert_eq!(&json["name"], "prop");
            let page = tracker
                .report()
                .oneshot(Request::get("/latency").body(()).unwrap())
                .await
                .unwrap();
            prop_assert_eq!(page.status(), StatusCode::OK);
            Ok(())
        })?;
    }
}
