//! Backpressure, rejection, configuration, the worker's lifetime, metrics,
//! and sharing through an axum router.

mod common;

use std::{sync::Arc, time::Duration};

use common::{Behaviour, KeyedRecorder, Recorder};
use palisade_batch::{Batcher, Loader, RejectKind, Rejected};
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_makes_poll_ready_wait_until_room() {
    let batcher = Batcher::builder("t")
        .max_size(2)
        .max_in_flight(1)
        .queue_capacity(2)
        .build()
        .unwrap();
    let (inner, mut handle) = tower_test::mock::pair::<Vec<u32>, Vec<u32>>();
    handle.allow(0);
    let mut svc = batcher.layer().layer(inner);
    let a = svc.ready().await.unwrap().call(1);
    let b = svc.ready().await.unwrap().call(2);
    assert_eq!(batcher.queued(), 2);
    // Full: poll_ready waits (and is woken when room frees, not polled).
    let mut third = svc.clone();
    let waiter = tokio::spawn(async move {
        third.ready().await.unwrap();
        third.call(3).await
    });
    tokio::time::sleep(ms(100)).await;
    assert!(!waiter.is_finished());
    handle.allow(1);
    let (req, respond) = handle.next_request().await.unwrap();
    assert_eq!(req, [1, 2]);
    respond.send_response(vec![10, 20]);
    assert_eq!((a.await.unwrap(), b.await.unwrap()), (10, 20));
    handle.allow(1);
    let (req, respond) = handle.next_request().await.unwrap();
    assert_eq!(req, [3]);
    respond.send_response(vec![30]);
    assert_eq!(waiter.await.unwrap().unwrap(), 30);
}

#[tokio::test(start_paused = true)]
async fn reject_when_full_rejects_at_once() {
    let batcher = Batcher::builder("embed")
        .max_size(2)
        .queue_capacity(2)
        .reject_when_full()
        .build()
        .unwrap();
    let (inner, mut handle) = tower_test::mock::pair::<Vec<u32>, Vec<u32>>();
    handle.allow(0);
    let mut svc = batcher.layer().layer(inner);
    let a = svc.ready().await.unwrap().call(1);
    let b = svc.ready().await.unwrap().call(2);
    let err = svc.ready().await.unwrap().call(3).await.unwrap_err();
    let rejected = Rejected::find(&*err).expect("Rejected");
    assert_eq!(rejected.kind(), RejectKind::BatchFull);
    assert_eq!(rejected.name(), "embed");
    // Room again once the batch is sent.
    handle.allow(1);
    let (_, respond) = handle.next_request().await.unwrap();
    respond.send_response(vec![10, 20]);
    assert_eq!((a.await.unwrap(), b.await.unwrap()), (10, 20));
    handle.allow(1);
    let c = svc.ready().await.unwrap().call(3);
    let (req, respond) = handle.next_request().await.unwrap();
    assert_eq!(req, [3]);
    respond.send_response(vec![30]);
    assert_eq!(c.await.unwrap(), 30);
}

#[tokio::test(start_paused = true)]
async fn the_worker_ends_when_everything_is_dropped_and_answers_in_flight_callers() {
    let batcher = Batcher::builder("t").max_size(4).build().unwrap();
    let (inner, _log) = Recorder::new(Behaviour::default());
    let token = Arc::downgrade(&inner.token);
    let mut svc = batcher.layer().layer(inner);
    let pending = svc.ready().await.unwrap().call(7);
    tokio::task::yield_now().await;
    assert_eq!(batcher.workers(), 1);
    assert_eq!(batcher.in_flight(), 1);
    drop(svc);
    // The batch in flight is still answered after every service is gone.
    assert_eq!(pending.await.unwrap(), 70);
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(batcher.workers(), 0, "the worker task ended");
    assert!(token.upgrade().is_none(), "and dropped the inner service");
}

