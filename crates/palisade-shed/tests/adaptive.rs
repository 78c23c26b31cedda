//! The adaptive concurrency limit's behaviour, on tokio's paused clock.

mod common;

use axum::{Router, routing::get};
use http::StatusCode;
use palisade_core::{BoxError, Outcome, RejectKind, Rejected, http::ErrorResponseLayer};
use palisade_shed::{
    Deadline,
    adaptive::{AdaptiveLimit, Aimd, Algorithm, Gradient2, Vegas},
};
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::sync::{Semaphore, watch};
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};
use tower_test::mock;

fn assert_overloaded(err: &BoxError, name: &str) {
    let rejected = Rejected::find(&**err).expect("a Rejected");
    assert_eq!(rejected.kind(), RejectKind::Overloaded);
    assert_eq!(rejected.name(), name);
    assert_eq!(rejected.retry_after(), Some(Duration::from_secs(2)));
}

#[tokio::test(start_paused = true)]
async fn rejects_over_the_limit_at_once_without_calling_the_inner_service() {
    let limit = AdaptiveLimit::builder("api")
        .algorithm(Aimd::default().min_limit(1).initial_limit(2))
        .retry_after(Duration::from_secs(2))
        .build()
        .unwrap();
    let (inner, mut handle) = mock::pair::<u32, u32>();
    handle.allow(10);
    let mut a = limit.layer().layer(inner.clone());
    let mut b = limit.layer().layer(inner);
    let fa = a.ready().await.unwrap().call(1);
    let fb = b.ready().await.unwrap().call(2);
    assert_eq!(limit.in_flight(), 2);
    let err = a.ready().await.unwrap().call(3).await.unwrap_err();
    assert_overloaded(&err, "api");
    // The inner service saw only the two admitted requests.
    let (r1, s1) = handle.next_request().await.unwrap();
    let (r2, s2) = handle.next_request().await.unwrap();
    assert_eq!((r1, r2), (1, 2));
    s1.send_response(10);
    s2.send_response(20);
    assert_eq!(fa.await.unwrap(), 10);
    assert_eq!(fb.await.unwrap(), 20);
    assert_eq!(limit.in_flight(), 0);
    assert!(handle.poll_request().is_pending());
}

#[tokio::test(start_paused = true)]
async fn rejected_total_counts_rejections_only() {
    let limit = AdaptiveLimit::builder("api")
        .algorithm(Aimd::default().min_limit(1).initial_limit(1))
        .retry_after(Duration::from_secs(2))
        .build()
        .unwrap();
    let (inner, mut handle) = mock::pair::<u32, u32>();
    handle.allow(10);
    let mut a = limit.layer().layer(inner.clone());
    let mut b = limit.layer().layer(inner);
    let fa = a.ready().await.unwrap().call(1);
    for n in 0..2 {
        let err = b.ready().await.unwrap().call(2).await.unwrap_err();
        assert_overloaded(&err, "api");
        assert_eq!(limit.rejected_total(), n + 1);
    }
    let (_, s1) = handle.next_request().await.unwrap();
    s1.send_response(10);
    assert_eq!(fa.await.unwrap(), 10);
    let fb = b.ready().await.unwrap().call(3);
    let (_, s3) = handle.next_request().await.unwrap();
    s3.send_response(30);
    assert_eq!(fb.await.unwrap(), 30);
    assert_eq!(limit.rejected_total(), 2, "admitted requests do not count");
    assert_eq!(limit.clone().rejected_total(), 2);
}

/// A backend of `workers` workers, each request taking `service` of one.
fn backend(
    workers: usize,
    service: Duration,
) -> impl Service<u32, Response = u32, Error = BoxError, Future: Send> + Clone + Send {
    let sem = Arc::new(Semaphore::new(workers));
    service_fn(move |n: u32| {
        let sem = Arc::clone(&sem);
        async move {
            let _worker = sem.acquire().await?;
            tokio::time::sleep(service).await;
            Ok::<_, BoxError>(n)
        }
    })
}

