//! The timeout's behaviour, with paused time and in-process services.
// Some tests take a reservation in a task and await its response later.
#![allow(clippy::async_yields_async)]

use http::{HeaderName, Request};
use palisade_core::{BoxError, RejectKind, Rejected};
use palisade_shed::{Deadline, Timeout, timeout::Ambient};
use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};
use tower_test::mock;

const HEADER: HeaderName = HeaderName::from_static("x-request-timeout-ms");

fn timeout(secs: u64) -> Timeout {
    Timeout::builder("api")
        .timeout(Duration::from_secs(secs))
        .honor_header(HEADER)
        .build()
        .unwrap()
}

/// A handler that reports the budget it sees, through both ways of reading it.
async fn budget_seen(timeout: &Timeout, req: Request<()>) -> Result<Duration, BoxError> {
    let handler = service_fn(|req: Request<()>| async move {
        let ambient = Deadline::current().expect("ambient deadline");
        let extension = *req.extensions().get::<Deadline>().expect("extension");
        assert_eq!(ambient, extension);
        Ok::<_, Infallible>(ambient.remaining())
    });
    ServiceBuilder::new()
        .layer(timeout.layer())
        .service(handler)
        .oneshot(req)
        .await
}

fn request(headers: &[(&str, &str)]) -> Request<()> {
    let mut builder = Request::builder();
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(()).unwrap()
}

fn assert_deadline_exceeded(err: &BoxError, name: &str) {
    let rejected = Rejected::find(&**err).expect("a Rejected");
    assert_eq!(rejected.kind(), RejectKind::DeadlineExceeded);
    assert_eq!(rejected.name(), name);
}