#[tokio::test(start_paused = true)]
async fn items_still_queued_when_everything_is_dropped_are_sent() {
    let loader = Loader::builder("t")
        .max_size(10)
        .max_wait(Duration::from_secs(60))
        .build()
        .unwrap();
    let (inner, log) = Recorder::new(Behaviour::default());
    let token = Arc::downgrade(&inner.token);
    let mut svc = loader.layer().layer(KeyedRecorder(inner));
    let a = svc.ready().await.unwrap().call(1);
    let b = svc.ready().await.unwrap().call(2);
    drop(svc);
    let (a, b) = tokio::join!(a, b);
    assert_eq!((a.unwrap(), b.unwrap()), (Some(10), Some(20)));
    assert_eq!(log.batches(), vec![vec![1, 2]]);
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(token.upgrade().is_none());
    assert_eq!(loader.workers(), 0);
}

#[test]
fn callers_get_closed_when_the_workers_runtime_shuts_down() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let batcher = Batcher::builder("embed")
        .max_wait(Duration::from_secs(60))
        .max_size(8)
        .runtime(rt.handle().clone())
        .build()
        .unwrap();
    let bulk = service_fn(|xs: Vec<u32>| async move { Ok::<_, std::io::Error>(xs) });
    let mut svc = batcher.layer().layer(bulk);
    let other = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    // Queued in the worker, which never gets to run before its runtime is gone.
    other.block_on(svc.ready()).unwrap();
    let pending = svc.call(1);
    drop(rt);
    let err = other.block_on(pending).unwrap_err();
    let rejected = Rejected::find(&*err).expect("Rejected");
    assert_eq!(rejected.kind(), RejectKind::Closed);
    assert_eq!(batcher.workers(), 0);
    // New calls are rejected at once too.
    let err = other
        .block_on(async { svc.ready().await.unwrap().call(2).await })
        .unwrap_err();
    assert_eq!(Rejected::find(&*err).unwrap().kind(), RejectKind::Closed);
}

#[test]
fn build_outside_a_runtime_is_a_config_error() {
    let err = Batcher::builder("t").build().unwrap_err();
    assert_eq!(err.field(), "runtime");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let batcher = Batcher::builder("t")
        .runtime(rt.handle().clone())
        .build()
        .unwrap();
    // The layer can be applied outside the runtime too: the worker runs on it.
    let bulk = service_fn(|xs: Vec<u32>| async move { Ok::<_, std::io::Error>(xs) });
    let svc = batcher.layer().layer(bulk);
    assert_eq!(rt.block_on(svc.oneshot(4)).unwrap(), 4);
}

#[tokio::test]
async fn bad_config_names_the_field() {
    let max_permits = tokio::sync::Semaphore::MAX_PERMITS;
    let cases = [
        (
            Batcher::builder("t").max_size(0).build().unwrap_err(),
            "max_size",
            "max_size must be at least 1, got 0".to_string(),
        ),
        (
            Batcher::builder("t").max_weight(0).build().unwrap_err(),
            "max_weight",
            "max_weight must be at least 1, got 0".to_string(),
        ),
        (
            Batcher::builder("t").max_in_flight(0).build().unwrap_err(),
            "max_in_flight",
            "max_in_flight must be at least 1, got 0".to_string(),
        ),
        (
            Batcher::builder("t")
                .max_size(10)
                .queue_capacity(5)
                .build()
                .unwrap_err(),
            "queue_capacity",
            format!(
                "queue_capacity must be at least max_size (10) and at most {max_permits}, got 5"
            ),
        ),
        (
            Loader::builder("t").bisect_on_error(0).build().unwrap_err(),
            "bisect_on_error",
            "bisect_on_error must be in 1..=16, got 0".to_string(),
        ),
        (
            Loader::builder("t")
                .bisect_on_error(17)
                .build()
                .unwrap_err(),
            "bisect_on_error",
            "bisect_on_error must be in 1..=16, got 17".to_string(),
        ),
    ];
    for (err, field, message) in cases {
        assert_eq!(err.field(), field);
        assert_eq!(err.to_string(), message);
    }
}

