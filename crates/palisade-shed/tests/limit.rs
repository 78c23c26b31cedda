//! The concurrency limit's behaviour.
// Some tests take a reservation in a task and await its response later.
#![allow(clippy::async_yields_async)]

mod common;

use axum::{Router, routing::get};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use palisade_core::{BoxError, RejectKind, Rejected, http::ErrorResponseLayer};
use palisade_shed::ConcurrencyLimit;
use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::sync::watch;
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};
use tower_test::mock;

fn limit(max: usize) -> ConcurrencyLimit {
    ConcurrencyLimit::builder("api")
        .max_in_flight(max)
        .retry_after(Duration::from_secs(3))
        .build()
        .unwrap()
}

fn assert_overloaded(err: &BoxError) {
    let rejected = Rejected::find(&**err).expect("a Rejected");
    assert_eq!(rejected.kind(), RejectKind::Overloaded);
    assert_eq!(rejected.name(), "api");
    assert_eq!(rejected.retry_after(), Some(Duration::from_secs(3)));
}

#[tokio::test(start_paused = true)]
async fn rejects_at_once_when_full_and_frees_the_slot_on_completion() {
    let limit = limit(2);
    let (inner, mut handle) = mock::pair::<u32, u32>();
    let mut a = limit.layer().layer(inner.clone());
    let mut b = limit.layer().layer(inner.clone());
    let mut c = limit.layer().layer(inner);
    handle.allow(10);

    let fa = a.ready().await.unwrap().call(1);
    let fb = b.ready().await.unwrap().call(2);
    assert_eq!(limit.in_flight(), 2);
    // Full: answered at once, the inner service never sees it.
    let err = c.ready().await.unwrap().call(3).await.unwrap_err();
    assert_overloaded(&err);

    let (r1, s1) = handle.next_request().await.unwrap();
    let (r2, _s2) = handle.next_request().await.unwrap();
    assert_eq!((r1, r2), (1, 2));
    s1.send_response(10);
    assert_eq!(fa.await.unwrap(), 10);
    assert_eq!(limit.in_flight(), 1);
    // Dropping a response future gives its slot back too.
    drop(fb);
    assert_eq!(limit.in_flight(), 0);

    let fc = c.ready().await.unwrap().call(4);
    let (r4, s4) = handle.next_request().await.unwrap();
    assert_eq!(r4, 4);
    s4.send_response(40);
    assert_eq!(fc.await.unwrap(), 40);
    assert!(
        handle.poll_request().is_pending(),
        "request 3 never reached it"
    );
}

#[tokio::test(start_paused = true)]
async fn rejected_total_counts_rejections_only_across_services_and_clones() {
    let limit = limit(1);
    let handle_clone = limit.clone();
    let (inner, mut handle) = mock::pair::<u32, u32>();
    handle.allow(10);
    let mut a = limit.layer().layer(inner.clone());
    let mut b = limit.layer().layer(inner);
    assert_eq!(limit.rejected_total(), 0);

    let fa = a.ready().await.unwrap().call(1);
    for n in 0..3 {
        let err = b.ready().await.unwrap().call(2).await.unwrap_err();
        assert_overloaded(&err);
        assert_eq!(limit.rejected_total(), n + 1);
    }
    let (_, s1) = handle.next_request().await.unwrap();
    s1.send_response(10);
    assert_eq!(fa.await.unwrap(), 10);

    // Admitted requests do not count.
    let fb = b.ready().await.unwrap().call(3);
    let (_, s3) = handle.next_request().await.unwrap();
    s3.send_response(30);
    assert_eq!(fb.await.unwrap(), 30);
    assert_eq!(limit.rejected_total(), 3);
    assert_eq!(handle_clone.rejected_total(), 3, "one count per limit");
}

