//! The documented order, a deadline above a circuit breaker: a call cut off
//! by its deadline is a failure to the breaker, any other cancellation is
//! ignored. On paused time.

use palisade::{
    breaker::{CircuitBreaker, State},
    core::{BoxError, RejectKind, Rejected},
    shed::{Timeout, timeout::Ambient},
};
use std::{future::pending, time::Duration};
use tower::{ServiceBuilder, ServiceExt, service_fn};

fn kind(err: &BoxError) -> Option<RejectKind> {
    Rejected::find(&**err).map(Rejected::kind)
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
