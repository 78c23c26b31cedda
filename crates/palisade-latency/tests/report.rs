//! The report service: JSON matching the snapshot, and an HTML page with every route.
#![cfg(feature = "axum")]

use std::time::Duration;

use axum::{Router, body::Body, routing::get};
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use palisade_latency::{LatencyTracker, RouteFrom};
use tower::ServiceExt;

async fn get_body(app: &Router, uri: &str, accept: &str) -> (StatusCode, String, String) {
    let req = Request::get(uri)
        .header(header::ACCEPT, accept)
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let ctype = res
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, ctype, String::from_utf8(body.to_vec()).unwrap())
}

fn app(tracker: &LatencyTracker) -> Router {
    Router::new()
        .route(
            "/users/{id}",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(12)).await;
                "user"
            }),
        )
        .route(
            "/orders/{id}/items",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "no") }),
        )
        .layer(tracker.layer())
        // Mounted after the layer: the report itself is not tracked.
        .route_service("/latency", tracker.report())
}

#[tokio::test(start_paused = true)]
async fn json_matches_the_snapshot() {
    let tracker = LatencyTracker::builder("report")
        .route(RouteFrom::AxumMatchedPath)
        .build()
        .unwrap();
    let app = app(&tracker);
    for i in 0..5 {
        get_body(&app, &format!("/users/{i}"), "*/*").await;
    }
    get_body(&app, "/orders/1/items", "*/*").await;
    get_body(&app, "/missing", "*/*").await;

    let (status, ctype, body) = get_body(&app, "/latency", "application/json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ctype, "application/json");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let snap = tracker.snapshot();
    // Paused time: the snapshot is taken at the same instant, so it is the same document.
    assert_eq!(json, serde_json::to_value(&snap).unwrap());
    assert_eq!(json, snap.to_json());

    assert_eq!(json["name"], "report");
    let routes = json["cumulative"]["routes"].as_array().unwrap();
    assert_eq!(routes.len(), 3);
    let users = routes.iter().find(|r| r["route"] == "/users/{id}").unwrap();
    let s = snap.route("GET", "/users/{id}").unwrap();
    assert_eq!(users["count"], 5);
    assert_eq!(users["method"], "GET");
    assert_eq!(users["p99_us"], s.quantile(0.99).as_micros() as u64);
    // Every handler sleeps 12 ms (paused time); hdrhistogram keeps 1%.
    let p99 = users["p99_us"].as_u64().unwrap();
    assert!((12_000..=12_120).contains(&p99), "p99 {p99} µs");
    assert_eq!(users["classes"]["2xx"]["count"], 5);
    let orders = routes
        .iter()
        .find(|r| r["route"] == "/orders/{id}/items")
        .unwrap();
    assert_eq!(
        (orders["count"].as_u64(), orders["errors"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(orders["classes"]["5xx"]["errors"], 1);
    assert!(
        routes
            .iter()
            .any(|r| r["route"] == "unmatched" && r["classes"]["4xx"]["count"] == 1)
    );
    assert_eq!(json["window"]["routes"].as_array().unwrap().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn html_page_has_every_route_and_no_scripts() {
    let tracker = LatencyTracker::builder("page <demo>")
        .route(RouteFrom::AxumMatchedPath)
        .build()
        .unwrap();
    let app = app(&tracker);

    let (_, ctype, empty) = get_body(&app, "/latency", "text/html").await;
    assert!(ctype.starts_with("text/html"));
    assert!(empty.contains("No requests recorded yet"));

    get_body(&app, "/users/1", "*/*").await;
    get_body(&app, "/orders/2/items", "*/*").await;
    get_body(&app, "/nope", "*/*").await;
    let (status, _, html) = get_body(&app, "/latency", "text/html,application/xhtml+xml").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.starts_with("<!DOCTYPE html>"));
    for route in snapshot_routes(&tracker) {
        assert!(
            html.contains(&format!("<td class=\"l\">{route}</td>")),
            "{route} missing"
        );
    }
    assert_eq!(html.matches("<svg").count(), 3);
    assert!(!html.contains("<script"));
    assert!(!html.contains("src=\"http"));
    // The tracker name is escaped.
    assert!(html.contains("page &lt;demo&gt;"));
}

fn snapshot_routes(tracker: &LatencyTracker) -> Vec<String> {
    let snap = tracker.snapshot();
    let routes: Vec<String> = snap.routes().iter().map(|r| r.route.to_string()).collect();
    assert_eq!(routes.len(), 3);
    routes
}
