//! [`Slots`]: the in-flight counter and rejection count of a concurrency
//! limit, shared by the fixed ([`ConcurrencyLimit`](crate::ConcurrencyLimit))
//! and the adaptive ([`AdaptiveLimit`](crate::AdaptiveLimit)) limit.

use palisade_core::lane::Padded;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Requests holding a slot, and requests refused so far, on cache lines of
/// their own: the in-flight count is written by every request, the
/// rejection count only on the rejection path (where the line is already
/// hot from the failed admission).
#[derive(Debug, Default)]
pub(crate) struct Slots(Padded<Counts>);

#[derive(Debug, Default)]
struct Counts {
    in_flight: AtomicUsize,
    rejected: AtomicU64,
}

impl Slots {
    /// Takes a slot if fewer than `limit()` are taken: one compare-and-swap,
    /// no lock (`limit` is read again on each retry, it may move). Returns
    /// the in-flight count including the new request.
    #[inline]
    pub(crate) fn try_acquire(&self, limit: impl Fn() -> usize) -> Option<usize> {
        let in_flight = &self.0.in_flight;
        let mut current = in_flight.load(Ordering::Relaxed);
        loop {
            if current >= limit() {
                return None;
            }
            match in_flight.compare_exchange_weak(
                current,
                current + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(current + 1),
                Err(actual) => current = actual,
            }
        }
    }

    /// Gives a slot back.
    #[inline]
    pub(crate) fn release(&self) {
        self.0.in_flight.fetch_sub(1, Ordering::Release);
    }

    /// Requests holding a slot right now.
    pub(crate) fn in_flight(&self) -> usize {
        self.0.in_flight.load(Ordering::Relaxed)
    }

    /// Counts one refused request.
    #[inline]
    pub(crate) fn rejected(&self) {
        self.0.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests refused since the limit was built.
    pub(crate) fn rejected_total(&self) -> u64 {
        self.0.rejected.load(Ordering::Relaxed)
    }
}
