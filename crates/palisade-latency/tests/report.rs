//! The report service: JSON matching the snapshot, and the shared page
//! drawing it (its drawing in a real browser is tested by
//! `palisade-health`'s browser test, which serves this page too).
#![cfg(feature = "axum")]

use std::time::Duration;

use axum::{Router, body::Body, routing::get};
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use palisade_latency::{LatencyTracker, RouteFrom, page};
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
    assert_eq!(users["p95_us"], s.quantile(0.95).as_micros() as u64);
    let buckets = users["distribution"].as_array().unwrap();
    let counted: u64 = buckets.iter().map(|b| b[1].as_u64().unwrap()).sum();
    assert_eq!(counted, 5, "{buckets:?}");
    assert!(buckets[0][1].as_u64().unwrap() > 0, "starts at the fastest");
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

/// The data embedded in a page.
fn embedded(html: &str) -> serde_json::Value {
    let from = html
        .find("<script type=\"application/json\" id=\"initial\">")
        .expect("the page embeds its data");
    let data = &html[from..];
    let data = &data[data.find('>').unwrap() + 1..data.find("</script>").unwrap()];
    serde_json::from_str(&data.replace("<\\/", "</")).unwrap()
}

#[tokio::test(start_paused = true)]
async fn html_page_is_the_shared_page_drawing_the_report() {
    let tracker = LatencyTracker::builder("page <demo>")
        .route(RouteFrom::AxumMatchedPath)
        .build()
        .unwrap();
    let app = app(&tracker);

    let (_, ctype, empty) = get_body(&app, "/latency", "text/html").await;
    assert!(ctype.starts_with("text/html"));
    assert_eq!(
        embedded(&empty)["cumulative"]["routes"],
        serde_json::json!([])
    );

    get_body(&app, "/users/1", "*/*").await;
    get_body(&app, "/orders/2/items", "*/*").await;
    get_body(&app, "/nope", "*/*").await;
    let (status, _, html) = get_body(&app, "/latency", "text/html,application/xhtml+xml").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.starts_with("<!DOCTYPE html>"));
    // The data it draws is the report's JSON (paused time: the same instant).
    let data = embedded(&html);
    assert_eq!(data, tracker.snapshot().to_json());
    let routes = data["cumulative"]["routes"].as_array().unwrap();
    for route in snapshot_routes(&tracker) {
        let r = routes
            .iter()
            .find(|r| r["route"] == route.as_str())
            .unwrap();
        assert!(r["p95_us"].as_u64().is_some(), "{route} has a p95");
    }
    // Drawn by the shared renderer (the one palisade-health's page uses),
    // with the report's columns, p95 among them.
    assert!(html.contains(page::STYLE) && html.contains(page::SCRIPT));
    assert!(html.contains("\"p95\""));
    // Self-contained: nothing loaded from elsewhere.
    for fetches in ["src=", "href=", "url(", "@import"] {
        assert!(!html.contains(fetches), "{fetches}");
    }
    // The tracker name is escaped.
    assert!(html.contains("Latency \u{b7} page &lt;demo&gt;"));

    // The page refreshes from its own URL with `?format=json`.
    let (_, ctype, json) = get_body(&app, "/latency?format=json", "*/*").await;
    assert_eq!(ctype, "application/json");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&json).unwrap(),
        tracker.snapshot().to_json()
    );
}

fn snapshot_routes(tracker: &LatencyTracker) -> Vec<String> {
    let snap = tracker.snapshot();
    let routes: Vec<String> = snap.routes().iter().map(|r| r.route.to_string()).collect();
    assert_eq!(routes.len(), 3);
    routes
}
