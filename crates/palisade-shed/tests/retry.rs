//! `Retry` under paused time: attempts and the sleeps between them for each
//! rule, and the budget capping retries during an outage.
#![cfg(feature = "retry")]
#![allow(clippy::type_complexity)]

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use http::{Method, Request, Response, StatusCode};
use palisade_core::{BoxError, RejectKind, Rejected};
use palisade_shed::{Deadline, Retry};
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

type Outcome = Result<Response<()>, BoxError>;

/// A service answering each attempt with the next outcome from `script`
/// (the last one repeats), recording the time of each attempt relative to
/// the test's start. Each attempt takes `work` of (paused) time.
fn scripted(
    script: Vec<fn() -> Outcome>,
    work: Duration,
) -> (
    Arc<Mutex<Vec<u64>>>,
    impl Service<Request<()>, Response = Response<()>, Error = BoxError, Future: Send> + Clone,
) {
    let start = Instant::now();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = Arc::clone(&log);
    let svc = service_fn(move |_req: Request<()>| {
        let mut log = l.lock().unwrap();
        let n = log.len();
        log.push(u64::try_from((Instant::now() - start).as_millis()).unwrap());
        let outcome = script[n.min(script.len() - 1)];
        async move {
            if !work.is_zero() {
                tokio::time::sleep(work).await;
            }
            outcome()
        }
    });
    (log, svc)
}

fn status(code: u16) -> Outcome {
    Ok(Response::builder().status(code).body(()).unwrap())
}
fn s503() -> Outcome {
    status(503)
}
fn s200() -> Outcome {
    status(200)
}
fn overloaded_300ms() -> Outcome {
    Err(Rejected::new(RejectKind::Overloaded, "limit")
        .with_retry_after(Duration::from_millis(300))
        .into())
}
fn grpc_unavailable_pushback_250() -> Outcome {
    Ok(Response::builder()
        .header("grpc-status", "14")
        .header("grpc-retry-pushback-ms", "250")
        .body(())
        .unwrap())
}
fn grpc_unavailable_negative_pushback() -> Outcome {
    Ok(Response::builder()
        .header("grpc-status", "14")
        .header("grpc-retry-pushback-ms", "-1")
        .body(())
        .unwrap())
}
fn open_db() -> Outcome {
    Err(Rejected::new(RejectKind::CircuitOpen, "db").into())
}
fn open_other() -> Outcome {
    Err(Rejected::new(RejectKind::CircuitOpen, "other")
        .with_retry_after(Duration::from_millis(50))
        .into())
}
fn deadline_exceeded() -> Outcome {
    Err(Rejected::new(RejectKind::DeadlineExceeded, "t").into())
}

fn exact() -> palisade_shed::retry::RetryBuilder {
    Retry::builder("r")
        .max_retries(3)
        .backoff(Duration::from_millis(10), Duration::from_millis(25))
        .jitter(0.0)
}

fn get() -> Request<()> {
    Request::get("/").body(()).unwrap()
}

async fn attempts(
    retry: &Retry,
    script: Vec<fn() -> Outcome>,
    req: Request<()>,
) -> (Vec<u64>, Outcome) {
    let (log, inner) = scripted(script, Duration::ZERO);
    let out = ServiceBuilder::new()
        .layer(retry.layer())
        .service(inner)
        .oneshot(req)
        .await;
    let log = log.lock().unwrap().clone();
    (log, out)
}

