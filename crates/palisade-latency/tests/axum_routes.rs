//! Routes from a real axum `Router`: templates, `unmatched`, and `other`.
#![cfg(feature = "axum")]

use axum::{Router, body::Body, routing::get};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use palisade_latency::{LatencyTracker, OTHER, RouteFrom, StatusClass, UNMATCHED};
use tower::ServiceExt;

async fn send(app: &Router, method: &str, uri: &str) -> StatusCode {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    res.into_body().collect().await.unwrap();
    status
}

#[tokio::test(start_paused = true)]
async fn matched_path_is_the_template_and_unknown_paths_are_unmatched() {
    let tracker = LatencyTracker::builder("axum")
        .route(RouteFrom::AxumMatchedPath)
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/users/{id}",
            get(|| async { "user" }).post(|| async { StatusCode::CREATED }),
        )
        .route("/health", get(|| async { "ok" }))
        .layer(tracker.layer());

    for id in [1, 42, 7] {
        assert_eq!(
            send(&app, "GET", &format!("/users/{id}")).await,
            StatusCode::OK
        );
    }
    assert_eq!(send(&app, "POST", "/users/9").await, StatusCode::CREATED);
    assert_eq!(send(&app, "GET", "/health").await, StatusCode::OK);
    assert_eq!(
        send(&app, "GET", "/no/such/path").await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&app, "GET", "/users/1/extra").await,
        StatusCode::NOT_FOUND
    );

    let snap = tracker.snapshot();
    // One state for every route the layer was cloned into.
    assert_eq!(snap.route("GET", "/users/{id}").unwrap().count, 3);
    assert_eq!(snap.route("POST", "/users/{id}").unwrap().count, 1);
    assert_eq!(snap.route("GET", "/health").unwrap().count, 1);
    let unmatched = snap
        .route_class("GET", UNMATCHED, StatusClass::ClientError)
        .unwrap();
    assert_eq!(unmatched.count, 2);
    // Never the raw path.
    for r in snap.routes() {
        assert!(
            !r.route.contains("42") && !r.route.contains("no/such"),
            "{}",
            r.route
        );
    }
    assert_eq!(snap.routes().len(), 4);
}

#[tokio::test(start_paused = true)]
async fn routes_beyond_max_routes_fold_into_other() {
    let tracker = LatencyTracker::builder("fold")
        .route(RouteFrom::AxumMatchedPath)
        .max_routes(2)
        .build()
        .unwrap();
    let mut app = Router::new();
    for i in 0..5 {
        app = app.route(&format!("/r{i}"), get(|| async { "x" }));
    }
    let app = app.layer(tracker.layer());
    for i in 0..5 {
        send(&app, "GET", &format!("/r{i}")).await;
        send(&app, "GET", &format!("/r{i}")).await;
    }
    let snap = tracker.snapshot();
    assert_eq!(snap.route("GET", "/r0").unwrap().count, 2);
    assert_eq!(snap.route("GET", "/r1").unwrap().count, 2);
    assert!(snap.route("GET", "/r2").is_none());
    assert_eq!(snap.route("GET", OTHER).unwrap().count, 6);
    assert_eq!(snap.routes().iter().map(|r| r.count).sum::<u64>(), 10);
}

#[tokio::test(start_paused = true)]
async fn outside_the_router_every_request_is_unmatched() {
    // Applied around the Router, the layer runs before routing: no template.
    let tracker = LatencyTracker::builder("outer")
        .route(RouteFrom::AxumMatchedPath)
        .build()
        .unwrap();
    let app = Router::new().route("/users/{id}", get(|| async { "user" }));
    let svc = tower::ServiceBuilder::new()
        .layer(tracker.layer())
        .service(app);
    let res = svc
        .oneshot(Request::get("/users/5").body(Body::empty()).unwrap())
        .await
        .unwrap();
    res.into_body().collect().await.unwrap();
    assert_eq!(tracker.snapshot().route("GET", UNMATCHED).unwrap().count, 1);
}

#[tokio::test(start_paused = true)]
async fn the_default_builder_records_the_axum_template() {
    // No `.route(...)`: the default takes axum's `MatchedPath`.
    let tracker = LatencyTracker::builder("default").build().unwrap();
    let app = Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .layer(tracker.layer());
    for id in [1, 42] {
        assert_eq!(
            send(&app, "GET", &format!("/users/{id}")).await,
            StatusCode::OK
        );
    }
    assert_eq!(send(&app, "GET", "/nope").await, StatusCode::NOT_FOUND);
    let snap = tracker.snapshot();
    assert_eq!(snap.route("GET", "/users/{id}").unwrap().count, 2);
    assert_eq!(
        snap.route_class("GET", UNMATCHED, StatusClass::ClientError)
            .unwrap()
            .count,
        1
    );
    assert_eq!(snap.routes().len(), 2, "{:?}", snap.routes());

    // `route(...)` still overrides the default.
    let tracker = LatencyTracker::builder("none")
        .route(RouteFrom::None)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .layer(tracker.layer());
    send(&app, "GET", "/users/1").await;
    let snap = tracker.snapshot();
    assert!(snap.route("GET", "/users/{id}").is_none());
    assert_eq!(snap.route("GET", UNMATCHED).unwrap().count, 1);
}
