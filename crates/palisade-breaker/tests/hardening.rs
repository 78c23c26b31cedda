//! Calls that end without an answer: a panic is a failure, any other
//! cancellation is ignored unless it was already slow. On paused time. (A
//! call cut off by its deadline is a failure: `palisade`'s
//! `tests/deadline_breaker.rs`, with `palisade-shed`'s `Timeout` above.)

use palisade_breaker::{CircuitBreaker, Reason, State};
use palisade_core::BoxError;
use std::{
    future::pending,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{Arc, Mutex},
    time::Duration,
};
use tower::{Layer, Service, ServiceExt, service_fn};

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