#[tokio::test(start_paused = true)]
async fn deadline_is_the_earliest_of_its_sources() {
    let t = timeout(2);
    let ms = Duration::from_millis;
    let cases: &[(&[(&str, &str)], Duration)] = &[
        (&[], ms(2_000)),
        (&[("grpc-timeout", "500m")], ms(500)),
        (&[("x-request-timeout-ms", "300")], ms(300)),
        (
            &[("grpc-timeout", "500m"), ("x-request-timeout-ms", "300")],
            ms(300),
        ),
        (
            &[("grpc-timeout", "100m"), ("x-request-timeout-ms", "300")],
            ms(100),
        ),
        // Longer than the configured timeout: the timeout wins.
        (
            &[("grpc-timeout", "1H"), ("x-request-timeout-ms", "5000")],
            ms(2_000),
        ),
        // Units other than milliseconds.
        (&[("grpc-timeout", "1S")], ms(1_000)),
        (&[("grpc-timeout", "250000u")], ms(250)),
    ];
    for (headers, want) in cases {
        let got = budget_seen(&t, request(headers)).await.unwrap();
        assert_eq!(got, *want, "headers {headers:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_outer_deadline_is_a_source_too() {
    let t = timeout(2);
    // In the request's extensions (an outer Palisade timeout on the same request).
    let mut req = request(&[("grpc-timeout", "900m")]);
    req.extensions_mut()
        .insert(Deadline::after(Duration::from_millis(700)));
    assert_eq!(
        budget_seen(&t, req).await.unwrap(),
        Duration::from_millis(700)
    );

    // Ambient (a client stack inside a handler).
    let got = Deadline::after(Duration::from_millis(400))
        .scope(budget_seen(&t, request(&[("grpc-timeout", "900m")])))
        .await
        .unwrap();
    assert_eq!(got, Duration::from_millis(400));

    // Nested timeouts: the inner, longer one keeps the outer deadline.
    let outer = timeout(1);
    let inner = timeout(5);
    let svc = ServiceBuilder::new()
        .layer(outer.layer())
        .layer(inner.layer())
        .service(service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(Deadline::current().unwrap().remaining())
        }));
    let got = svc.oneshot(request(&[])).await.unwrap();
    assert_eq!(got, Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn the_extension_is_overwritten_in_place_or_left_out_on_request() {
    // An outer deadline in the extensions is replaced by the (earlier) one of
    // this timeout: one `Deadline` entry, the request's.
    let t = timeout(2);
    let mut req = request(&[("grpc-timeout", "300m")]);
    req.extensions_mut()
        .insert(Deadline::after(Duration::from_millis(900)));
    assert_eq!(
        budget_seen(&t, req).await.unwrap(),
        Duration::from_millis(300)
    );

    // Left out: the handler still reads the deadline, the extensions have
    // none.
    let t = Timeout::builder("api")
        .timeout(Duration::from_secs(2))
        .deadline_in_extensions(false)
        .build()
        .unwrap();
    assert!(!t.source().puts_deadline_in_extensions());
    let svc =
        ServiceBuilder::new()
            .layer(t.layer())
            .service(service_fn(|req: Request<()>| async move {
                assert!(req.extensions().get::<Deadline>().is_none());
                Ok::<_, Infallible>(Deadline::current().expect("ambient").remaining())
            }));
    let got = svc
        .oneshot(request(&[("grpc-timeout", "250m")]))
        .await
        .unwrap();
    assert_eq!(got, Duration::from_millis(250));
}

#[tokio::test(start_paused = true)]
async fn invalid_headers_are_ignored() {
    let t = timeout(2);
    for headers in [
        &[("grpc-timeout", "123456789m")][..],
        &[("grpc-timeout", "5s")],
        &[("grpc-timeout", "")],
        &[("x-request-timeout-ms", "-1")],
        &[("x-request-timeout-ms", "1.5")],
        &[("x-request-timeout-ms", "99999999999999999999999")],
    ] {
        let got = budget_seen(&t, request(headers)).await.unwrap();
        assert_eq!(got, Duration::from_secs(2), "headers {headers:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn grpc_timeout_can_be_ignored() {
    let t = Timeout::builder("api")
        .timeout(Duration::from_secs(2))
        .honor_grpc_timeout(false)
        .build()
        .unwrap();
    let got = budget_seen(&t, request(&[("grpc-timeout", "10m")]))
        .await
        .unwrap();
    assert_eq!(got, Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn handler_reads_the_remaining_budget_as_time_passes() {
    let t = timeout(2);
    let svc =
        ServiceBuilder::new()
            .layer(t.layer())
            .service(service_fn(|_req: Request<()>| async {
                let before = Deadline::current().unwrap().remaining();
                tokio::time::sleep(Duration::from_millis(150)).await;
                let after = Deadline::current().unwrap().remaining();
                Ok::<_, Infallible>((before, after))
            }));
    let (before, after) = svc
        .oneshot(request(&[("grpc-timeout", "400m")]))
        .await
        .unwrap();
    assert_eq!(before, Duration::from_millis(400));
    assert_eq!(after, Duration::from_millis(250));
}

#[tokio::test(start_paused = true)]
async fn expired_requests_never_reach_the_inner_service() {
    let t = timeout(2);
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let svc =
        ServiceBuilder::new()
            .layer(t.layer())
            .service(service_fn(move |_req: Request<()>| {
                counted.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, Infallible>(()) }
            }));

    let mut outer_expired = request(&[]);
    outer_expired
        .extensions_mut()
        .insert(Deadline::at(Instant::now()));
    let requests = [
        request(&[("grpc-timeout", "0m")]),
        request(&[("grpc-timeout", "0n")]),
        request(&[("x-request-timeout-ms", "0")]),
        outer_expired,
    ];
    for req in requests {
        let err = svc.clone().oneshot(req).await.unwrap_err();
        assert_deadline_exceeded(&err, "api");
    }
    // An expired ambient deadline (a client stack inside a handler that ran out).
    let deadline = Deadline::after(Duration::from_millis(10));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let err = deadline
        .scope(svc.clone().oneshot(request(&[])))
        .await
        .unwrap_err();
    assert_deadline_exceeded(&err, "api");

    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // A live request does reach it.
    svc.oneshot(request(&[("grpc-timeout", "1m")]))
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_slow_request_fails_with_deadline_exceeded_at_its_deadline() {
    let t = timeout(2);
    let svc =
        ServiceBuilder::new()
            .layer(t.layer())
            .service(service_fn(|_req: Request<()>| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok::<_, Infallible>(())
            }));
    let start = Instant::now();
    let err = svc
        .oneshot(request(&[("grpc-timeout", "50m")]))
        .await
        .unwrap_err();
    assert_deadline_exceeded(&err, "api");
    // Paused time: the virtual clock stopped exactly at the deadline.
    assert_eq!(start.elapsed(), Duration::from_millis(50));
}

#[tokio::test(start_paused = true)]
async fn inner_errors_pass_through() {
    let t = timeout(2);
    let svc =
        ServiceBuilder::new()
            .layer(t.layer())
            .service(service_fn(|_req: Request<()>| async {
                Err::<(), BoxError>("boom".into())
            }));
    let err = svc.oneshot(request(&[])).await.unwrap_err();
    assert!(Rejected::find(&*err).is_none());
    assert_eq!(err.to_string(), "boom");
}

#[tokio::test(start_paused = true)]
async fn any_request_type_with_the_ambient_source() {
    let t = Timeout::builder("jobs")
        .timeout(Duration::from_millis(300))
        .source(Ambient)
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(t.layer())
        .service(service_fn(|n: u32| async move {
            let before = Deadline::current().map(Deadline::remaining);
            tokio::time::sleep(Duration::from_millis(u64::from(n))).await;
            let after = Deadline::current().map(Deadline::remaining);
            Ok::<_, Infallible>((before, after))
        }));
    let (before, after) = svc.clone().oneshot(100).await.unwrap();
    assert_eq!(before, Some(Duration::from_millis(300)));
    assert_eq!(after, Some(Duration::from_millis(200)));
    let err = svc.oneshot(1_000).await.unwrap_err();
    assert_deadline_exceeded(&err, "jobs");
}

#[tokio::test(start_paused = true)]
async fn include_ready_bounds_the_wait_for_readiness() {
    let t = Timeout::builder("ready")
        .timeout(Duration::from_millis(100))
        .source(Ambient)
        .include_ready()
        .build()
        .unwrap();
    let (svc, mut handle) = mock::pair::<u32, u32>();
    let mut svc = t.layer().layer(svc);
    handle.allow(0);
    let start = Instant::now();
    let err = async {
        svc.ready().await?;
        svc.call(1).await
    }
    .await
    .unwrap_err();
    assert_deadline_exceeded(&err, "ready");
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    // The inner service never saw the request.
    assert!(handle.poll_request().is_pending());
}

#[tokio::test(start_paused = true)]
async fn include_ready_counts_waiting_time_against_the_budget() {
    let t = Timeout::builder("ready")
        .timeout(Duration::from_millis(100))
        .source(Ambient)
        .include_ready()
        .build()
        .unwrap();
    let (svc, mut handle) = mock::pair::<u32, u32>();
    let mut svc = t.layer().layer(svc);
    handle.allow(0);
    let waiting = tokio::spawn(async move {
        svc.ready().await.unwrap();
        svc.call(2)
    });
    tokio::time::sleep(Duration::from_millis(60)).await;
    handle.allow(1);
    let response = waiting.await.unwrap();
    let (_request, _send) = handle.next_request().await.unwrap();
    let start = Instant::now();
    let err = response.await.unwrap_err();
    assert_deadline_exceeded(&err, "ready");
    assert_eq!(start.elapsed(), Duration::from_millis(40));
}

#[tokio::test(start_paused = true)]
async fn without_include_ready_the_clock_starts_in_call() {
    let t = Timeout::builder("call")
        .timeout(Duration::from_millis(100))
        .source(Ambient)
        .build()
        .unwrap();
    let (svc, mut handle) = mock::pair::<u32, u32>();
    let mut svc = t.layer().layer(svc);
    handle.allow(0);
    let waiting = tokio::spawn(async move {
        svc.ready().await.unwrap();
        svc.call(1)
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!waiting.is_finished(), "still waiting for readiness");
    handle.allow(1);
    let response = waiting.await.unwrap();
    let (_request, send) = handle.next_request().await.unwrap();
    tokio::time::sleep(Duration::from_millis(99)).await;
    send.send_response(7);
    assert_eq!(response.await.unwrap(), 7);
}

#[cfg(feature = "metrics")]
mod metrics_recorded {
    use super::*;
    use metrics::{SharedString, Unit};
    use metrics_util::{
        CompositeKey,
        debugging::{DebugValue, DebuggingRecorder},
    };

    type Snapshot = Vec<(CompositeKey, Option<Unit>, Option<SharedString>, DebugValue)>;

    fn counter(snapshot: &Snapshot, name: &str, labels: &[(&str, &str)]) -> u64 {
        snapshot
            .iter()
            .find_map(|(key, _, _, value)| {
                let key = key.key();
                let matches = key.name() == name
                    && labels
                        .iter()
                        .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v));
                match value {
                    DebugValue::Counter(n) if matches => Some(*n),
                    _ => None,
                }
            })
            .unwrap_or(0)
    }

    #[tokio::test(start_paused = true)]
    async fn expiries_are_counted() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let t = metrics::with_local_recorder(&recorder, || timeout(1));
        let svc =
            ServiceBuilder::new()
                .layer(t.layer())
                .service(service_fn(|_req: Request<()>| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    Ok::<_, Infallible>(())
                }));
        // One expires while running, one on arrival.
        svc.clone().oneshot(request(&[])).await.unwrap_err();
        svc.oneshot(request(&[("grpc-timeout", "0m")]))
            .await
            .unwrap_err();
        let snapshot = snapshotter.snapshot().into_vec();
        let exceeded = "palisade_shed_deadline_exceeded_total";
        assert_eq!(counter(&snapshot, exceeded, &[("name", "api")]), 2);
        let rejected = "palisade_shed_rejected_total";
        let labels = [("name", "api"), ("reason", "deadline_exceeded")];
        assert_eq!(counter(&snapshot, rejected, &labels), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn nested_timeouts_of_any_request_type_keep_the_earliest_deadline() {
    let build = |name: &'static str, ms: u64| {
        Timeout::builder(name)
            .timeout(Duration::from_millis(ms))
            .source(Ambient)
            .build()
            .unwrap()
    };
    let (outer, inner) = (build("outer", 100), build("inner", 5_000));
    let svc = ServiceBuilder::new()
        .layer(outer.layer())
        .layer(inner.layer())
        .service(service_fn(|sleep_ms: u64| async move {
            let seen = Deadline::current().unwrap().remaining();
            tokio::time::sleep(Duration::from_millis(sleep_ms)).await;
            Ok::<_, Infallible>(seen)
        }));
    assert_eq!(
        svc.clone().oneshot(0).await.unwrap(),
        Duration::from_millis(100)
    );
    let start = Instant::now();
    let err = svc.oneshot(1_000).await.unwrap_err();
    assert_deadline_exceeded(&err, "outer");
    assert_eq!(start.elapsed(), Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn a_scope_never_extends_an_outer_deadline() {
    let outer = Deadline::after(Duration::from_millis(100));
    let seen = outer
        .scope(async {
            Deadline::after(Duration::from_secs(10))
                .scope(async { Deadline::current() })
                .await
        })
        .await;
    assert_eq!(seen, Some(outer));
    // A shorter inner scope does shrink it, and the outer one is back after.
    let (inner_seen, after) = outer
        .scope(async {
            let inner = Deadline::after(Duration::from_millis(10));
            let seen = inner.scope(async { Deadline::current() }).await;
            (seen.map(Deadline::remaining), Deadline::current())
        })
        .await;
    assert_eq!(inner_seen, Some(Duration::from_millis(10)));
    assert_eq!(after, Some(outer));
    assert_eq!(Deadline::current(), None);
}
