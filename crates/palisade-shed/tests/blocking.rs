//! `BlockingPool`: bounds on running and waiting jobs, deadlines of waiting
//! jobs, panics, and the tower service.
#![cfg(feature = "blocking")]

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::Duration,
};

use palisade_core::{RejectKind, Rejected};
use palisade_shed::{BlockingPool, Deadline, JobPanicked};
use tower::{ServiceBuilder, ServiceExt};

/// A job that blocks its thread until the returned sender sends (or is dropped).
fn gate() -> (
    mpsc::Sender<()>,
    impl FnOnce() -> &'static str + Send + 'static,
) {
    let (tx, rx) = mpsc::channel::<()>();
    (tx, move || {
        let _ = rx.recv();
        "gated"
    })
}

async fn until(mut cond: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_micros(100));
    }
    panic!("condition never met");
}

fn kind(err: &palisade_core::BoxError) -> RejectKind {
    Rejected::find(err).expect("a Rejected").kind()
}

#[tokio::test(start_paused = true)]
async fn runs_at_most_n_queues_at_most_m_and_refuses_the_rest() {
    let pool = BlockingPool::builder("p")
        .max_running(2)
        .max_queued(1)
        .build()
        .unwrap();
    let (tx1, job1) = gate();
    let (tx2, job2) = gate();
    let a = tokio::spawn(pool.run(job1));
    let b = tokio::spawn(pool.run(job2));
    until(|| pool.running() == 2).await;

    let ran_c = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&ran_c);
    let c = tokio::spawn(pool.run(move || flag.store(true, Ordering::SeqCst)));
    until(|| pool.queued() == 1).await;

    // Two running, one waiting: the next job is refused at once, never run.
    let ran_d = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&ran_d);
    let err = pool
        .run(move || flag.store(true, Ordering::SeqCst))
        .await
        .unwrap_err();
    assert_eq!(kind(&err), RejectKind::Overloaded);
    assert!(!ran_c.load(Ordering::SeqCst));

    // A slot frees up: the waiting job runs.
    tx1.send(()).unwrap();
    assert_eq!(a.await.unwrap().unwrap(), "gated");
    c.await.unwrap().unwrap();
    assert!(ran_c.load(Ordering::SeqCst));
    tx2.send(()).unwrap();
    assert_eq!(b.await.unwrap().unwrap(), "gated");
    assert!(!ran_d.load(Ordering::SeqCst));
    assert_eq!((pool.running(), pool.queued()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn waiting_job_whose_deadline_passes_is_dropped_unrun() {
    let pool = BlockingPool::builder("p")
        .max_running(1)
        .max_queued(4)
        .build()
        .unwrap();
    let (tx, job) = gate();
    let a = tokio::spawn(pool.run(job));
    until(|| pool.running() == 1).await;

    let ran = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&ran);
    let waiting = pool.run(move || flag.store(true, Ordering::SeqCst));
    let b = tokio::spawn(Deadline::after(Duration::from_millis(100)).scope(waiting));
    until(|| pool.queued() == 1).await;

    tokio::time::advance(Duration::from_millis(99)).await;
    assert!(!b.is_finished());
    tokio::time::advance(Duration::from_millis(1)).await;
    let err = b.await.unwrap().unwrap_err();
    assert_eq!(kind(&err), RejectKind::DeadlineExceeded);
    assert_eq!(pool.queued(), 0);

    tx.send(()).unwrap();
    a.await.unwrap().unwrap();
    // The slot is free again and the dropped job never ran.
    pool.run(|| ()).await.unwrap();
    assert!(!ran.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn job_past_its_deadline_on_arrival_never_runs() {
    let pool = BlockingPool::builder("p").max_running(1).build().unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&ran);
    let deadline = Deadline::after(Duration::from_millis(10));
    tokio::time::advance(Duration::from_millis(10)).await;
    let err = deadline
        .scope(pool.run(move || flag.store(true, Ordering::SeqCst)))
        .await
        .unwrap_err();
    assert_eq!(kind(&err), RejectKind::DeadlineExceeded);
    assert!(!ran.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn a_panic_fails_its_call_not_the_pool() {
    let pool = BlockingPool::builder("p").max_running(1).build().unwrap();
    let err = pool.run(|| -> u32 { panic!("boom") }).await.unwrap_err();
    let panicked = err.downcast_ref::<JobPanicked>().expect("JobPanicked");
    assert_eq!(panicked.pool(), "p");
    assert!(Rejected::find(&err).is_none());
    // The one slot was given back.
    assert_eq!(pool.running(), 0);
    assert_eq!(pool.run(|| 7).await.unwrap(), 7);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_waiting_future_gives_its_place_back() {
    let pool = BlockingPool::builder("p")
        .max_running(1)
        .max_queued(1)
        .build()
        .unwrap();
    let (tx, job) = gate();
    let a = tokio::spawn(pool.run(job));
    until(|| pool.running() == 1).await;
    let b = tokio::spawn(pool.run(|| ()));
    until(|| pool.queued() == 1).await;
    b.abort();
    until(|| pool.queued() == 0).await;
    let c = tokio::spawn(pool.run(|| 3));
    until(|| pool.queued() == 1).await;
    tx.send(()).unwrap();
    a.await.unwrap().unwrap();
    assert_eq!(c.await.unwrap().unwrap(), 3);
}

#[tokio::test(start_paused = true)]
async fn service_stacks_and_shares_the_pool() {
    let pool = BlockingPool::builder("svc")
        .max_running(1)
        .max_queued(0)
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .map_request(|s: &str| s.to_owned())
        .service(pool.service(|s: String| s.len()));
    assert_eq!(svc.clone().oneshot("four").await.unwrap(), 4);

    // While the pool's only slot is taken, the service refuses at once.
    let (tx, job) = gate();
    let a = tokio::spawn(pool.run(job));
    until(|| pool.running() == 1).await;
    let err = svc.oneshot("x").await.unwrap_err();
    assert_eq!(kind(&err), RejectKind::Overloaded);
    tx.send(()).unwrap();
    a.await.unwrap().unwrap();
}

#[test]
fn config_errors_name_the_field() {
    assert_eq!(
        BlockingPool::builder("x").build().unwrap_err().field(),
        "max_running"
    );
    assert_eq!(
        BlockingPool::builder("x")
            .max_running(0)
            .build()
            .unwrap_err()
            .field(),
        "max_running"
    );
    assert_eq!(
        BlockingPool::builder("x")
            .max_running(usize::MAX)
            .build()
            .unwrap_err()
            .field(),
        "max_running"
    );
}
