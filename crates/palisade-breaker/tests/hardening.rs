//! Calls that end without an answer: a panic is a failure, a call cut off by
//! its deadline is a failure, any other cancellation is ignored unless it
//! was already slow. On paused time.

use palisade_breaker::{CircuitBreaker, Reason, State};
use palisade_core::{BoxError, RejectKind, Rejected};
use palisade_shed::{Timeout, timeout::Ambient};
use std::{
    future::pending,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{Arc, Mutex},
    time::Duration,
};
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

fn kind(err: &BoxError) -> Option<RejectKind> {
    Rejected::find(&**err).map(Rejected::kind)
}

#[tokio::test(start_paused = true)]
async fn a_panicking_call_is_a_failure() {
    let breaker = CircuitBreaker::builder("panics")
        .consecutive_failures(2)
        .build()
        .unwrap();
    let mut svc = breaker.layer().layer(service_fn(|fail: bool| {
        assert!(!fail, "the handler panicked in call");
        async { Ok::<_, BoxError>(()) }
    }));
    for _ in 0..2 {
        svc.ready().await.unwrap();
        let unwound = catch_unwind(AssertUnwindSafe(|| drop(svc.call(true))));
        assert!(unwound.is_err());
    }
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_future_that_panics_while_polled_is_a_failure() {
    let breaker = CircuitBreaker::builder("panics-in-poll")
        .consecutive_failures(3)
        .build()
        .unwrap();
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let sink = reasons.clone();
    breaker.on_transition(move |t| sink.lock().unwrap().push(t.reason()));
    let svc = breaker.layer().layer(service_fn(|_: ()| async {
        tokio::task::yield_now().await;
        panic!("the handler panicked while polled");
        #[allow(unreachable_code)]
        Ok::<(), BoxError>(())
    }));
    for _ in 0..3 {
        // The runtime catches the panic and drops the future afterwards,
        // when nothing is unwinding any more.
        let joined = tokio::spawn(svc.clone().oneshot(())).await;
        assert!(joined.unwrap_err().is_panic());
    }
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(*reasons.lock().unwrap(), [Reason::ConsecutiveFailures]);
}

/// The documented order: the deadline above the breaker. A dependency that
/// hangs is cut off by the deadline every time; the breaker must see it.
#[tokio::test(start_paused = true)]
async fn calls_cut_off_by_their_deadline_trip_the_breaker() {
    let breaker = CircuitBreaker::builder("hangs")
        .consecutive_failures(3)
        .build()
        .unwrap();
    let timeout = Timeout::builder("deadline")
        .timeout(Duration::from_millis(100))
        .source(Ambient)
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(timeout.layer())
        .layer(breaker.layer())
        .service(service_fn(|_: u32| pending::<Result<u32, BoxError>>()));
    let mut expired = 0;
    let mut refused = 0;
    for i in 0..8 {
        let err = svc.clone().oneshot(i).await.unwrap_err();
        match kind(&err) {
            Some(RejectKind::DeadlineExceeded) => expired += 1,
            Some(RejectKind::CircuitOpen) => refused += 1,
            other => panic!("unexpected error {other:?}: {err}"),
        }
    }
    assert_eq!(breaker.state(), State::Open);
    assert_eq!((expired, refused), (3, 5));
}

#[tokio::test(start_paused = true)]
async fn a_call_cancelled_before_its_deadline_is_ignored() {
    let breaker = CircuitBreaker::builder("cancelled")
        .consecutive_failures(1)
        .build()
        .unwrap();
    let timeout = Timeout::builder("deadline")
        .timeout(Duration::from_secs(10))
        .source(Ambient)
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(timeout.layer())
        .layer(breaker.layer())
        .service(service_fn(|_: u32| pending::<Result<u32, BoxError>>()));
    for i in 0..5 {
        // The client goes away after 1 s, long before the deadline.
        let gone = tokio::time::timeout(Duration::from_secs(1), svc.clone().oneshot(i)).await;
        assert!(gone.is_err());
    }
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.snapshot().calls, 0);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_call_slower_than_the_threshold_counts_as_slow() {
    let breaker = CircuitBreaker::builder("slow-and-cancelled")
        .slow_calls(Duration::from_millis(500), 0.5)
        .count_window(4)
        .minimum_calls(4)
        .build()
        .unwrap();
    let svc = breaker
        .layer()
        .layer(service_fn(|_: u32| pending::<Result<u32, BoxError>>()));
    // Three cancelled before the threshold: nothing recorded.
    for i in 0..3 {
        let _ = tokio::time::timeout(Duration::from_millis(100), svc.clone().oneshot(i)).await;
    }
    assert_eq!(breaker.snapshot().calls, 0);
    for i in 0..4 {
        let _ = tokio::time::timeout(Duration::from_secs(1), svc.clone().oneshot(i)).await;
    }
    assert_eq!(breaker.state(), State::Open);
}
