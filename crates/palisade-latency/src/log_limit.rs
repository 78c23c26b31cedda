//! [`LogLimit`]: the per-route limit on warnings shared by the slow-request
//! log and the blocking-poll detector.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

/// At most one warning of each kind per route in this interval; the ones
/// held back are counted and reported with the next warning.
pub(crate) const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// A per-route limit of one event per interval, lock-free.
#[derive(Debug, Default)]
pub(crate) struct LogLimit {
    /// Microseconds since the tracker started before which nothing is let through.
    next_us: AtomicU64,
    suppressed: AtomicU64,
}

impl LogLimit {
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

/// A duration in milliseconds, for the warnings' fields.
#[cfg(feature = "tracing")]
pub(crate) fn duration_ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_per_interval_and_counts_the_rest() {
        let l = LogLimit::default();
        let i = Duration::from_secs(10);
        assert_eq!(l.allow(0, i), Some(0));
        assert_eq!(l.allow(1, i), None);
        assert_eq!(l.allow(9_999_999, i), None);
        assert_eq!(l.allow(10_000_000, i), Some(2));
        assert_eq!(l.allow(10_000_001, i), None);
    }
}
