//! Behaviour of the breaker through its layer and its manual API, on paused time.

use palisade_breaker::{Backoff, CircuitBreaker, Outcome, Reason, State, Transition};
use palisade_core::{BoxError, RejectKind, Rejected};
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::{sync::Semaphore, time::advance};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

fn is_open_rejection(err: &BoxError) -> bool {
    Rejected::find(&**err).is_some_and(|r| r.kind() == RejectKind::CircuitOpen)
}

/// Lets spawned tasks on the current-thread runtime run until they block.
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn count_window_truly_slides_peer_regression() {
    // tower-resilience 0.13: window 10, threshold 0.5, 100 successes then 30
    // failures leaves its breaker closed. Ours must open.
    let breaker = CircuitBreaker::builder("regression")
        .count_window(10)
        .failure_rate(0.5)
        .build()
        .unwrap();
    let fail = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f = fail.clone();
    let mut svc = ServiceBuilder::new()
        .layer(breaker.layer())
        .service(service_fn(move |_: u32| {
            let fail = f.load(Ordering::SeqCst);
            async move {
                if fail {
                    Err::<(), BoxError>("boom".into())
                } else {
                    Ok(())
                }
            }
        }));
    for i in 0..100 {
        svc.ready().await.unwrap().call(i).await.unwrap();
    }
    assert_eq!(breaker.state(), State::Closed);
    fail.store(true, Ordering::SeqCst);
    let mut rejected = 0;
    for i in 0..30 {
        let err = svc.ready().await.unwrap().call(i).await.unwrap_err();
        if is_open_rejection(&err) {
            rejected += 1;
        }
    }
    assert_eq!(breaker.state(), State::Open);
    // 5 failures out of the last 10 calls trip it: the remaining 25 are refused.
    assert_eq!(rejected, 25);
    assert_eq!(breaker.snapshot().times_opened, 1);
}