#[tokio::test(start_paused = true)]
async fn exponential_backoff_capped() {
    let retry = exact().build().unwrap();
    let (log, out) = attempts(&retry, vec![s503], get()).await;
    // 10 ms, 20 ms, then capped at 25 ms; 3 retries then the last answer.
    assert_eq!(log, [0, 10, 30, 55]);
    assert_eq!(out.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);

    let (log, out) = attempts(&retry, vec![s503, s503, s200], get()).await;
    assert_eq!(log, [0, 10, 30]);
    assert_eq!(out.unwrap().status(), StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn jitter_stays_within_its_band() {
    let retry = Retry::builder("j")
        .max_retries(1)
        .backoff(Duration::from_millis(100), Duration::from_secs(1))
        .jitter(0.5)
        .budget(0.2, 1000, Duration::from_secs(10))
        .build()
        .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..50 {
        let (log, _) = attempts(&retry, vec![s503], get()).await;
        assert_eq!(log.len(), 2);
        assert!((50..=100).contains(&log[1]), "{log:?}");
        seen.insert(log[1]);
    }
    assert!(seen.len() > 5, "jitter varies the wait: {seen:?}");
}

#[tokio::test(start_paused = true)]
async fn only_idempotent_methods_are_retried() {
    let retry = exact().build().unwrap();
    let post = Request::builder().method(Method::POST).body(()).unwrap();
    let (log, _) = attempts(&retry, vec![s503], post).await;
    assert_eq!(log, [0]);
    let put = Request::builder().method(Method::PUT).body(()).unwrap();
    let (log, _) = attempts(&retry, vec![s503, s200], put).await;
    assert_eq!(log, [0, 10]);
}

#[tokio::test(start_paused = true)]
async fn a_predicate_decides_for_other_requests() {
    let retry = Retry::builder("p")
        .max_retries(2)
        .backoff(Duration::from_millis(10), Duration::from_millis(10))
        .jitter(0.0)
        .safe_if(|n: &u32| n.is_multiple_of(2))
        .errors_only()
        .build()
        .unwrap();
    let calls = Arc::new(Mutex::new(0u32));
    let c = Arc::clone(&calls);
    let failing = service_fn(move |_n: u32| {
        *c.lock().unwrap() += 1;
        async { Err::<(), BoxError>("down".into()) }
    });
    let svc = ServiceBuilder::new().layer(retry.layer()).service(failing);
    svc.clone().oneshot(2).await.unwrap_err();
    assert_eq!(*calls.lock().unwrap(), 3);
    svc.oneshot(1).await.unwrap_err();
    assert_eq!(*calls.lock().unwrap(), 4);
}

#[tokio::test(start_paused = true)]
async fn retry_after_and_grpc_pushback_are_floors() {
    let retry = exact().build().unwrap();
    let (log, out) = attempts(&retry, vec![overloaded_300ms, s200], get()).await;
    assert_eq!(log, [0, 300]);
    assert!(out.is_ok());

    let (log, _) = attempts(&retry, vec![grpc_unavailable_pushback_250, s200], get()).await;
    assert_eq!(log, [0, 250]);

    // A negative pushback means: do not retry.
    let (log, _) = attempts(
        &retry,
        vec![grpc_unavailable_negative_pushback, s200],
        get(),
    )
    .await;
    assert_eq!(log, [0]);
}

#[tokio::test(start_paused = true)]
async fn own_breaker_is_not_retried_others_are() {
    let own = exact().own_breaker("db").build().unwrap();
    let (log, _) = attempts(&own, vec![open_db, s200], get()).await;
    assert_eq!(log, [0]);
    let (log, out) = attempts(&own, vec![open_other, s200], get()).await;
    assert_eq!(log, [0, 50]);
    assert!(out.is_ok());

    // Without a name, no CircuitOpen is retried.
    let any = exact().build().unwrap();
    let (log, _) = attempts(&any, vec![open_other, s200], get()).await;
    assert_eq!(log, [0]);

    let (log, _) = attempts(&any, vec![deadline_exceeded, s200], get()).await;
    assert_eq!(log, [0]);
}

#[tokio::test(start_paused = true)]
async fn never_starts_an_attempt_the_deadline_cannot_fit() {
    let retry = exact().build().unwrap();
    // Each attempt takes 30 ms; 100 ms in all.
    let (log, inner) = scripted(vec![s503], Duration::from_millis(30));
    let svc = ServiceBuilder::new().layer(retry.layer()).service(inner);
    let start = Instant::now();
    let out = Deadline::after(Duration::from_millis(100))
        .scope(svc.oneshot(get()))
        .await;
    // t=0..30, wait 10, t=40..70; then 20 ms + 30 ms would end at 120 > 100.
    assert_eq!(*log.lock().unwrap(), [0, 40]);
    assert_eq!(Instant::now() - start, Duration::from_millis(70));
    assert_eq!(out.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test(start_paused = true)]
async fn never_sleeps_past_the_deadline() {
    let retry = exact().build().unwrap();
    let (log, inner) = scripted(vec![overloaded_300ms, s200], Duration::ZERO);
    let svc = ServiceBuilder::new().layer(retry.layer()).service(inner);
    let start = Instant::now();
    let out = Deadline::after(Duration::from_millis(200))
        .scope(svc.oneshot(get()))
        .await;
    assert_eq!(*log.lock().unwrap(), [0]);
    assert_eq!(Instant::now(), start, "answered at once, no sleep");
    assert_eq!(
        Rejected::find(&out.unwrap_err()).unwrap().kind(),
        RejectKind::Overloaded
    );

    // min_attempt_time counts too.
    let retry = exact()
        .min_attempt_time(Duration::from_millis(95))
        .build()
        .unwrap();
    let (log, inner) = scripted(vec![s503], Duration::ZERO);
    let svc = ServiceBuilder::new().layer(retry.layer()).service(inner);
    let _ = Deadline::after(Duration::from_millis(100))
        .scope(svc.oneshot(get()))
        .await;
    assert_eq!(*log.lock().unwrap(), [0]);
}

#[tokio::test(start_paused = true)]
async fn budget_caps_retries_during_an_outage_at_its_ratio() {
    // 20% of requests, no floor; every attempt fails.
    let retry = exact()
        .budget(0.2, 0, Duration::from_secs(10))
        .build()
        .unwrap();
    let (log, inner) = scripted(vec![s503], Duration::ZERO);
    let svc = ServiceBuilder::new().layer(retry.layer()).service(inner);
    for _ in 0..500 {
        let res = svc.clone().oneshot(get()).await.unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    // Without a budget this would be 500 × 4 attempts.
    assert_eq!(log.lock().unwrap().len(), 500 + 100);

    // The floor adds min_per_sec × ttl retries on top.
    let retry = exact()
        .budget(0.2, 1, Duration::from_secs(10))
        .build()
        .unwrap();
    let (log, inner) = scripted(vec![s503], Duration::ZERO);
    let svc = ServiceBuilder::new().layer(retry.layer()).service(inner);
    for _ in 0..500 {
        svc.clone().oneshot(get()).await.unwrap();
    }
    assert_eq!(log.lock().unwrap().len(), 500 + 100 + 10);
}

#[test]
fn config_errors_name_the_field() {
    let field = |b: palisade_shed::retry::RetryBuilder| b.build().unwrap_err().field();
    assert_eq!(
        field(Retry::builder("x").backoff(Duration::ZERO, Duration::from_secs(1))),
        "backoff"
    );
    assert_eq!(
        field(Retry::builder("x").backoff(Duration::from_secs(2), Duration::from_secs(1))),
        "backoff"
    );
    assert_eq!(field(Retry::builder("x").jitter(1.5)), "jitter");
    assert_eq!(field(Retry::builder("x").jitter(f64::NAN)), "jitter");
    assert_eq!(
        field(Retry::builder("x").budget(-0.1, 0, Duration::from_secs(10))),
        "budget_ratio"
    );
    assert_eq!(
        field(Retry::builder("x").budget(0.2, 0, Duration::from_secs(61))),
        "budget_ttl"
    );
    assert_eq!(
        field(Retry::builder("x").budget(0.2, u32::MAX, Duration::from_secs(10))),
        "budget_min_per_sec"
    );
}
