//! Many tasks on a multi-thread runtime: every outcome is counted once.

use palisade_breaker::{CircuitBreaker, State};
use palisade_core::BoxError;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counts_recorded_equal_calls_made() {
    const TASKS: u64 = 16;
    const CALLS: u64 = 500;
    let breaker = CircuitBreaker::builder("stress")
        .count_window(10_000)
        .minimum_calls(10_000)
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(breaker.layer())
        .service(service_fn(|i: u64| async move {
            if i.is_multiple_of(3) {
                Err::<u64, BoxError>("boom".into())
            } else {
                Ok(i)
            }
        }));
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let mut svc = svc.clone();
            let breaker = breaker.clone();
            tokio::spawn(async move {
                for i in 0..CALLS {
                    let n = t * CALLS + i;
                    let _ = svc.ready().await.unwrap().call(n).await;
                    // Mix in the manual API on the same state machine.
                    if n.is_multiple_of(7) {
                        breaker.try_acquire().unwrap().success();
                    }
                    if n.is_multiple_of(11) {
                        drop(breaker.try_acquire().unwrap());
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let total = TASKS * CALLS;
    let failures = (0..total).filter(|n| n.is_multiple_of(3)).count() as u64;
    let manual = (0..total).filter(|n| n.is_multiple_of(7)).count() as u64;
    let snap = breaker.snapshot();
    assert_eq!(snap.state, State::Closed);
    assert_eq!(snap.calls, total + manual);
    assert_eq!(snap.failures, failures);
}

#[test]
fn threads_racing_a_trip_transition_once() {
    // Many threads fail at once: the breaker opens exactly once.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let breaker = CircuitBreaker::builder("race")
            .count_window(100)
            .minimum_calls(10)
            .build()
            .unwrap();
        let opened = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let o = opened.clone();
        breaker.on_transition(move |t| {
            if t.to() == State::Open {
                o.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let b = breaker.clone();
                tokio::spawn(async move {
                    for _ in 0..100 {
                        if let Ok(p) = b.try_acquire() {
                            p.failure();
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(breaker.state(), State::Open);
        assert_eq!(opened.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(breaker.snapshot().times_opened, 1);
    });
}

#[test]
fn concurrent_mixed_outcomes_leave_the_window_consistent() {
    // Threads race successes (most of them through the no-write path of a
    // window full of successes) against failures that move the ring. If any
    // count were lost or doubled, the counters would disagree with the ring
    // for good: N successes in a row afterwards would not read N calls and
    // no failure.
    const N: usize = 64;
    let breaker = CircuitBreaker::builder("mixed")
        .count_window(N)
        .minimum_calls(N as u64)
        .failure_rate(1.0)
        .build()
        .unwrap();
    std::thread::scope(|scope| {
        for t in 0..4u64 {
            let breaker = &breaker;
            scope.spawn(move || {
                for i in 0..20_000u64 {
                    let permit = breaker.try_acquire().unwrap();
                    if (i + t) % 50 == 0 {
                        permit.failure();
                    } else if (i + t) % 97 == 0 {
                        drop(permit);
                    } else {
                        permit.success();
                    }
                }
            });
        }
    });
    assert_eq!(breaker.state(), State::Closed);
    for _ in 0..N {
        breaker.try_acquire().unwrap().success();
    }
    let snap = breaker.snapshot();
    assert_eq!((snap.calls, snap.failures), (N as u64, 0));
    breaker.try_acquire().unwrap().failure();
    let snap = breaker.snapshot();
    assert_eq!((snap.calls, snap.failures), (N as u64, 1));
}
