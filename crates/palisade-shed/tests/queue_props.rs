//! Properties of the queue over random traffic on tokio's paused clock:
//! the limit and the critical reserve are never exceeded, no request starts
//! after its deadline or after waiting longer than `max_wait`, every
//! request gets an answer, and nothing is left held afterwards.

use palisade_core::{BoxError, RejectKind, Rejected};
use palisade_shed::{
    ConcurrencyLimit, Deadline,
    queue::{Criticality, Queue},
};
use proptest::prelude::*;
use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::time::Instant;
use tower::{ServiceExt, service_fn};

#[derive(Debug, Clone, Copy)]
struct Job {
    crit: Criticality,
    work: Duration,
    arrived: Instant,
    deadline: Option<Instant>,
}

#[derive(Debug, Default)]
struct Seen {
    running: usize,
    running_critical: usize,
    max_running: usize,
    max_non_critical: usize,
    /// Violations found inside the backend (a request started after its
    /// deadline or after waiting longer than `max_wait`).
    violations: Vec<String>,
}

#[derive(Debug, Clone)]
struct Arrival {
    gap_us: u64,
    crit: u8,
    work_ms: u64,
    deadline_ms: Option<u64>,
    cancel_after_ms: Option<u64>,
}

fn arrivals() -> impl Strategy<Value = Vec<Arrival>> {
    prop::collection::vec(
        (
            0..8_000u64,
            0..3u8,
            1..30u64,
            prop::option::of(1..80u64),
            prop::option::weighted(0.1, 0..40u64),
        )
            .prop_map(
                |(gap_us, crit, work_ms, deadline_ms, cancel_after_ms)| Arrival {
                    gap_us,
                    crit,
                    work_ms,
                    deadline_ms,
                    cancel_after_ms,
                },
            ),
        1..150,
    )
}

const MAX_WAIT: Duration = Duration::from_millis(60);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_queue_keeps_its_promises(
        arrivals in arrivals(),
        max_in_flight in 1..12usize,
        reserve_pct in 0..60u32,
        max_len in 1..40usize,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let reserve = f64::from(reserve_pct) / 100.0;
        let outcome = rt.block_on(run(arrivals, max_in_flight, reserve, max_len));
        let (seen, limit_left, queue_left, non_critical_left, cap) = outcome;
        prop_assert!(seen.violations.is_empty(), "{:?}", seen.violations);
        prop_assert!(seen.max_running <= max_in_flight, "{:?}", seen);
        prop_assert!(seen.max_non_critical <= cap, "{:?} cap {}", seen, cap);
        prop_assert_eq!((limit_left, queue_left, non_critical_left), (0, 0, 0));
    }
}

async fn run(
    arrivals: Vec<Arrival>,
    max_in_flight: usize,
    reserve: f64,
    max_len: usize,
) -> (Seen, usize, usize, usize, usize) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let limit = ConcurrencyLimit::builder("p")
        .max_in_flight(max_in_flight)
        .build()
        .unwrap();
    let queue = Queue::builder(limit.clone())
        .max_len(max_len)
        .max_wait(MAX_WAIT)
        .critical_reserve(reserve)
        .criticality(|j: &Job| j.crit)
        .build()
        .unwrap();
    let cap = max_in_flight - queue.reserved();
    let backend = service_fn({
        let seen = Arc::clone(&seen);
        move |job: Job| {
            let seen = Arc::clone(&seen);
            {
                let mut s = seen.lock().unwrap();
                let now = Instant::now();
                if job.deadline.is_some_and(|d| d <= now) {
                    s.violations
                        .push(format!("started after its deadline: {job:?}"));
                }
                if now - job.arrived > MAX_WAIT {
                    s.violations.push(format!("waited too long: {job:?}"));
                }
                s.running += 1;
                if job.crit == Criticality::Critical {
                    s.running_critical += 1;
                }
                s.max_running = s.max_running.max(s.running);
                s.max_non_critical = s.max_non_critical.max(s.running - s.running_critical);
            }
            // Counted out when the request ends or is dropped (cancelled).
            let running = Running(seen, job.crit == Criticality::Critical);
            async move {
                tokio::time::sleep(job.work).await;
                drop(running);
                Ok::<_, Infallible>(())
            }
        }
    });
    let svc = tower::Layer::layer(&queue.layer(), backend);
    let mut tasks = Vec::new();
    for a in arrivals {
        tokio::time::sleep(Duration::from_micros(a.gap_us)).await;
        let now = Instant::now();
        let job = Job {
            crit: [
                Criticality::Sheddable,
                Criticality::Normal,
                Criticality::Critical,
            ][a.crit as usize],
            work: Duration::from_millis(a.work_ms),
            arrived: now,
            deadline: a.deadline_ms.map(|ms| now + Duration::from_millis(ms)),
        };
        let call = svc.clone().oneshot(job);
        let task = match job.deadline {
            Some(d) => tokio::spawn(async move { Deadline::at(d).scope(call).await }),
            None => tokio::spawn(call),
        };
        if let Some(ms) = a.cancel_after_ms {
            let abort = task.abort_handle();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                abort.abort();
            });
        }
        tasks.push(task);
    }
    for t in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => check_rejection(&e),
            // Cancelled by the test.
            Err(e) => assert!(e.is_cancelled()),
        }
    }
    // Let cancellations scheduled after the last answer fire.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    (
        seen,
        limit.in_flight(),
        queue.len(),
        queue.non_critical_in_flight(),
        cap,
    )
}

struct Running(Arc<Mutex<Seen>>, bool);

impl Drop for Running {
    fn drop(&mut self) {
        let mut s = self.0.lock().unwrap();
        s.running -= 1;
        if self.1 {
            s.running_critical -= 1;
        }
    }
}

fn check_rejection(e: &BoxError) {
    let r = Rejected::find(&**e).expect("only rejections: the backend never fails");
    assert!(matches!(
        r.kind(),
        RejectKind::Overloaded | RejectKind::QueueTimeout | RejectKind::DeadlineExceeded
    ));
}