#[tokio::test(start_paused = true)]
async fn never_rejects_because_the_inner_service_is_pending() {
    let limit = limit(1);
    let (inner, mut handle) = mock::pair::<u32, u32>();
    let mut svc = limit.layer().layer(inner.clone());
    handle.allow(0);
    let waiting = tokio::spawn(async move {
        svc.ready().await.unwrap();
        svc.call(1)
    });
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(!waiting.is_finished(), "waits for readiness, no rejection");
    assert_eq!(limit.in_flight(), 1, "the waiting request holds its slot");

    // While that one waits, the limit is full: another is rejected at
    // once, without waiting for the (still pending) inner service.
    let mut other = limit.layer().layer(inner);
    let err = other.ready().await.unwrap().call(2).await.unwrap_err();
    assert_overloaded(&err);

    handle.allow(1);
    let response = waiting.await.unwrap();
    let (request, send) = handle.next_request().await.unwrap();
    assert_eq!(request, 1);
    send.send_response(1);
    assert_eq!(response.await.unwrap(), 1);
    assert_eq!(limit.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_clone_never_copies_a_reservation() {
    let limit = limit(1);
    let (inner, mut handle) = mock::pair::<u32, u32>();
    handle.allow(10);
    let mut svc = limit.layer().layer(inner);
    svc.ready().await.unwrap();
    assert_eq!(limit.in_flight(), 1);
    let mut clone = svc.clone();
    assert_eq!(limit.in_flight(), 1);
    // The clone has to reserve for itself, and the only slot is taken.
    let err = clone.ready().await.unwrap().call(9).await.unwrap_err();
    assert_overloaded(&err);
    // The original keeps its reservation.
    let fut = svc.call(1);
    let (_, send) = handle.next_request().await.unwrap();
    send.send_response(1);
    fut.await.unwrap();
    // Dropping a service with a reservation gives the slot back.
    svc.ready().await.unwrap();
    assert_eq!(limit.in_flight(), 1);
    drop(svc);
    assert_eq!(limit.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn inner_errors_pass_through_and_free_the_slot() {
    let limit = limit(1);
    let svc = ServiceBuilder::new()
        .layer(limit.layer())
        .service(service_fn(|_: ()| async {
            Err::<(), BoxError>("boom".into())
        }));
    let err = svc.oneshot(()).await.unwrap_err();
    assert!(Rejected::find(&*err).is_none());
    assert_eq!(limit.in_flight(), 0);
}

#[test]
fn a_thousand_concurrent_requests_on_a_multi_thread_runtime() {
    const MAX: usize = 16;
    const N: usize = 1_000;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let limit = limit(MAX);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (open, gate) = watch::channel(false);
        let inner = {
            let (running, most) = (Arc::clone(&running), Arc::clone(&most));
            service_fn(move |i: usize| {
                let (running, most, mut gate) = (running.clone(), most.clone(), gate.clone());
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    gate.wait_for(|open| *open).await.unwrap();
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, Infallible>(i)
                }
            })
        };
        let svc = ServiceBuilder::new().layer(limit.layer()).service(inner);
        let rejected = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..N)
            .map(|i| {
                let svc = svc.clone();
                let rejected = Arc::clone(&rejected);
                tokio::spawn(async move {
                    let result = svc.oneshot(i).await;
                    if let Err(err) = &result {
                        assert_eq!(
                            Rejected::find(&**err).unwrap().kind(),
                            RejectKind::Overloaded
                        );
                        rejected.fetch_add(1, Ordering::SeqCst);
                    }
                    result.is_ok()
                })
            })
            .collect();
        // Wait (bounded) until every request is either running or rejected.
        tokio::time::timeout(Duration::from_secs(30), async {
            while rejected.load(Ordering::SeqCst) + running.load(Ordering::SeqCst) < N {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("every request was admitted or rejected");
        assert_eq!(limit.in_flight(), MAX);
        open.send(true).unwrap();
        let mut answered = 0;
        for task in tasks {
            if task.await.unwrap() {
                answered += 1;
            }
        }
        assert_eq!(answered, MAX);
        assert_eq!(rejected.load(Ordering::SeqCst), N - MAX);
        assert!(most.load(Ordering::SeqCst) <= MAX);
        assert_eq!(limit.in_flight(), 0);
    });
}

#[test]
fn a_thousand_requests_through_a_free_running_inner_service() {
    // The inner service yields and finishes on its own: admitted and
    // rejected requests interleave. Invariants hold at every moment.
    const MAX: usize = 8;
    const N: usize = 1_000;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let limit = limit(MAX);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let inner = {
            let (running, most) = (Arc::clone(&running), Arc::clone(&most));
            service_fn(move |i: usize| {
                let (running, most) = (running.clone(), most.clone());
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    for _ in 0..3 {
                        tokio::task::yield_now().await;
                    }
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, Infallible>(i)
                }
            })
        };
        let svc = ServiceBuilder::new().layer(limit.layer()).service(inner);
        let tasks: Vec<_> = (0..N)
            .map(|i| tokio::spawn(svc.clone().oneshot(i)))
            .collect();
        let (mut ok, mut shed) = (0, 0);
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => ok += 1,
                Err(err) => {
                    assert_overloaded(&err);
                    shed += 1;
                }
            }
        }
        assert_eq!(ok + shed, N);
        assert!(ok >= MAX);
        assert!(most.load(Ordering::SeqCst) <= MAX);
        assert_eq!(limit.in_flight(), 0);
    });
}