/// Runs `clients` closed-loop clients against `svc` for `run`; rejected
/// clients back off 5 ms. Returns the requests answered.
async fn closed_loop<S>(svc: S, clients: usize, run: Duration) -> usize
where
    S: Service<u32, Response = u32, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send,
{
    let done = Arc::new(AtomicUsize::new(0));
    let end = tokio::time::Instant::now() + run;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let mut svc = svc.clone();
        let done = Arc::clone(&done);
        tasks.push(tokio::spawn(async move {
            while tokio::time::Instant::now() < end {
                match svc.ready().await.unwrap().call(1).await {
                    Ok(_) => {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed)
}

/// Light load first (the algorithm learns the unloaded RTT), then 100
/// clients against 4 workers × 10 ms. Returns the limit after each phase.
async fn shrinks_under_queueing(algorithm: Algorithm) -> (usize, usize) {
    let limit = AdaptiveLimit::builder("api")
        .algorithm(algorithm)
        .window(Duration::from_millis(200))
        .build()
        .unwrap();
    let svc = limit.layer().layer(backend(4, Duration::from_millis(10)));
    closed_loop(svc.clone(), 3, Duration::from_secs(5)).await;
    let light = limit.limit();
    let done = closed_loop(svc, 100, Duration::from_secs(20)).await;
    assert!(done > 7_000, "throughput collapsed: {done} in 20 s");
    (light, limit.limit())
}

#[tokio::test(start_paused = true)]
async fn gradient2_shrinks_when_requests_queue() {
    let g = Gradient2::default().min_limit(1);
    let (light, after) = shrinks_under_queueing(g.into()).await;
    // 4 workers: a limit of 16 means 40 ms, 4× the unloaded RTT. Gradient2
    // tolerates 1.5× the long-term RTT plus a queue of 4 by design.
    assert!(after < light && after <= 16, "gradient2: {light} → {after}");
}

#[tokio::test(start_paused = true)]
async fn vegas_shrinks_when_requests_queue() {
    let (light, after) = shrinks_under_queueing(Vegas::default().into()).await;
    assert!(after < light && after <= 12, "vegas: {light} → {after}");
}

/// With a 100 ms deadline, the requests that queue behind the limit's
/// slots expire, and each expiry is a drop: AIMD backs off.
#[tokio::test(start_paused = true)]
async fn deadline_expiries_count_as_drops() {
    let limit = AdaptiveLimit::builder("api")
        .algorithm(
            Aimd::default()
                .min_limit(1)
                .initial_limit(100)
                .max_limit(100),
        )
        .window(Duration::from_millis(100))
        .build()
        .unwrap();
    let svc = limit.layer().layer(backend(4, Duration::from_millis(10)));
    let svc = service_fn(move |n: u32| {
        let svc = svc.clone();
        let deadline = Deadline::after(Duration::from_millis(100));
        deadline.scope(async move {
            match tokio::time::timeout(Duration::from_millis(100), svc.oneshot(n)).await {
                Ok(res) => res,
                Err(elapsed) => Err(elapsed.into()),
            }
        })
    });
    closed_loop(svc, 100, Duration::from_secs(5)).await;
    // 4 workers × 100 ms / 10 ms = 40 requests fit in a deadline.
    assert!(limit.limit() < 60, "limit {}", limit.limit());
}

#[tokio::test(start_paused = true)]
async fn failures_count_as_drops_and_ignored_outcomes_are_not_sampled() {
    let build = |ignore: bool| {
        AdaptiveLimit::builder("api")
            .algorithm(Aimd::default().min_limit(1).initial_limit(10))
            .window(Duration::from_millis(10))
            .min_samples(1)
            .classify(move |res: Result<&u32, &BoxError>| match res {
                Ok(_) => Outcome::Success,
                Err(_) if ignore => Outcome::Ignored,
                Err(_) => Outcome::Failure,
            })
            .build()
            .unwrap()
    };
    for ignore in [false, true] {
        let limit = build(ignore);
        let svc = limit.layer().layer(service_fn(|_: u32| async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err::<u32, BoxError>("boom".into())
        }));
        for _ in 0..3 {
            svc.clone().oneshot(1).await.unwrap_err();
        }
        if ignore {
            assert_eq!(limit.limit(), 10);
        } else {
            // 10 → 9 → 8 → 7 (the first sample opens nothing: every window
            // of at least 10 ms with one sample closes).
            assert_eq!(limit.limit(), 7);
        }
    }
}

/// A window short of samples keeps collecting instead of being thrown
/// away: at a limit of 1 with 300 ms requests only ~3 samples arrive per 1 s
/// window, fewer than the 10 a window needs. Were such windows discarded
/// (as Netflix's `WindowedLimit` does), the limit would stay at 1 for good.
#[tokio::test(start_paused = true)]
async fn a_low_limit_under_light_traffic_is_not_stuck() {
    let limit = AdaptiveLimit::builder("api")
        .algorithm(Vegas::default().initial_limit(1))
        .build()
        .unwrap();
    let svc = limit.layer().layer(backend(64, Duration::from_millis(300)));
    closed_loop(svc, 1, Duration::from_secs(20)).await;
    // One client never uses more than one slot, so Vegas' "app-limited"
    // rule holds the limit at twice the in-flight count at most... but it
    // must have left 1.
    assert!(limit.limit() > 1, "stuck at {}", limit.limit());
}

#[tokio::test(start_paused = true)]
async fn vegas_recovers_after_load_ends() {
    let limit = AdaptiveLimit::builder("api")
        .algorithm(Vegas::default())
        .window(Duration::from_millis(200))
        .build()
        .unwrap();
    let svc = limit.layer().layer(backend(4, Duration::from_millis(10)));
    closed_loop(svc.clone(), 3, Duration::from_secs(5)).await;
    closed_loop(svc.clone(), 200, Duration::from_secs(10)).await;
    let low = limit.limit();
    assert!(low <= 12, "vegas did not shrink: {low}");
    // Load ends; 4 clients keep coming, never queueing.
    closed_loop(svc, 4, Duration::from_secs(20)).await;
    assert!(limit.limit() > low, "vegas stuck at {low}");
    assert!(
        limit.limit() >= 8,
        "vegas recovered only to {}",
        limit.limit()
    );
}

#[test]
fn config_is_validated_with_the_field_named() {
    let cases = [
        (
            AdaptiveLimit::builder("l")
                .window(Duration::ZERO)
                .build()
                .unwrap_err(),
            "window",
        ),
        (
            AdaptiveLimit::builder("l")
                .min_samples(0)
                .build()
                .unwrap_err(),
            "min_samples",
        ),
        (
            AdaptiveLimit::builder("l")
                .retry_after(Duration::ZERO)
                .build()
                .unwrap_err(),
            "retry_after",
        ),
        (
            AdaptiveLimit::builder("l")
                .algorithm(Aimd::default().min_limit(50))
                .build()
                .unwrap_err(),
            "aimd.initial_limit",
        ),
    ];
    for (err, field) in cases {
        assert_eq!(err.field(), field, "{err}");
    }
    let l = AdaptiveLimit::builder("l").build().unwrap();
    assert_eq!((l.limit(), l.algorithm(), l.name()), (20, "gradient2", "l"));
}

#[tokio::test]
async fn one_limit_is_shared_by_every_route_of_an_axum_router() {
    let limit = AdaptiveLimit::builder("api")
        .algorithm(Aimd::default().min_limit(1).initial_limit(1))
        .retry_after(Duration::from_secs(2))
        .build()
        .unwrap();
    let (open, gate) = watch::channel(false);
    let handler = move || {
        let mut gate = gate.clone();
        async move {
            gate.wait_for(|open| *open).await.unwrap();
            "done"
        }
    };
    let app = Router::new()
        .route("/a", get(handler.clone()))
        .route("/b", get(handler))
        .layer(
            ServiceBuilder::new()
                .layer(ErrorResponseLayer::new())
                .layer(limit.layer()),
        );
    let addr = common::serve(app).await;
    let client = common::client();
    let slow = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .get(format!("http://{addr}/a").parse().unwrap())
                .await
        }
    });
    tokio::time::timeout(Duration::from_secs(30), async {
        while limit.in_flight() == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap();
    let res = client
        .get(format!("http://{addr}/b").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "2");
    open.send(true).unwrap();
    assert_eq!(slow.await.unwrap().unwrap().status(), StatusCode::OK);
}

#[cfg(feature = "metrics")]
#[tokio::test(start_paused = true)]
async fn the_limit_is_a_metric() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let limit = metrics::with_local_recorder(&recorder, || {
        AdaptiveLimit::builder("m")
            .algorithm(Aimd::default().min_limit(1).initial_limit(5))
            .build()
            .unwrap()
    });
    assert_eq!(limit.limit(), 5);
    let gauge = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .find(|(k, ..)| k.key().name() == "palisade_shed_adaptive_limit")
        .map(|(.., v)| v);
    assert_eq!(gauge, Some(DebugValue::Gauge(5.0.into())));
}
