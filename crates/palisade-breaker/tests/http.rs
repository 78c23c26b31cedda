//! Through a real axum `Router`: shared state across routes, keyed breakers,
//! and `Retry-After` end to end with `palisade_core::http::ErrorResponseLayer`.

use axum::{Router, body::Body, routing::get};
use http::{Request, StatusCode};
use palisade_breaker::{CircuitBreaker, State};
use palisade_core::{BoxError, http::ErrorResponseLayer, http::HttpServerErrors};
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tower::{Layer, ServiceBuilder, ServiceExt, service_fn};

async fn status(app: &Router, path: &str) -> (StatusCode, Option<String>) {
    let res = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (res.status(), retry)
}

#[tokio::test(start_paused = true)]
async fn two_routes_share_one_breaker_layer() {
    let breaker = CircuitBreaker::builder("router")
        .count_window(10)
        .minimum_calls(5)
        .failure_rate(0.5)
        .open_wait(Duration::from_secs(5))
        .classify(HttpServerErrors::new())
        .build()
        .unwrap();
    let healthy_hits = Arc::new(AtomicUsize::new(0));
    let hits = healthy_hits.clone();
    let app = Router::new()
        .route(
            "/failing",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "down") }),
        )
        .route(
            "/healthy",
            get(move || {
                hits.fetch_add(1, Ordering::SeqCst);
                async { "ok" }
            }),
        )
        .layer(
            ServiceBuilder::new()
                .layer(ErrorResponseLayer::new())
                .layer(breaker.layer()),
        );

    assert_eq!(status(&app, "/healthy").await.0, StatusCode::OK);
    for _ in 0..3 {
        assert_eq!(
            status(&app, "/failing").await.0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
    assert_eq!(
        breaker.state(),
        State::Closed,
        "4 calls: below minimum_calls"
    );
    assert_eq!(
        status(&app, "/failing").await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    // 4 failures of 5 calls, counted across both routes: open for both.
    assert_eq!(breaker.state(), State::Open);
    let (code, retry) = status(&app, "/healthy").await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry.as_deref(), Some("5"));
    assert_eq!(healthy_hits.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn retry_after_end_to_end() {
    let breaker = CircuitBreaker::builder("retry")
        .consecutive_failures(1)
        .open_wait(Duration::from_millis(2500))
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(ErrorResponseLayer::new())
        .layer(breaker.layer())
        .service(service_fn(|_req: Request<Body>| async {
            Err::<http::Response<Body>, BoxError>("upstream reset".into())
        }));
    let app = Router::new().route_service("/pay", svc);
    assert_eq!(
        status(&app, "/pay").await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let (code, retry) = status(&app, "/pay").await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry.as_deref(), Some("3"), "2.5 s rounds up");
    tokio::time::advance(Duration::from_secs(1)).await;
    let (_, retry) = status(&app, "/pay").await;
    assert_eq!(retry.as_deref(), Some("2"));
}

#[tokio::test(start_paused = true)]
async fn keyed_breaker_cuts_off_only_the_failing_host() {
    let keyed = CircuitBreaker::builder("hosts")
        .consecutive_failures(2)
        .classify(HttpServerErrors::new())
        .key(|req: &Request<Body>| {
            req.headers()
                .get("host")
                .and_then(|h| h.to_str().ok())
                .unwrap_or("")
                .to_owned()
        })
        .build()
        .unwrap();
    let hits_b = Arc::new(AtomicUsize::new(0));
    let hb = hits_b.clone();
    let upstream = service_fn(move |req: Request<Body>| {
        let host = req.headers()["host"].to_str().unwrap().to_owned();
        if host == "b" {
            hb.fetch_add(1, Ordering::SeqCst);
        }
        async move {
            let code = if host == "a" { 502 } else { 200 };
            Ok::<_, BoxError>(
                http::Response::builder()
                    .status(code)
                    .body(Body::empty())
                    .unwrap(),
            )
        }
    });
    let app = Router::new().route_service(
        "/proxy",
        ServiceBuilder::new()
            .layer(ErrorResponseLayer::new())
            .layer(keyed.layer())
            .service(upstream),
    );
    let get = |host: &'static str| {
        let app = app.clone();
        async move {
            app.oneshot(
                Request::get("/proxy")
                    .header("host", host)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap()
            .status()
        }
    };
    assert_eq!(get("a").await, StatusCode::BAD_GATEWAY);
    assert_eq!(get("a").await, StatusCode::BAD_GATEWAY);
    assert_eq!(get("a").await, StatusCode::SERVICE_UNAVAILABLE);
    for _ in 0..3 {
        assert_eq!(get("b").await, StatusCode::OK);
    }
    assert_eq!(hits_b.load(Ordering::SeqCst), 3);
    assert_eq!(keyed.get(&"a".to_owned()).unwrap().state(), State::Open);
    assert_eq!(keyed.get(&"b".to_owned()).unwrap().state(), State::Closed);
    assert_eq!(keyed.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn keyed_breaker_caps_and_expires_keys() {
    let keyed = CircuitBreaker::builder("cap")
        .consecutive_failures(1)
        .key(|host: &String| host.clone())
        .max_keys(2)
        .idle_expiry(Duration::from_secs(60))
        .build()
        .unwrap();
    let svc = keyed
        .layer()
        .layer(service_fn(|h: String| async move { Ok::<_, BoxError>(h) }));
    for h in ["a", "b"] {
        svc.clone().oneshot(h.to_owned()).await.unwrap();
    }
    keyed.breaker("a".to_owned()).force_open();
    tokio::time::advance(Duration::from_secs(1)).await;
    // The forced-open breaker is kept apart from the two closed ones; the
    // least recently used closed breaker ("b") makes room for "d".
    svc.clone().oneshot("c".to_owned()).await.unwrap();
    assert_eq!(keyed.len(), 3);
    svc.clone().oneshot("d".to_owned()).await.unwrap();
    assert_eq!(keyed.len(), 3);
    assert!(keyed.get(&"b".to_owned()).is_none());
    assert_eq!(
        keyed.get(&"a".to_owned()).unwrap().state(),
        State::ForcedOpen
    );
    // Reset, it rejoins the closed ones, and makes the cap hold again.
    keyed.breaker("a".to_owned()).reset();
    assert_eq!(keyed.len(), 2);
    // Idle keys expire.
    tokio::time::advance(Duration::from_secs(61)).await;
    svc.clone().oneshot("e".to_owned()).await.unwrap();
    assert_eq!(keyed.len(), 1);
    assert!(keyed.get(&"e".to_owned()).is_some());
}

/// Key churn (a client choosing the key) never evicts an open breaker.
#[tokio::test(start_paused = true)]
async fn key_churn_never_evicts_an_open_breaker() {
    let keyed = CircuitBreaker::builder("churn")
        .consecutive_failures(2)
        .key(|host: &String| host.clone())
        .max_keys(16)
        .build()
        .unwrap();
    let svc = keyed.layer().layer(service_fn(|h: String| async move {
        if h == "down" {
            Err::<String, BoxError>("refused".into())
        } else {
            Ok(h)
        }
    }));
    for _ in 0..2 {
        svc.clone().oneshot("down".to_owned()).await.unwrap_err();
    }
    assert_eq!(keyed.get(&"down".to_owned()).unwrap().state(), State::Open);
    for i in 0..5_000 {
        svc.clone().oneshot(format!("junk-{i}")).await.unwrap();
    }
    assert_eq!(keyed.get(&"down".to_owned()).unwrap().state(), State::Open);
    let err = svc.clone().oneshot("down".to_owned()).await.unwrap_err();
    assert!(palisade_core::Rejected::find(&*err).is_some(), "{err}");
    assert!(keyed.len() <= 17);
}

/// Even when every kept breaker is open, new keys never push one out.
#[tokio::test(start_paused = true)]
async fn key_churn_never_evicts_an_open_breaker_even_when_all_are_open() {
    let keyed = CircuitBreaker::builder("all-open")
        .consecutive_failures(1)
        .key(|host: &String| host.clone())
        .max_keys(2)
        .build()
        .unwrap();
    let svc = keyed.layer().layer(service_fn(|h: String| async move {
        if h.starts_with("down") {
            Err::<String, BoxError>("refused".into())
        } else {
            Ok(h)
        }
    }));
    for h in ["down-1", "down-2"] {
        svc.clone().oneshot(h.to_owned()).await.unwrap_err();
    }
    for i in 0..100 {
        svc.clone().oneshot(format!("junk-{i}")).await.unwrap();
    }
    for h in ["down-1", "down-2"] {
        assert_eq!(
            keyed.get(&h.to_owned()).unwrap().state(),
            State::Open,
            "{h}"
        );
    }
}
