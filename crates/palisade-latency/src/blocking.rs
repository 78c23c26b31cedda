//! The blocking-poll detector.
//!
//! When `blocking_threshold` is set, the response future reads the clock
//! before and after each `poll` of the inner future. A single poll longer
//! than the threshold means the handler held the executor thread (blocking
//! I/O, a `std::sync` lock under contention, CPU work not moved to
//! `spawn_blocking`): every task queued on that thread waited as long. Such
//! polls are counted per route (snapshot and `metrics`) and reported by a
//! rate-limited warning naming the route and the poll's duration, and the
//! fix: move the blocking work onto a bounded pool of blocking threads,
//! `palisade_shed::BlockingPool` (`pool.run(|| work()).await` in the handler,
//! or `pool.service(f)` as a tower service), so it can neither stall the
//! executor nor pile up without bound.
//!
//! Cost: two clock reads per poll of the inner future (a handler that
//! awaits I/O is polled a few times). See the crate docs for measured
//! figures and when to leave it on.

use std::time::Duration;

/// The message of the blocking-poll warning: what happened, and the fix.
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
pub(crate) const BLOCKING_MESSAGE: &str = "handler blocked the executor thread during one poll; \
     move the blocking work to palisade_shed::BlockingPool \
     (`pool.run(|| work()).await`, or `pool.service(f)` as a tower service)";

/// What the blocking-poll warning says.
#[derive(Debug)]
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
pub(crate) struct BlockingPoll<'a> {
    pub(crate) tracker: &'a str,
    pub(crate) route: &'a str,
    pub(crate) method: &'a str,
    pub(crate) poll: Duration,
    pub(crate) threshold: Duration,
    pub(crate) suppressed: u64,
}

/// Emits the blocking-poll warning (a no-op without the `tracing` feature).
#[cfg(feature = "tracing")]
pub(crate) fn warn_blocking(e: &BlockingPoll<'_>) {
    use crate::log_limit::duration_ms;
    tracing::warn!(
        tracker = e.tracker,
        route = e.route,
        method = e.method,
        poll_ms = duration_ms(e.poll),
        threshold_ms = duration_ms(e.threshold),
        suppressed = e.suppressed,
        "{BLOCKING_MESSAGE}"
    );
}

/// Emits the blocking-poll warning (a no-op without the `tracing` feature).
#[cfg(not(feature = "tracing"))]
#[inline]
pub(crate) fn warn_blocking(_e: &BlockingPoll<'_>) {}