fn gated_service(
    calls: Arc<AtomicUsize>,
    gate: Arc<Semaphore>,
) -> impl Service<u32, Response = u32, Error = BoxError, Future: Send> + Clone + Send {
    service_fn(move |req: u32| {
        calls.fetch_add(1, Ordering::SeqCst);
        let gate = gate.clone();
        async move {
            gate.acquire().await.unwrap().forget();
            Ok::<_, BoxError>(req)
        }
    })
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_exactly_the_probes_of_100_concurrent_requests() {
    let breaker = CircuitBreaker::builder("cap")
        .consecutive_failures(1)
        .open_wait(Duration::from_secs(1))
        .half_open_probes(3)
        .build()
        .unwrap();
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);
    advance(Duration::from_secs(1)).await;

    let calls = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(0));
    let svc = ServiceBuilder::new()
        .layer(breaker.layer())
        .service(gated_service(calls.clone(), gate.clone()));
    let handles: Vec<_> = (0..100)
        .map(|i| tokio::spawn(svc.clone().oneshot(i)))
        .collect();
    settle().await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(breaker.state(), State::HalfOpen);

    gate.add_permits(3);
    let mut ok = 0;
    let mut refused = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) if is_open_rejection(&e) => refused += 1,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!((ok, refused), (3, 97));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_probe_that_overruns_the_half_open_timeout_reopens() {
    let breaker = CircuitBreaker::builder("slow-probe")
        .consecutive_failures(1)
        .open_wait(Duration::from_secs(1))
        .half_open_probes(1)
        .half_open_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::<Transition>::new()));
    let s = seen.clone();
    breaker.on_transition(move |t| s.lock().unwrap().push(t.clone()));

    breaker.try_acquire().unwrap().failure();
    advance(Duration::from_secs(1)).await;
    let stuck = breaker.try_acquire().expect("probe admitted");
    assert!(stuck.is_probe());
    advance(Duration::from_secs(5)).await;
    let busy = breaker.try_acquire().unwrap_err();
    assert_eq!(busy.kind(), RejectKind::CircuitOpen);
    assert_eq!(busy.retry_after(), Some(Duration::from_secs(5)));
    assert_eq!(breaker.state(), State::HalfOpen);

    advance(Duration::from_secs(6)).await;
    assert!(breaker.try_acquire().is_err());
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(
        seen.lock().unwrap().last().unwrap().reason(),
        Reason::ProbeTimedOut
    );
    // The stuck probe finishing now belongs to a past half-open period.
    stuck.success();
    assert_eq!(breaker.state(), State::Open);

    // A probe that finishes, successfully but too late, is a failure too.
    advance(Duration::from_secs(1)).await;
    let late = breaker.try_acquire().unwrap();
    advance(Duration::from_secs(11)).await;
    late.success();
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(
        seen.lock().unwrap().last().unwrap().reason(),
        Reason::ProbeTimedOut
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_probe_frees_its_slot() {
    let breaker = CircuitBreaker::builder("cancel")
        .consecutive_failures(1)
        .open_wait(Duration::from_secs(1))
        .half_open_probes(1)
        .build()
        .unwrap();
    breaker.try_acquire().unwrap().failure();
    advance(Duration::from_secs(1)).await;

    let calls = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(0));
    let mut svc = ServiceBuilder::new()
        .layer(breaker.layer())
        .service(gated_service(calls.clone(), gate.clone()));
    let probe = svc.ready().await.unwrap().call(1);
    // The only slot is taken.
    let err = svc.ready().await.unwrap().call(2).await.unwrap_err();
    assert!(is_open_rejection(&err));
    drop(probe);
    assert_eq!(breaker.state(), State::HalfOpen);
    // Cancelled: the slot is free again and the next call is the probe.
    gate.add_permits(1);
    assert_eq!(svc.ready().await.unwrap().call(3).await.unwrap(), 3);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn open_rejects_without_polling_the_inner_service() {
    let breaker = CircuitBreaker::builder("ready")
        .consecutive_failures(1)
        .build()
        .unwrap();
    breaker.try_acquire().unwrap().failure();
    // tower-test's mock is never ready unless allowed: an open breaker must
    // not wait on it.
    let (mut svc, mut handle) = tower_test::mock::spawn_layer::<u32, u32, _>(breaker.layer());
    handle.allow(0);
    tokio_test_ready(&mut svc).await;
    let err = svc.call(1).await.unwrap_err();
    assert!(is_open_rejection(&err));
    assert_eq!(
        Rejected::find(&*err).unwrap().retry_after(),
        Some(Duration::from_secs(30))
    );
}

async fn tokio_test_ready<S: Service<u32>>(svc: &mut tower_test::mock::Spawn<S>) {
    match svc.poll_ready() {
        std::task::Poll::Ready(Ok(())) => {}
        _ => panic!("an open breaker must be ready at once"),
    }
}

#[tokio::test(start_paused = true)]
async fn backoff_grows_on_reopen_and_resets_on_close() {
    let breaker = CircuitBreaker::builder("backoff")
        .consecutive_failures(1)
        .open_backoff(Backoff::exponential(
            Duration::from_secs(2),
            Duration::from_secs(5),
        ))
        .half_open_probes(1)
        .build()
        .unwrap();
    let retry = |b: &CircuitBreaker| b.try_acquire().unwrap_err().retry_after().unwrap();
    breaker.try_acquire().unwrap().failure();
    assert_eq!(retry(&breaker), Duration::from_secs(2));
    advance(Duration::from_secs(2)).await;
    breaker.try_acquire().unwrap().failure();
    assert_eq!(retry(&breaker), Duration::from_secs(4));
    advance(Duration::from_secs(4)).await;
    breaker.try_acquire().unwrap().failure();
    assert_eq!(retry(&breaker), Duration::from_secs(5), "capped");
    advance(Duration::from_secs(5)).await;
    breaker.try_acquire().unwrap().success();
    assert_eq!(breaker.state(), State::Closed);
    breaker.try_acquire().unwrap().failure();
    assert_eq!(
        retry(&breaker),
        Duration::from_secs(2),
        "reset by the close"
    );
    assert_eq!(breaker.snapshot().times_opened, 4);
}

#[tokio::test(start_paused = true)]
async fn wait_while_open_holds_poll_ready_until_probing() {
    let breaker = CircuitBreaker::builder("lb")
        .consecutive_failures(1)
        .open_wait(Duration::from_secs(3))
        .half_open_probes(1)
        .wait_while_open()
        .build()
        .unwrap();
    breaker.try_acquire().unwrap().failure();
    let mut svc = ServiceBuilder::new()
        .layer(breaker.layer())
        .service(service_fn(|r: u32| async move { Ok::<_, BoxError>(r) }));
    let start = tokio::time::Instant::now();
    let ready = tokio::spawn(async move {
        svc.ready().await.unwrap();
        let r = svc.call(7).await.unwrap();
        (r, tokio::time::Instant::now())
    });
    settle().await;
    assert!(!ready.is_finished());
    let (r, at) = ready.await.unwrap();
    assert_eq!(r, 7);
    assert_eq!(at - start, Duration::from_secs(3));
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn manual_states() {
    let breaker = CircuitBreaker::builder("manual")
        .consecutive_failures(1)
        .build()
        .unwrap();
    breaker.force_open();
    assert_eq!(breaker.state(), State::ForcedOpen);
    let r = breaker.try_acquire().unwrap_err();
    assert_eq!(r.retry_after(), None);

    breaker.disable();
    for _ in 0..5 {
        breaker.try_acquire().unwrap().failure();
    }
    assert_eq!(breaker.state(), State::Disabled);
    assert_eq!(breaker.snapshot().calls, 0, "disabled records nothing");

    breaker.metrics_only();
    for _ in 0..5 {
        breaker.try_acquire().unwrap().failure();
    }
    let snap = breaker.snapshot();
    assert_eq!(snap.state, State::MetricsOnly, "never trips");
    assert_eq!((snap.calls, snap.failures), (5, 5));

    breaker.reset();
    let snap = breaker.snapshot();
    assert_eq!((snap.state, snap.calls), (State::Closed, 0));
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn slow_calls_trip_the_breaker() {
    let breaker = CircuitBreaker::builder("slow")
        .count_window(4)
        .minimum_calls(4)
        .slow_calls(Duration::from_millis(500), 0.5)
        .build()
        .unwrap();
    let mut svc = ServiceBuilder::new()
        .layer(breaker.layer())
        .service(service_fn(|ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, BoxError>(())
        }));
    for ms in [10, 600, 10] {
        svc.ready().await.unwrap().call(ms).await.unwrap();
    }
    assert_eq!(breaker.snapshot().slow_calls, 1);
    assert_eq!(breaker.state(), State::Closed);
    svc.ready().await.unwrap().call(500).await.unwrap();
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_callback_does_not_poison_the_breaker() {
    let breaker = CircuitBreaker::builder("panicky")
        .consecutive_failures(1)
        .open_wait(Duration::from_secs(1))
        .half_open_probes(1)
        .build()
        .unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    breaker.on_transition(|_| panic!("callback bug"));
    let c = count.clone();
    breaker.on_transition(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
    });
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);
    advance(Duration::from_secs(1)).await;
    breaker.try_acquire().unwrap().record(Outcome::Success);
    assert_eq!(breaker.state(), State::Closed);
    // closed->open, open->half_open, half_open->closed; later callbacks still run.
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn time_window_forgets_old_failures() {
    let breaker = CircuitBreaker::builder("time")
        .time_window(Duration::from_secs(10))
        .minimum_calls(2)
        .failure_rate(0.5)
        .build()
        .unwrap();
    breaker.try_acquire().unwrap().failure();
    advance(Duration::from_secs(11)).await;
    breaker.try_acquire().unwrap().success();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.snapshot().calls, 1);
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn ignored_outcomes_do_not_count() {
    let breaker = CircuitBreaker::builder("ignored")
        .count_window(2)
        .minimum_calls(2)
        .classify(|res: Result<&u32, &BoxError>| match res {
            Ok(0) => Outcome::Ignored,
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        })
        .build()
        .unwrap();
    let mut svc = ServiceBuilder::new()
        .layer(breaker.layer())
        .service(service_fn(|r: u32| async move { Ok::<_, BoxError>(r) }));
    for _ in 0..5 {
        svc.ready().await.unwrap().call(0).await.unwrap();
    }
    assert_eq!(breaker.snapshot().calls, 0);
    svc.ready().await.unwrap().call(1).await.unwrap();
    assert_eq!(breaker.snapshot().calls, 1);
}

#[tokio::test(start_paused = true)]
async fn closed_readiness_holds_nothing_and_call_decides() {
    // While closed, `poll_ready` reserves nothing: a breaker that opens
    // between `poll_ready` and `call` refuses in `call`, without calling the
    // inner service, and a service dropped after `poll_ready` leaves no trace.
    let breaker = CircuitBreaker::builder("late").build().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let make = || {
        let c = c.clone();
        ServiceBuilder::new()
            .layer(breaker.layer())
            .service(service_fn(move |i: u32| {
                c.fetch_add(1, Ordering::SeqCst);
                async move { Ok::<u32, BoxError>(i) }
            }))
    };
    let mut svc = make();
    svc.ready().await.unwrap();
    breaker.force_open();
    let err = svc.call(1).await.unwrap_err();
    assert!(is_open_rejection(&err));
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    breaker.reset();
    let mut unused = make();
    unused.ready().await.unwrap();
    drop(unused);
    assert_eq!(breaker.snapshot().calls, 0);
    assert_eq!(svc.ready().await.unwrap().call(2).await.unwrap(), 2);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(breaker.snapshot().calls, 1);
}
