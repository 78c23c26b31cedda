//! CoDel's state machine (`palisade_shed::queue::Codel`) against a small
//! reference model of folly's rules, on random sequences of queueing delays
//! and clock advances.

use palisade_shed::queue::Codel;
use proptest::prelude::*;
use std::time::Duration;
use tokio::time::Instant;

const TARGET: Duration = Duration::from_millis(5);
const INTERVAL: Duration = Duration::from_millis(100);

/// The reference model, written from folly's description rather than from
/// the implementation: the delays observed since the current interval
/// began are kept in full; when an observation comes after the interval's
/// end, the queue is overloaded for the next interval iff none of them was
/// at or under the target, and that observation begins the new interval.
/// An observation that begins an interval never sheds; any other sheds iff
/// overloaded and its delay exceeds twice the target.
struct Model {
    interval_end: Instant,
    since: Vec<Duration>,
    overloaded: bool,
}

impl Model {
    fn new(now: Instant) -> Self {
        Self {
            interval_end: now + INTERVAL,
            since: Vec::new(),
            overloaded: false,
        }
    }

    fn observe(&mut self, delay: Duration, now: Instant) -> bool {
        if self.since.is_empty() {
            self.since.push(delay);
            return false;
        }
        if now > self.interval_end {
            self.overloaded = self.since.iter().all(|&d| d > TARGET);
            self.interval_end = now + INTERVAL;
            self.since = vec![delay];
            return false;
        }
        self.since.push(delay);
        self.overloaded && delay > 2 * TARGET
    }
}

fn steps() -> impl Strategy<Value = Vec<(u64, u64)>> {
    // (clock advance in µs, delay in µs): advances up to 60 ms, delays up
    // to 30 ms, biased around the target and the slough timeout.
    prop::collection::vec(
        (
            prop_oneof![0..2_000u64, 0..60_000u64],
            prop_oneof![0..6_000u64, 4_000..12_000u64, 0..30_000u64],
        ),
        1..300,
    )
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

proptest! {
    #[test]
    fn codel_matches_the_reference_model(steps in steps()) {
        paused_runtime().block_on(async {
            let t0 = Instant::now();
            let mut codel = Codel::new(TARGET, INTERVAL, t0);
            let mut model = Model::new(t0);
            for (i, &(advance, delay)) in steps.iter().enumerate() {
                tokio::time::advance(Duration::from_micros(advance)).await;
                let now = Instant::now();
                let delay = Duration::from_micros(delay);
                let shed = codel.observe(delay, now);
                let expected = model.observe(delay, now);
                prop_assert_eq!(shed, expected, "step {}: delay {:?}", i, delay);
                prop_assert_eq!(codel.is_overloaded(), model.overloaded, "step {}", i);
                // Never sheds a request that waited no more than 2 × target.
                prop_assert!(!shed || delay > 2 * TARGET);
            }
            Ok(())
        })?;
    }

    /// A queue whose delays all stay at or under the target is never
    /// overloaded and sheds nothing, whatever the timing.
    #[test]
    fn short_delays_never_overload(steps in steps()) {
        paused_runtime().block_on(async {
            let mut codel = Codel::new(TARGET, INTERVAL, Instant::now());
            for &(advance, delay) in &steps {
                tokio::time::advance(Duration::from_micros(advance)).await;
                let delay = Duration::from_micros(delay).min(TARGET);
                prop_assert!(!codel.observe(delay, Instant::now()));
                prop_assert!(!codel.is_overloaded());
            }
            Ok(())
        })?;
    }
}

#[tokio::test(start_paused = true)]
async fn a_standing_queue_sheds_after_one_interval_and_recovers_after_the_next() {
    let ms = Duration::from_millis;
    let mut codel = Codel::new(TARGET, INTERVAL, Instant::now());
    assert_eq!(codel.slough_timeout(), ms(10));
    // The first interval: every request waited 20 ms; nothing is shed yet.
    for _ in 0..10 {
        assert!(!codel.observe(ms(20), Instant::now()));
        tokio::time::advance(ms(10)).await;
    }
    // Past its end: overloaded. The observation that rolls the interval
    // over is not shed; the next one over 10 ms is, one under is not.
    tokio::time::advance(ms(1)).await;
    assert!(!codel.observe(ms(20), Instant::now()));
    assert!(codel.is_overloaded());
    assert!(codel.observe(ms(11), Instant::now()));
    assert!(!codel.observe(ms(10), Instant::now()));
    // This interval saw a request wait only 3 ms: the next is not
    // overloaded.
    assert!(codel.observe(ms(30), Instant::now()));
    assert!(!codel.observe(ms(3), Instant::now()));
    tokio::time::advance(ms(101)).await;
    assert!(!codel.observe(ms(30), Instant::now()));
    assert!(!codel.is_overloaded());
    assert!(!codel.observe(ms(30), Instant::now()));
}