/// A body of `frames` chunks, one every 100 ms.
fn slow_body(frames: usize) -> axum::body::Body {
    let stream = futures_util::stream::unfold(0, move |i| async move {
        if i == frames {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        Some((
            Ok::<_, Infallible>(Frame::data(Bytes::from(format!("chunk {i};")))),
            i + 1,
        ))
    });
    axum::body::Body::new(StreamBody::new(stream))
}

#[tokio::test(start_paused = true)]
async fn hold_until_body_end_keeps_the_slot_while_the_body_streams() {
    let limit = ConcurrencyLimit::builder("api")
        .max_in_flight(1)
        .retry_after(Duration::from_secs(3))
        .hold_until_body_end()
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(limit.layer())
        .service(service_fn(|_: ()| async {
            Ok::<_, Infallible>(Response::new(slow_body(3)))
        }));

    let response = svc.clone().oneshot(()).await.unwrap();
    let mut body = response.into_body();
    assert!(body.is_tracking());
    assert_eq!(limit.in_flight(), 1, "the head is sent, the body is not");
    let err = svc.clone().oneshot(()).await.unwrap_err();
    assert_overloaded(&err);

    let mut received = String::new();
    while let Some(frame) = body.frame().await {
        let data = frame.unwrap().into_data().unwrap();
        received.push_str(std::str::from_utf8(&data).unwrap());
        if received != "chunk 0;chunk 1;chunk 2;" {
            assert_eq!(limit.in_flight(), 1, "mid-stream after {received:?}");
        }
    }
    assert_eq!(received, "chunk 0;chunk 1;chunk 2;");
    assert!(!body.is_tracking());
    assert_eq!(limit.in_flight(), 0, "released at the end of the stream");
    drop(body);

    // A body dropped mid-stream (client went away) gives the slot back.
    let mut body = svc.clone().oneshot(()).await.unwrap().into_body();
    body.frame().await.unwrap().unwrap();
    assert_eq!(limit.in_flight(), 1);
    drop(body);
    assert_eq!(limit.in_flight(), 0);
    svc.oneshot(()).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn by_default_the_slot_is_released_with_the_response_head() {
    let limit = limit(1);
    let svc = ServiceBuilder::new()
        .layer(limit.layer())
        .service(service_fn(|_: ()| async {
            Ok::<_, Infallible>(Response::new(slow_body(3)))
        }));
    let body = svc.clone().oneshot(()).await.unwrap().into_body();
    assert_eq!(limit.in_flight(), 0);
    svc.oneshot(()).await.unwrap();
    drop(body);
}

#[tokio::test]
async fn one_limit_is_shared_by_every_route_of_an_axum_router() {
    let limit = limit(1);
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
    // The other route shares the one slot: rejected with 503 + Retry-After.
    let res = client
        .get(format!("http://{addr}/b").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "3");

    open.send(true).unwrap();
    let res = slow.await.unwrap().unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(common::body_string(res.into_body()).await, "done");
    let res = client
        .request(
            Request::get(format!("http://{addr}/b"))
                .body(Default::default())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[cfg(feature = "metrics")]
#[tokio::test(start_paused = true)]
async fn in_flight_and_rejections_are_recorded() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let limit = metrics::with_local_recorder(&recorder, || limit(1));
    let (inner, mut handle) = mock::pair::<u32, u32>();
    handle.allow(10);
    let mut a = limit.layer().layer(inner.clone());
    let mut b = limit.layer().layer(inner);
    let _held = a.ready().await.unwrap().call(1);
    for _ in 0..2 {
        b.ready().await.unwrap().call(2).await.unwrap_err();
    }
    let snapshot = snapshotter.snapshot().into_vec();
    let value = |name: &str| {
        snapshot
            .iter()
            .find(|(key, ..)| {
                let key = key.key();
                key.name() == name
                    && key
                        .labels()
                        .any(|l| l.key() == "name" && l.value() == "api")
            })
            .map(|(key, _, _, value)| (key.key().clone(), value))
            .unwrap_or_else(|| panic!("{name} recorded"))
    };
    let (_, in_flight) = value("palisade_shed_in_flight");
    assert_eq!(in_flight, &DebugValue::Gauge(1.0.into()));
    let (key, rejected) = value("palisade_shed_rejected_total");
    assert!(
        key.labels()
            .any(|l| l.key() == "reason" && l.value() == "overloaded")
    );
    assert_eq!(rejected, &DebugValue::Counter(2));
}
