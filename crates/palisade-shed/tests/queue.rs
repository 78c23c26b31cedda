//! The queue in front of a concurrency limit: order, priorities, the
//! critical reserve, deadlines, cancellation and CoDel, on tokio's paused
//! clock.

use palisade_core::{BoxError, RejectKind, Rejected};
use palisade_shed::{
    ConcurrencyLimit, Deadline,
    adaptive::{AdaptiveLimit, Aimd},
    queue::{Criticality, Queue},
};
use std::{
    convert::Infallible,
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::time::Instant;
use tower::{Service, ServiceExt, service_fn};

const MS: Duration = Duration::from_millis(1);

/// A request of the test backend.
#[derive(Debug, Clone, Copy)]
struct Job {
    id: u32,
    crit: Criticality,
    work: Duration,
    arrived: Instant,
}

fn job(id: u32, crit: Criticality, work: Duration) -> Job {
    Job {
        id,
        crit,
        work,
        arrived: Instant::now(),
    }
}

/// What the backend saw: the ids in the order they started, and how long
/// each had waited before it started.
#[derive(Default)]
struct Seen {
    started: Vec<u32>,
    waited: Vec<Duration>,
    running: [usize; 3],
    max_running: usize,
    max_non_critical: usize,
}

type Backend = tower::util::BoxCloneService<Job, u32, Infallible>;

fn backend(seen: Arc<Mutex<Seen>>) -> Backend {
    tower::util::BoxCloneService::new(service_fn(move |job: Job| {
        let seen = Arc::clone(&seen);
        {
            let mut s = seen.lock().unwrap();
            s.started.push(job.id);
            s.waited.push(job.arrived.elapsed());
            s.running[job.crit as usize] += 1;
            let total: usize = s.running.iter().sum();
            let non_critical = total - s.running[Criticality::Critical as usize];
            s.max_running = s.max_running.max(total);
            s.max_non_critical = s.max_non_critical.max(non_critical);
        }
        async move {
            tokio::time::sleep(job.work).await;
            seen.lock().unwrap().running[job.crit as usize] -= 1;
            Ok::<_, Infallible>(job.id)
        }
    }))
}

fn fixed(max: usize) -> ConcurrencyLimit {
    ConcurrencyLimit::builder("api")
        .max_in_flight(max)
        .retry_after(Duration::from_secs(2))
        .build()
        .unwrap()
}

/// Lets every spawned task run until it waits on a timer.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

fn kind(err: &BoxError) -> RejectKind {
    Rejected::find(&**err).expect("a Rejected").kind()
}

type Svc = palisade_shed::queue::QueueService<Backend, ConcurrencyLimit, fn(&Job) -> Criticality>;

fn by_job(j: &Job) -> Criticality {
    j.crit
}

type ByJob = fn(&Job) -> Criticality;
type Builder = palisade_shed::queue::QueueBuilder<ConcurrencyLimit, ByJob>;
type TestQueue = Queue<ConcurrencyLimit, ByJob>;

/// A queue in front of `limit`, set up by `configure`, over the test
/// backend: the queue, the service and what the backend saw.
fn setup(
    limit: &ConcurrencyLimit,
    configure: impl FnOnce(Builder) -> Builder,
) -> (TestQueue, Svc, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let builder = Queue::builder(limit.clone()).criticality(by_job as ByJob);
    let queue = configure(builder).build().unwrap();
    let svc = tower::Layer::layer(&queue.layer(), backend(Arc::clone(&seen)));
    (queue, svc, seen)
}

fn spawn(svc: &Svc, job: Job) -> tokio::task::JoinHandle<Result<u32, BoxError>> {
    tokio::spawn(svc.clone().oneshot(job))
}

#[tokio::test(start_paused = true)]
async fn a_burst_waits_its_turn_first_in_first_out() {
    let limit = fixed(1);
    let (queue, svc, seen) = setup(&limit, |b| b);
    let mut tasks = Vec::new();
    for id in 0..4 {
        tasks.push(spawn(&svc, job(id, Criticality::Normal, 10 * MS)));
        settle().await;
    }
    assert_eq!(queue.len(), 3);
    assert_eq!(limit.in_flight(), 1);
    for (id, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap().unwrap(), id as u32);
    }
    assert_eq!(seen.lock().unwrap().started, [0, 1, 2, 3]);
    assert_eq!(seen.lock().unwrap().max_running, 1);
    assert_eq!((queue.len(), limit.in_flight()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn critical_goes_first_then_normal_then_sheddable() {
    let (queue, svc, seen) = setup(&fixed(1), |b| b);
    let first = spawn(&svc, job(0, Criticality::Normal, 50 * MS));
    settle().await;
    let mut tasks = Vec::new();
    for (id, crit) in [
        (1, Criticality::Sheddable),
        (2, Criticality::Normal),
        (3, Criticality::Critical),
        (4, Criticality::Sheddable),
        (5, Criticality::Critical),
    ] {
        tasks.push(spawn(&svc, job(id, crit, 5 * MS)));
        settle().await;
    }
    assert_eq!(queue.len(), 5);
    first.await.unwrap().unwrap();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(seen.lock().unwrap().started, [0, 3, 5, 2, 1, 4]);
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_pushes_out_the_least_critical_or_refuses_the_newcomer() {
    let (queue, svc, seen) = setup(&fixed(1), |b| b.max_len(2));
    let first = spawn(&svc, job(0, Criticality::Normal, 50 * MS));
    settle().await;
    let sheddable = spawn(&svc, job(1, Criticality::Sheddable, MS));
    let normal = spawn(&svc, job(2, Criticality::Normal, MS));
    settle().await;
    assert_eq!(queue.len(), 2);
    // A critical request takes the sheddable one's place...
    let critical = spawn(&svc, job(3, Criticality::Critical, MS));
    settle().await;
    assert_eq!(queue.len(), 2);
    let err = sheddable.await.unwrap().unwrap_err();
    assert_eq!(kind(&err), RejectKind::Overloaded);
    // ...and a normal one finds nobody below it: refused at once, with the
    // limit's retry_after.
    let err = spawn(&svc, job(4, Criticality::Normal, MS))
        .await
        .unwrap()
        .unwrap_err();
    let rejected = Rejected::find(&*err).unwrap();
    assert_eq!(rejected.kind(), RejectKind::Overloaded);
    assert_eq!(rejected.name(), "api");
    assert_eq!(rejected.retry_after(), Some(Duration::from_secs(2)));
    first.await.unwrap().unwrap();
    critical.await.unwrap().unwrap();
    normal.await.unwrap().unwrap();
    assert_eq!(seen.lock().unwrap().started, [0, 3, 2]);
}

#[tokio::test(start_paused = true)]
async fn critical_requests_keep_their_reserved_share() {
    let limit = fixed(10);
    let (queue, svc, seen) = setup(&limit, |b| {
        b.critical_reserve(0.2).max_wait(Duration::from_secs(1))
    });
    assert_eq!(queue.reserved(), 2);
    let normal: Vec<_> = (0..10)
        .map(|id| spawn(&svc, job(id, Criticality::Normal, 50 * MS)))
        .collect();
    settle().await;
    // Eight normal requests run; two wait although two slots are free.
    assert_eq!(limit.in_flight(), 8);
    assert_eq!(queue.non_critical_in_flight(), 8);
    assert_eq!(queue.len(), 2);
    // A critical request takes a reserved slot at once.
    let critical = spawn(&svc, job(10, Criticality::Critical, MS));
    settle().await;
    assert!(seen.lock().unwrap().started.contains(&10));
    assert_eq!(critical.await.unwrap().unwrap(), 10);
    for t in normal {
        t.await.unwrap().unwrap();
    }
    assert_eq!(seen.lock().unwrap().max_non_critical, 8);
    assert_eq!((limit.in_flight(), queue.non_critical_in_flight()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_request_whose_deadline_cannot_be_met_is_never_admitted() {
    let limit = fixed(1);
    let (queue, svc, seen) = setup(&limit, |b| b);
    let first = spawn(&svc, job(0, Criticality::Normal, 50 * MS));
    settle().await;
    // 20 ms of budget, the slot busy for 50: answered when the budget runs
    // out, never run.
    let start = Instant::now();
    let late = tokio::spawn(Deadline::after(20 * MS).scope(svc.clone().oneshot(job(
        1,
        Criticality::Critical,
        MS,
    ))));
    let err = late.await.unwrap().unwrap_err();
    assert_eq!(kind(&err), RejectKind::DeadlineExceeded);
    assert_eq!(Rejected::find(&*err).unwrap().retry_after(), None);
    assert_eq!(start.elapsed(), 20 * MS);
    assert_eq!(queue.len(), 0);
    first.await.unwrap().unwrap();
    assert_eq!(seen.lock().unwrap().started, [0]);

    // Requests served from the queue took 10 ms each: one with 5 ms left is
    // refused on arrival, without waiting.
    let busy = spawn(&svc, job(2, Criticality::Normal, 10 * MS));
    settle().await;
    let queued: Vec<_> = (3..6)
        .map(|id| spawn(&svc, job(id, Criticality::Normal, 10 * MS)))
        .collect();
    settle().await;
    busy.await.unwrap().unwrap();
    for t in queued {
        t.await.unwrap().unwrap();
    }
    let busy = spawn(&svc, job(6, Criticality::Normal, 10 * MS));
    settle().await;
    let start = Instant::now();
    let err = Deadline::after(5 * MS)
        .scope(svc.clone().oneshot(job(7, Criticality::Critical, MS)))
        .await
        .unwrap_err();
    assert_eq!(kind(&err), RejectKind::DeadlineExceeded);
    assert_eq!(start.elapsed(), Duration::ZERO);
    busy.await.unwrap().unwrap();
    assert!(!seen.lock().unwrap().started.contains(&7));
    assert_eq!(limit.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn no_request_waits_longer_than_max_wait() {
    let (queue, svc, _) = setup(&fixed(1), |b| b.max_wait(30 * MS));
    let first = spawn(&svc, job(0, Criticality::Critical, 100 * MS));
    settle().await;
    let start = Instant::now();
    let err = svc
        .clone()
        .oneshot(job(1, Criticality::Critical, MS))
        .await
        .unwrap_err();
    assert_eq!(kind(&err), RejectKind::QueueTimeout);
    assert_eq!(start.elapsed(), 30 * MS);
    assert_eq!(queue.len(), 0);
    first.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_dropped_waiter_leaves_the_queue_and_the_next_one_gets_the_slot() {
    let limit = fixed(1);
    let (queue, svc, seen) = setup(&limit, |b| b);
    let first = spawn(&svc, job(0, Criticality::Normal, 30 * MS));
    settle().await;
    let gone = spawn(&svc, job(1, Criticality::Normal, MS));
    let next = spawn(&svc, job(2, Criticality::Normal, MS));
    settle().await;
    assert_eq!(queue.len(), 2);
    gone.abort();
    settle().await;
    assert_eq!(queue.len(), 1);
    first.await.unwrap().unwrap();
    assert_eq!(next.await.unwrap().unwrap(), 2);
    assert_eq!(seen.lock().unwrap().started, [0, 2]);
    assert_eq!(limit.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_slot_granted_to_a_waiter_that_is_dropped_goes_to_the_next() {
    let limit = fixed(1);
    let (queue, svc, seen) = setup(&limit, |b| b);
    let first = spawn(&svc, job(0, Criticality::Normal, 30 * MS));
    settle().await;
    // Polled once (queued), then never again.
    let mut granted = Box::pin(svc.clone().oneshot(job(1, Criticality::Normal, MS)));
    let polled = std::future::poll_fn(|cx| std::task::Poll::Ready(granted.as_mut().poll(cx))).await;
    assert!(polled.is_pending());
    let next = spawn(&svc, job(2, Criticality::Normal, MS));
    settle().await;
    assert_eq!(queue.len(), 2);
    first.await.unwrap().unwrap();
    settle().await;
    // The slot went to the first waiter, which has not run yet.
    assert_eq!(queue.len(), 1);
    assert_eq!(limit.in_flight(), 1);
    drop(granted);
    assert_eq!(next.await.unwrap().unwrap(), 2);
    assert_eq!(seen.lock().unwrap().started, [0, 2]);
    assert_eq!((queue.len(), limit.in_flight()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_standing_queue_is_shed_by_codel_and_served_newest_first() {
    let limit = fixed(1);
    let (queue, svc, seen) = setup(&limit, |b| b.max_len(1000).max_wait(Duration::from_secs(5)));
    // Twice the capacity for one second: a request every 5 ms, 10 ms each.
    let mut tasks = Vec::new();
    let mut overloaded_seen = false;
    for id in 0..200 {
        tasks.push(spawn(&svc, job(id, Criticality::Normal, 10 * MS)));
        tokio::time::sleep(5 * MS).await;
        overloaded_seen |= queue.is_overloaded();
    }
    let mut ok = 0;
    let mut shed = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => {
                assert_eq!(kind(&e), RejectKind::QueueTimeout);
                shed += 1;
            }
        }
    }
    assert!(overloaded_seen);
    // The backend stayed busy (about 100 served in 1 s) and the rest shed.
    assert!(ok >= 95, "served {ok}");
    assert_eq!(ok + shed, 200);
    // Newest first under a standing queue: once it stood, the request
    // served is the one that came in last (at most 5 ms ago), not the
    // oldest one CoDel left (up to 10 ms).
    let s = seen.lock().unwrap();
    let late = &s.waited[s.waited.len() / 2..];
    let short = late.iter().filter(|w| **w <= 5 * MS).count();
    assert!(short * 10 >= late.len() * 9, "{short} of {}", late.len());
    assert!(s.waited.iter().all(|w| *w <= Duration::from_secs(5)));
    assert_eq!((queue.len(), limit.in_flight()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn sheddable_requests_are_not_queued_while_the_queue_stands() {
    let (queue, svc, seen) = setup(&fixed(1), |b| {
        b.max_len(1000).max_wait(Duration::from_secs(5))
    });
    let mut tasks = Vec::new();
    for id in 0..100 {
        tasks.push(spawn(&svc, job(id, Criticality::Normal, 10 * MS)));
        tokio::time::sleep(5 * MS).await;
    }
    assert!(queue.is_overloaded());
    let err = svc
        .clone()
        .oneshot(job(1000, Criticality::Sheddable, MS))
        .await
        .unwrap_err();
    assert_eq!(kind(&err), RejectKind::QueueTimeout);
    for t in tasks {
        let _ = t.await.unwrap();
    }
    assert!(!seen.lock().unwrap().started.contains(&1000));
}

#[tokio::test(start_paused = true)]
async fn in_front_of_an_adaptive_limit_the_samples_reach_the_limit() {
    let limit = AdaptiveLimit::builder("adaptive")
        .algorithm(Aimd::default().initial_limit(2).min_limit(1))
        .window(100 * MS)
        .min_samples(5)
        .build()
        .unwrap();
    let queue = Queue::builder(limit.clone())
        .max_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    assert_eq!(queue.name(), "adaptive");
    let calls = Arc::new(Mutex::new(0u32));
    let mut svc = tower::Layer::layer(
        &queue.layer(),
        service_fn({
            let calls = Arc::clone(&calls);
            move |fail: bool| {
                *calls.lock().unwrap() += 1;
                async move {
                    tokio::time::sleep(5 * MS).await;
                    if fail { Err("boom") } else { Ok(()) }
                }
            }
        }),
    );
    // Failures are drops for AIMD: the limit backs off after a window.
    let mut tasks = Vec::new();
    for _ in 0..40 {
        tasks.push(tokio::spawn(svc.clone().oneshot(true)));
        tokio::time::sleep(2 * MS).await;
    }
    for t in tasks {
        let _ = t.await.unwrap();
    }
    assert_eq!(limit.limit(), 1);
    assert_eq!(limit.in_flight(), 0);
    // The inner service's own errors pass through unchanged.
    let err = svc.ready().await.unwrap().call(true).await.unwrap_err();
    assert_eq!(err.to_string(), "boom");
    assert!(*calls.lock().unwrap() > 0);
}

#[test]
fn bad_configuration_names_the_field() {
    let limit = fixed(4);
    let err = |b: palisade_shed::queue::QueueBuilder<ConcurrencyLimit>| {
        b.build().unwrap_err().to_string()
    };
    let q = || Queue::builder(limit.clone());
    assert_eq!(err(q().max_len(0)), "max_len must be in [1, 65536], got 0");
    assert!(err(q().target(Duration::ZERO)).starts_with("target must be"));
    assert!(err(q().target(200 * MS)).starts_with("target must be"));
    assert!(err(q().interval(Duration::ZERO)).starts_with("interval must be"));
    assert!(err(q().max_wait(Duration::ZERO)).starts_with("max_wait must be"));
    assert!(err(q().critical_reserve(1.0)).starts_with("critical_reserve must be"));
    assert!(err(q().critical_reserve(f64::NAN)).starts_with("critical_reserve must be"));
    assert!(err(q().critical_reserve(-0.1)).starts_with("critical_reserve must be"));
    assert!(q().critical_reserve(0.0).build().is_ok());
}

#[tokio::test(start_paused = true)]
async fn every_route_of_an_axum_router_shares_the_one_queue() {
    use axum::{Router, routing::get};
    use http::{Request, StatusCode};
    use palisade_core::http::ErrorResponseLayer;

    let limit = fixed(1);
    let queue = Queue::builder(limit.clone())
        .max_len(1)
        .criticality_header()
        .build()
        .unwrap();
    let slow = || async {
        tokio::time::sleep(50 * MS).await;
        "done"
    };
    let app = Router::new()
        .route("/a", get(slow))
        .route("/b", get(slow))
        .layer(
            tower::ServiceBuilder::new()
                .layer(ErrorResponseLayer::new())
                .layer(queue.layer()),
        );
    let get = |path: &str| {
        let req = Request::get(path).body(axum::body::Body::empty()).unwrap();
        tokio::spawn(app.clone().oneshot(req))
    };
    let a = get("/a");
    settle().await;
    let b = get("/b");
    settle().await;
    // /b waits behind /a: one limit, one queue for both routes.
    assert_eq!((limit.in_flight(), queue.len()), (1, 1));
    // The queue is full: the next request is answered 503 at once.
    let full = get("/a").await.unwrap().unwrap();
    assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(full.headers().contains_key(http::header::RETRY_AFTER));
    assert_eq!(a.await.unwrap().unwrap().status(), StatusCode::OK);
    assert_eq!(b.await.unwrap().unwrap().status(), StatusCode::OK);
    assert_eq!((limit.in_flight(), queue.len()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_queue_not_empty_for_a_whole_interval_sheds_its_old_waiters() {
    let limit = fixed(1);
    let (queue, svc, seen) = setup(&limit, |b| b.max_wait(Duration::from_secs(1)));
    let first = spawn(&svc, job(0, Criticality::Normal, 155 * MS));
    settle().await;
    let old = spawn(&svc, job(1, Criticality::Normal, MS));
    settle().await;
    // Not empty for 50 ms: not standing yet, nobody is shed.
    tokio::time::sleep(50 * MS).await;
    let older = spawn(&svc, job(2, Criticality::Normal, MS));
    settle().await;
    assert!(!queue.is_overloaded());
    assert_eq!(queue.len(), 2);
    // Not empty for 150 ms: standing. The next arrival sheds the waiters
    // older than twice the target (Fail at Scale's short timeout) and
    // itself waits.
    tokio::time::sleep(100 * MS).await;
    assert!(queue.is_overloaded());
    let fresh = spawn(&svc, job(3, Criticality::Normal, MS));
    settle().await;
    assert_eq!(
        kind(&old.await.unwrap().unwrap_err()),
        RejectKind::QueueTimeout
    );
    assert_eq!(
        kind(&older.await.unwrap().unwrap_err()),
        RejectKind::QueueTimeout
    );
    assert_eq!(queue.len(), 1);
    first.await.unwrap().unwrap();
    assert_eq!(fresh.await.unwrap().unwrap(), 3);
    assert_eq!(seen.lock().unwrap().started, [0, 3]);
}
