//! `RateLimit` under paused time: exact admission counts, per-key
//! isolation, bounded keys, and the HTTP / gRPC mapping of its rejections.
#![cfg(feature = "rate-limit")]

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, body::Body, routing::get};
use http::{Request, Response, StatusCode};
use palisade_core::{BoxError, RejectKind, Rejected, http::ErrorResponseLayer};
use palisade_shed::RateLimit;
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

fn counting() -> (
    Arc<AtomicUsize>,
    impl Service<Request<()>, Response = Response<()>, Error = Infallible, Future: Send> + Clone,
) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let svc = service_fn(move |_req: Request<()>| {
        c.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Infallible>(Response::new(())) }
    });
    (calls, svc)
}

fn req(key: &str) -> Request<()> {
    Request::builder().header("x-key", key).body(()).unwrap()
}

async fn admitted<S>(svc: &mut S, r: Request<()>) -> bool
where
    S: Service<Request<()>, Error = BoxError>,
{
    match svc.ready().await.unwrap().call(r).await {
        Ok(_) => true,
        Err(err) => {
            let rejected = Rejected::find(&err).expect("a Rejected");
            assert_eq!(rejected.kind(), RejectKind::Overloaded);
            assert!(rejected.is_rate_limit());
            false
        }
    }
}

#[tokio::test(start_paused = true)]
async fn burst_then_steady_rate_exact_counts() {
    // 10 a second, burst 5: 5 at once, then one every 100 ms.
    let limit = RateLimit::builder("t").rate(10).burst(5).build().unwrap();
    let (calls, inner) = counting();
    let mut svc = limit.layer().layer(inner);

    // Ten attempts at t = 0: exactly the burst passes.
    let mut ok = 0;
    for _ in 0..10 {
        ok += usize::from(admitted(&mut svc, req("a")).await);
    }
    assert_eq!(ok, 5);

    // One attempt every 10 ms for one second: one admitted per 100 ms.
    let mut ok = 0;
    for _ in 0..100 {
        tokio::time::advance(Duration::from_millis(10)).await;
        ok += usize::from(admitted(&mut svc, req("a")).await);
    }
    assert_eq!(ok, 10);
    assert_eq!(calls.load(Ordering::SeqCst), 15);

    // After a quiet second the full burst is back, not more.
    tokio::time::advance(Duration::from_secs(1)).await;
    let mut ok = 0;
    for _ in 0..10 {
        ok += usize::from(admitted(&mut svc, req("a")).await);
    }
    assert_eq!(ok, 5);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_the_time_until_room() {
    let limit = RateLimit::builder("t").rate(4).burst(1).build().unwrap();
    let (_, inner) = counting();
    let mut svc = limit.layer().layer(inner);
    assert!(admitted(&mut svc, req("a")).await);
    tokio::time::advance(Duration::from_millis(100)).await;
    let err = svc.ready().await.unwrap().call(req("a")).await.unwrap_err();
    let rejected = Rejected::find(&err).unwrap();
    assert_eq!(rejected.retry_after(), Some(Duration::from_millis(150)));
    let quota = rejected.rate_limit_quota().unwrap();
    assert_eq!(quota.limit(), 1);
    assert_eq!(quota.window(), Duration::from_millis(250));
    assert_eq!(quota.remaining(), 0);
    assert_eq!(quota.reset(), Duration::from_millis(150));
    tokio::time::advance(Duration::from_millis(149)).await;
    assert!(!admitted(&mut svc, req("a")).await);
    tokio::time::advance(Duration::from_millis(1)).await;
    assert!(admitted(&mut svc, req("a")).await);
}

#[tokio::test(start_paused = true)]
async fn keys_are_isolated() {
    let limit = RateLimit::builder("per-key")
        .rate(1)
        .burst(2)
        .key(|r: &Request<()>| r.headers()["x-key"].clone())
        .build()
        .unwrap();
    let (calls, inner) = counting();
    let mut svc = limit.layer().layer(inner);
    // "a" spends its burst and more; "b" is untouched by it.
    for _ in 0..2 {
        assert!(admitted(&mut svc, req("a")).await);
    }
    for _ in 0..5 {
        assert!(!admitted(&mut svc, req("a")).await);
    }
    for _ in 0..2 {
        assert!(admitted(&mut svc, req("b")).await);
    }
    assert!(!admitted(&mut svc, req("b")).await);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(limit.keys(), 2);
}

#[tokio::test(start_paused = true)]
async fn full_key_table_shares_one_overflow_bucket_and_sweep_frees_it() {
    let limit = RateLimit::builder("bounded")
        .rate(1)
        .burst(1)
        .max_keys(2)
        .key(|r: &Request<()>| r.headers()["x-key"].clone())
        .build()
        .unwrap();
    let (_, inner) = counting();
    let mut svc = limit.layer().layer(inner);
    assert!(admitted(&mut svc, req("a")).await);
    assert!(admitted(&mut svc, req("b")).await);
    // The table is full: a thousand new keys get one request between them.
    let mut ok = 0;
    for i in 0..1000 {
        ok += usize::from(admitted(&mut svc, req(&format!("new-{i}"))).await);
    }
    assert_eq!(ok, 1);
    assert_eq!(limit.keys(), 2);
    // Keys in the table keep their own buckets.
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(admitted(&mut svc, req("a")).await);
    // Once "b" has refilled, a sweep drops it and a new key gets its place.
    tokio::time::advance(Duration::from_secs(2)).await;
    limit.sweep();
    assert_eq!(limit.keys(), 0);
    assert!(admitted(&mut svc, req("c")).await);
    assert!(admitted(&mut svc, req("d")).await);
    assert_eq!(limit.keys(), 2);
}

#[tokio::test(start_paused = true)]
async fn periodic_sweep_runs_from_traffic() {
    let limit = RateLimit::builder("swept")
        .rate(10)
        .sweep_interval(Duration::from_secs(5))
        .key(|r: &Request<()>| r.headers()["x-key"].clone())
        .build()
        .unwrap();
    let (_, inner) = counting();
    let mut svc = limit.layer().layer(inner);
    for i in 0..50 {
        assert!(admitted(&mut svc, req(&format!("k{i}"))).await);
    }
    assert_eq!(limit.keys(), 50);
    tokio::time::advance(Duration::from_secs(6)).await;
    // The first request after the interval starts the sweep in the background.
    assert!(admitted(&mut svc, req("late")).await);
    tokio::task::yield_now().await;
    assert_eq!(limit.keys(), 1);
}

#[tokio::test(start_paused = true)]
async fn http_answer_is_429_with_retry_after_and_ietf_fields() {
    let limit = RateLimit::builder("api")
        .rate(2)
        .period(Duration::from_secs(10))
        .burst(2)
        .build()
        .unwrap();
    let (_, inner) = counting();
    let mut svc = ServiceBuilder::new()
        .layer(ErrorResponseLayer::new())
        .layer(limit.layer())
        .service(inner);
    for _ in 0..2 {
        let res = svc.ready().await.unwrap().call(req("a")).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    tokio::time::advance(Duration::from_millis(1500)).await;
    let res = svc.ready().await.unwrap().call(req("a")).await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // One request every 5 s; the next one is free 3.5 s from now.
    assert_eq!(res.headers()["retry-after"], "4");
    assert_eq!(res.headers()["ratelimit-policy"], "\"api\";q=2;w=10");
    assert_eq!(res.headers()["ratelimit"], "\"api\";r=0;t=4");
}

#[tokio::test(start_paused = true)]
async fn grpc_status_is_resource_exhausted_with_pushback() {
    let limit = RateLimit::builder("rpc").rate(1).build().unwrap();
    let (_, inner) = counting();
    let mut svc = limit.layer().layer(inner);
    assert!(admitted(&mut svc, req("a")).await);
    let err = svc.ready().await.unwrap().call(req("a")).await.unwrap_err();
    let status = Rejected::find(&err).unwrap().to_status();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert_eq!(
        status.metadata().get("grpc-retry-pushback-ms").unwrap(),
        "1000"
    );
}

#[tokio::test(start_paused = true)]
async fn routes_of_one_router_share_the_limit() {
    let limit = RateLimit::builder("shared")
        .rate(1)
        .burst(3)
        .build()
        .unwrap();
    let app: Router = Router::new()
        .route("/a", get(|| async { "a" }))
        .route("/b", get(|| async { "b" }))
        .layer(
            ServiceBuilder::new()
                .layer(ErrorResponseLayer::new())
                .layer(limit.layer()),
        );
    let mut statuses = Vec::new();
    for path in ["/a", "/b", "/a", "/b", "/a"] {
        let res = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
}

#[test]
fn config_errors_name_the_field() {
    let field = |r: Result<_, palisade_core::ConfigError>| r.map(drop).unwrap_err().field();
    assert_eq!(field(RateLimit::builder("x").build()), "rate");
    assert_eq!(field(RateLimit::builder("x").rate(0).build()), "rate");
    assert_eq!(
        field(RateLimit::builder("x").rate(1).burst(0).build()),
        "burst"
    );
    assert_eq!(
        field(
            RateLimit::builder("x")
                .rate(1)
                .period(Duration::ZERO)
                .build()
        ),
        "period"
    );
    assert_eq!(
        field(
            RateLimit::builder("x")
                .rate(10)
                .period(Duration::from_nanos(5))
                .build()
        ),
        "rate"
    );
    assert_eq!(
        field(RateLimit::builder("x").rate(1).max_keys(0).build()),
        "max_keys"
    );
    assert_eq!(
        field(
            RateLimit::builder("x")
                .rate(1)
                .sweep_interval(Duration::ZERO)
                .build()
        ),
        "sweep_interval"
    );
}

#[tokio::test(start_paused = true)]
async fn http_layer_answers_like_error_response_layer_in_a_router() {
    use http_body_util::BodyExt;
    let build = || {
        RateLimit::builder("api")
            .rate(2)
            .period(Duration::from_secs(10))
            .key(|req: &Request<Body>| req.headers().get("x-key").cloned())
            .build()
            .unwrap()
    };
    let (direct, mapped) = (build(), build());
    let calls = Arc::new(AtomicUsize::new(0));
    let handler = {
        let calls = Arc::clone(&calls);
        move || async move {
            calls.fetch_add(1, Ordering::SeqCst);
            "ok"
        }
    };
    // No ErrorResponseLayer: the layer answers its own refusals.
    let direct_app: Router = Router::new()
        .route("/", get(handler.clone()))
        .layer(direct.http_layer());
    let mapped_app: Router = Router::new().route("/", get(handler)).layer(
        ServiceBuilder::new()
            .layer(ErrorResponseLayer::new())
            .layer(mapped.layer()),
    );
    let get = |key: &str| {
        Request::get("/")
            .header("x-key", key)
            .body(Body::empty())
            .unwrap()
    };
    let mut answers = Vec::new();
    for app in [direct_app, mapped_app] {
        let mut statuses = Vec::new();
        for key in ["a", "a", "b", "a"] {
            statuses.push(app.clone().oneshot(get(key)).await.unwrap().status());
        }
        tokio::time::advance(Duration::from_millis(1500)).await;
        let res = app.oneshot(get("a")).await.unwrap();
        let (parts, body) = res.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        answers.push((statuses, parts.status, parts.headers, body));
    }
    let (statuses, status, headers, body) = &answers[0];
    assert_eq!(
        statuses,
        &[
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "4");
    assert_eq!(headers["ratelimit-policy"], "\"api\";q=2;w=10");
    assert_eq!(headers["ratelimit"], "\"api\";r=0;t=4");
    assert!(!body.is_empty());
    // The same answer as ErrorResponseLayer gives, and refusals never
    // reached the handler (3 admitted per app).
    assert_eq!(answers[0], answers[1]);
    assert_eq!(calls.load(Ordering::SeqCst), 6);
}
