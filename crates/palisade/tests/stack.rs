//! The whole stack composed through `ServiceBuilderExt`, in the documented
//! order (`docs/layer-order.md`), inside a real axum `Router` with two routes: every layer's state is
//! shared by both routes, and every refusal reaches the client as the right
//! status.

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, body::Body, routing::get};
use http::{Request, StatusCode};
use palisade::{core::http::HttpServerErrors, latency::RouteFrom, prelude::*};
use tower::{ServiceBuilder, ServiceExt};

struct Stack {
    app: Router,
    tracker: LatencyTracker,
    breaker: CircuitBreaker<HttpServerErrors>,
    cache: HttpCache,
    hits: Arc<AtomicUsize>,
    /// The `/a` handler's delay, in milliseconds.
    delay: Arc<AtomicU64>,
}

fn stack(handler_delay: Duration) -> Stack {
    let tracker = LatencyTracker::builder("stack")
        .route(RouteFrom::AxumMatchedPath)
        .build()
        .unwrap();
    let timeout = Timeout::builder("stack")
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let limit = ConcurrencyLimit::builder("stack")
        .max_in_flight(4)
        .build()
        .unwrap();
    let cache = HttpCache::builder("stack")
        .default_ttl(Duration::from_secs(60))
        .stale_if_error(Duration::from_secs(300))
        .build()
        .unwrap();
    let breaker = CircuitBreaker::builder("stack")
        .consecutive_failures(2)
        .open_wait(Duration::from_secs(5))
        .classify(HttpServerErrors::new())
        .build()
        .unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let (a, b) = (hits.clone(), hits.clone());
    let delay = Arc::new(AtomicU64::new(
        u64::try_from(handler_delay.as_millis()).unwrap(),
    ));
    let ms = delay.clone();
    let app = Router::new()
        .route(
            "/a",
            get(move || {
                let (a, ms) = (a.clone(), ms.clone());
                async move {
                    a.fetch_add(1, Ordering::SeqCst);
                    let wait = Duration::from_millis(ms.load(Ordering::SeqCst));
                    tokio::time::sleep(wait).await;
                    "a"
                }
            }),
        )
        .route(
            "/b",
            get(move || async move {
                b.fetch_add(1, Ordering::SeqCst);
                (StatusCode::INTERNAL_SERVER_ERROR, "b failed")
            }),
        )
        .layer(
            ServiceBuilder::new()
                .http_errors()
                .track_latency(&tracker)
                .http_cache(&cache)
                .deadline(&timeout)
                .limit_in_flight(&limit)
                .circuit_breaker(&breaker),
        );
    Stack {
        app,
        tracker,
        breaker,
        cache,
        hits,
        delay,
    }
}

