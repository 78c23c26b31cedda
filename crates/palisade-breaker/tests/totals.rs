//! `Snapshot::calls_total` and `rejected_total`: monotonic counts since the
//! breaker was built, unaffected by the window resets of transitions.

use palisade_breaker::{CircuitBreaker, Outcome, State};
use palisade_core::BoxError;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

#[tokio::test]
async fn totals_count_every_finished_and_rejected_call() {
    let breaker = CircuitBreaker::builder("totals")
        .consecutive_failures(3)
        .build()
        .unwrap();
    let snap = breaker.snapshot();
    assert_eq!((snap.calls_total, snap.rejected_total), (0, 0));

    breaker.try_acquire().unwrap().success();
    breaker.try_acquire().unwrap().record(Outcome::Ignored);
    drop(breaker.try_acquire().unwrap()); // dropped: ignored, still a call
    for _ in 0..3 {
        breaker.try_acquire().unwrap().failure();
    }
    assert_eq!(breaker.state(), State::Open);
    for _ in 0..4 {
        breaker.try_acquire().unwrap_err();
    }
    let snap = breaker.snapshot();
    // The window was reset when it opened; the totals were not.
    assert_eq!(snap.calls, 0);
    assert_eq!((snap.calls_total, snap.rejected_total), (6, 4));

    breaker.reset();
    let snap = breaker.snapshot();
    assert_eq!((snap.calls_total, snap.rejected_total), (6, 4));
}

#[tokio::test]
async fn totals_count_calls_through_the_layer() {
    let breaker = CircuitBreaker::builder("layer")
        .consecutive_failures(2)
        .build()
        .unwrap();
    let mut svc = ServiceBuilder::new()
        .layer(breaker.layer())
        .service(service_fn(|fail: bool| async move {
            if fail {
                Err::<(), BoxError>("down".into())
            } else {
                Ok(())
            }
        }));
    for fail in [false, false, true, true, false, false] {
        let _ = svc.ready().await.unwrap().call(fail).await;
    }
    let snap = breaker.snapshot();
    // Four went through (the second failure opened it), two were refused.
    assert_eq!((snap.calls_total, snap.rejected_total), (4, 2));
}

#[test]
fn totals_add_up_across_threads() {
    let breaker = CircuitBreaker::builder("threads").build().unwrap();
    std::thread::scope(|s| {
        for _ in 0..8 {
            let breaker = breaker.clone();
            s.spawn(move || {
                for _ in 0..1000 {
                    breaker.try_acquire().unwrap().success();
                }
            });
        }
    });
    assert_eq!(breaker.snapshot().calls_total, 8000);
}