#[cfg(feature = "metrics")]
#[tokio::test(start_paused = true)]
async fn metrics_record_sizes_and_flush_reasons() {
    use std::collections::HashMap;

    use metrics_util::{
        MetricKind,
        debugging::{DebugValue, DebuggingRecorder},
    };
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let batcher = metrics::with_local_recorder(&recorder, || {
        Batcher::builder("embed")
            .max_size(2)
            .max_wait(ms(5))
            .build()
            .unwrap()
    });
    let (inner, _log) = Recorder::new(Behaviour::default());
    let svc = batcher.layer().layer(inner);
    let handles: Vec<_> = (0..3)
        .map(|i| tokio::spawn(svc.clone().oneshot(i)))
        .collect();
    for h in handles {
        h.await.unwrap().unwrap();
    }
    let snapshot = snapshotter.snapshot().into_hashmap();
    let mut flushes = HashMap::new();
    let mut sizes = Vec::new();
    let mut queue_waits: Vec<f64> = Vec::new();
    let mut in_flight = None;
    for (key, (_, _, value)) in &snapshot {
        let labels: HashMap<_, _> = key
            .key()
            .labels()
            .map(|l| (l.key().to_string(), l.value().to_string()))
            .collect();
        assert_eq!(labels["name"], "embed");
        match (key.kind(), key.key().name(), value) {
            (MetricKind::Counter, "palisade_batch_flushes_total", DebugValue::Counter(n)) => {
                flushes.insert(labels["reason"].clone(), *n);
            }
            (MetricKind::Histogram, "palisade_batch_size", DebugValue::Histogram(v)) => {
                sizes = v.iter().map(|x| x.into_inner()).collect();
            }
            (
                MetricKind::Histogram,
                "palisade_batch_queue_wait_seconds",
                DebugValue::Histogram(v),
            ) => {
                queue_waits = v.iter().map(|x| x.into_inner()).collect();
            }
            (MetricKind::Gauge, "palisade_batch_in_flight", DebugValue::Gauge(v)) => {
                in_flight = Some(v.into_inner());
            }
            _ => {}
        }
    }
    assert_eq!(flushes["size"], 1);
    assert_eq!(flushes["time"], 1);
    assert_eq!(flushes["eager"], 0);
    assert_eq!(sizes, [2.0, 1.0]);
    // Two items flushed by size at once, the third after `max_wait`.
    queue_waits.sort_by(f64::total_cmp);
    assert_eq!(queue_waits, [0.0, 0.0, 0.005]);
    assert_eq!(in_flight, Some(0.0), "every inner call finished");
}

#[tokio::test(start_paused = true)]
async fn two_axum_routes_share_one_loader() {
    use axum::{
        Router,
        extract::{Path, State},
        routing::get,
    };
    use http::Request;

    type Users = palisade_batch::LoaderService<u32, u32>;
    async fn user(State(users): State<Users>, Path(id): Path<u32>) -> String {
        format!("{:?}", users.oneshot(id).await.unwrap())
    }
    let loader = Loader::builder("users")
        .max_size(10)
        .max_wait(ms(5))
        .build()
        .unwrap();
    let (inner, log) = Recorder::new(Behaviour::default());
    let users: Users = ServiceBuilder::new()
        .layer(loader.layer())
        .service(KeyedRecorder(inner));
    let app = Router::new()
        .route("/users/{id}", get(user))
        .route("/profiles/{id}", get(user))
        .with_state(users);
    let get = |uri: &'static str| {
        let app = app.clone();
        async move {
            let res = app
                .oneshot(Request::get(uri).body(axum::body::Body::empty()).unwrap())
                .await
                .unwrap();
            let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
            String::from_utf8(body.to_vec()).unwrap()
        }
    };
    let (a, b) = tokio::join!(get("/users/1"), get("/profiles/2"));
    assert_eq!((a.as_str(), b.as_str()), ("Some(10)", "Some(20)"));
    assert_eq!(
        log.batches(),
        vec![vec![1, 2]],
        "one bulk call for both routes"
    );
}