/// `GET path` through the app; the response with its body unread.
async fn send(app: &Router, path: &str) -> http::Response<Body> {
    app.clone()
        .oneshot(
            Request::get(path)
                .header("host", "stack.test")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap_or_else(|e: Infallible| match e {})
}

async fn get_status(app: &Router, path: &str) -> (StatusCode, Option<String>) {
    let res = send(app, path).await;
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let status = res.status();
    // Read the body to the end so latency tracking records the request.
    let _ = axum::body::to_bytes(res.into_body(), usize::MAX).await;
    (status, retry)
}

#[tokio::test(start_paused = true)]
async fn cache_answers_repeats_and_breaker_is_shared_by_routes() {
    let s = stack(Duration::ZERO);
    assert_eq!(get_status(&s.app, "/a").await.0, StatusCode::OK);
    assert_eq!(get_status(&s.app, "/a").await.0, StatusCode::OK);
    assert_eq!(
        s.hits.load(Ordering::SeqCst),
        1,
        "the second GET /a is a cache hit"
    );
    assert_eq!(s.cache.stats().hits, 1);

    // Two 5xx on /b open the one breaker shared by both routes.
    for _ in 0..2 {
        assert_eq!(
            get_status(&s.app, "/b").await.0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
    assert_eq!(s.breaker.state(), palisade::breaker::State::Open);
    let calls = s.hits.load(Ordering::SeqCst);

    // A cached answer does not need the dependency: the open breaker below
    // the cache does not refuse it.
    assert_eq!(get_status(&s.app, "/a").await.0, StatusCode::OK);
    // An uncached route is refused by the open breaker: 503 + Retry-After.
    let (status, retry) = get_status(&s.app, "/b").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry.as_deref(), Some("5"));
    assert_eq!(
        s.hits.load(Ordering::SeqCst),
        calls,
        "nothing reached a handler"
    );

    // Latency saw everything, under the route templates.
    let snap = s.tracker.snapshot();
    assert_eq!(snap.route("GET", "/a").unwrap().count, 3);
    assert_eq!(snap.route("GET", "/b").unwrap().count, 3);
}

#[tokio::test(start_paused = true)]
async fn deadline_answers_504_and_limit_sheds_with_503() {
    let s = stack(Duration::from_millis(500));
    // The handler takes 500 ms; the deadline is 100 ms.
    let (status, _) = get_status(&s.app, "/a").await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);

    // Eight concurrent requests for eight URLs (eight misses, nothing to
    // coalesce) against a limit of four: four are shed at once (503), four
    // run into the deadline (504); none is lost.
    let mut all = tokio::task::JoinSet::new();
    for i in 0..8 {
        let app = s.app.clone();
        all.spawn(async move { get_status(&app, &format!("/a?n={i}")).await.0 });
    }
    let mut statuses = Vec::new();
    while let Some(status) = all.join_next().await {
        statuses.push(status.unwrap());
    }
    statuses.sort();
    let shed = statuses
        .iter()
        .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    let late = statuses
        .iter()
        .filter(|s| **s == StatusCode::GATEWAY_TIMEOUT)
        .count();
    assert_eq!((shed, late), (4, 4), "{statuses:?}");
}

#[tokio::test(start_paused = true)]
async fn a_cached_answer_is_served_while_the_limit_is_full() {
    let s = stack(Duration::from_millis(50));
    // Stored: 50 ms, within the 100 ms deadline.
    assert_eq!(get_status(&s.app, "/a?cached").await.0, StatusCode::OK);

    // Four slow misses take the limit's four slots...
    let mut slow = tokio::task::JoinSet::new();
    for i in 0..4 {
        let app = s.app.clone();
        slow.spawn(async move { get_status(&app, &format!("/a?slow={i}")).await.0 });
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
    let calls = s.hits.load(Ordering::SeqCst);
    assert_eq!(calls, 5, "the four slow requests are in their handler");

    // ...a fifth miss is shed, but the cached URL is answered: the cache sits
    // above the limit, so a hit takes no slot.
    assert_eq!(
        get_status(&s.app, "/a?other").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let res = send(&s.app, "/a?cached").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-cache"], "HIT");
    assert_eq!(s.hits.load(Ordering::SeqCst), calls, "no handler ran");

    while let Some(status) = slow.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
}

#[tokio::test(start_paused = true)]
async fn a_miss_the_deadline_cuts_is_answered_stale() {
    let s = stack(Duration::ZERO);
    assert_eq!(get_status(&s.app, "/a?page").await.0, StatusCode::OK);

    // Past its 60 s freshness, within stale-if-error; the handler now takes
    // 500 ms, past the 100 ms deadline below the cache.
    tokio::time::advance(Duration::from_secs(61)).await;
    s.delay.store(500, Ordering::SeqCst);
    let res = send(&s.app, "/a?page").await;
    assert_eq!(res.status(), StatusCode::OK, "the stale answer, not a 504");
    assert_eq!(res.headers()["x-cache"], "STALE");

    // A URL the cache never stored has no stale answer: the 504 stands.
    let (status, _) = get_status(&s.app, "/a?new").await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
}
