//! The slow-request log, and the per-route rate limit shared with the
//! blocking-poll warnings.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use crate::route::StatusClass;

/// At most one warning of each kind per route in this interval; the ones
/// held back are counted and reported with the next warning.
pub(crate) const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// A per-route limit of one event per interval, lock-free.
#[derive(Debug, Default)]
pub(crate) struct RateLimit {
    /// Microseconds since the tracker started before which nothing is let through.
    next_us: AtomicU64,
    suppressed: AtomicU64,
}

impl RateLimit {
    /// `Some(number held back since the last one)` if an event may go out at `now_us`.
    pub(crate) fn allow(&self, now_us: u64, interval: Duration) -> Option<u64> {
        let next = self.next_us.load(Ordering::Relaxed);
        let interval_us = u64::try_from(interval.as_micros()).unwrap_or(u64::MAX);
        if now_us >= next
            && self
                .next_us
                .compare_exchange(
                    next,
                    now_us.saturating_add(interval_us),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

/// What the slow-request warning says.
#[derive(Debug)]
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
pub(crate) struct SlowRequest<'a> {
    pub(crate) tracker: &'a str,
    pub(crate) route: &'a str,
    pub(crate) method: &'a str,
    pub(crate) class: StatusClass,
    pub(crate) status: u16,
    pub(crate) duration: Duration,
    pub(crate) threshold: Duration,
    pub(crate) suppressed: u64,
}

/// Emits the slow-request warning (a no-op without the `tracing` feature).
#[cfg(feature = "tracing")]
pub(crate) fn warn_slow(e: &SlowRequest<'_>) {
    tracing::warn!(
        tracker = e.tracker,
        route = e.route,
        method = e.method,
        status = e.status,
        class = e.class.as_str(),
        duration_ms = duration_ms(e.duration),
        threshold_ms = duration_ms(e.threshold),
        suppressed = e.suppressed,
        "slow request"
    );
}

/// Emits the slow-request warning (a no-op without the `tracing` feature).
#[cfg(not(feature = "tracing"))]
#[inline]
pub(crate) fn warn_slow(_e: &SlowRequest<'_>) {}

#[cfg(feature = "tracing")]
pub(crate) fn duration_ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_per_interval_and_counts_the_rest() {
        let l = RateLimit::default();
        let i = Duration::from_secs(10);
        assert_eq!(l.allow(0, i), Some(0));
        assert_eq!(l.allow(1, i), None);
        assert_eq!(l.allow(9_999_999, i), None);
        assert_eq!(l.allow(10_000_000, i), Some(2));
        assert_eq!(l.allow(10_000_001, i), None);
    }
}
