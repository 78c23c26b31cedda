//! What travels between callers and a worker ([`Msg`], [`Answer`]) and the
//! worker's items waiting for their batch ([`Queue`]): when a batch is due
//! and which items it takes.

use std::collections::VecDeque;

use palisade_core::BoxError;
use tokio::{
    sync::{OwnedSemaphorePermit, oneshot},
    time::{Duration, Instant},
};

use crate::{state::Limits, stats::FlushReason};

/// The answer a caller waits for.
pub(crate) type Answer<R> = oneshot::Sender<Result<R, BoxError>>;

/// One caller's item on its way to the worker.
#[derive(Debug)]
pub(crate) struct Msg<T, R> {
    pub(crate) item: T,
    pub(crate) tx: Answer<R>,
    /// Room in the queue, given back when the item is sent or dropped.
    pub(crate) permit: OwnedSemaphorePermit,
    pub(crate) arrived: Instant,
}

/// An item waiting in a worker for its batch.
#[derive(Debug)]
pub(crate) struct Entry<T> {
    pub(crate) value: T,
    pub(crate) weight: usize,
    pub(crate) arrived: Instant,
}

/// A worker's items waiting for their batch, oldest first.
#[derive(Debug)]
pub(crate) struct Queue<T> {
    entries: VecDeque<Entry<T>>,
    weight: u128,
    /// The linger timer of the oldest item fired.
    due: bool,
}

impl<T> Queue<T> {
    pub(crate) fn new() -> Self {
        Self {
            entries: VecDeque::new(),
            weight: 0,
            due: false,
        }
    }

    pub(crate) fn push(&mut self, value: T, weight: usize, arrived: Instant) {
        self.weight += weight as u128;
        self.entries.push_back(Entry {
            value,
            weight,
            arrived,
        });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// When the oldest item's linger time is over (`None` when empty, or
    /// when `max_wait` is so long that it never is).
    pub(crate) fn deadline(&self, max_wait: Duration) -> Option<Instant> {
        self.entries
            .front()
            .and_then(|e| e.arrived.checked_add(max_wait))
    }

    /// Whether the linger timer of the oldest item fired.
    pub(crate) fn is_due(&self) -> bool {
        self.due
    }

    /// The linger timer of the oldest item fired.
    pub(crate) fn mark_due(&mut self) {
        self.due = true;
    }

    /// Whether a batch should be sent now, and why. The clock is read only
    /// when the answer depends on it.
    pub(crate) fn flush_reason(
        &self,
        limits: &Limits,
        now: impl FnOnce() -> Instant,
        closed: bool,
    ) -> Option<FlushReason> {
        let front = self.entries.front()?;
        if self.entries.len() >= limits.max_size {
            Some(FlushReason::Size)
        } else if self.weight >= limits.max_weight as u128 {
            Some(FlushReason::Weight)
        } else if closed {
            Some(FlushReason::Close)
        } else if limits.max_wait.is_zero() {
            Some(FlushReason::Eager)
        } else if self.due
            || front
                .arrived
                .checked_add(limits.max_wait)
                .is_some_and(|deadline| now() >= deadline)
        {
            Some(FlushReason::Time)
        } else {
            None
        }
    }

    /// Takes the oldest items into one batch within the limits. `keep` gets
    /// each item and says whether it joined the batch (an item whose caller
    /// gave up does not, and does not count against the limits).
    pub(crate) fn take(&mut self, limits: &Limits, mut keep: impl FnMut(Entry<T>) -> bool) {
        let mut len = 0;
        let mut weight = 0usize;
        while len < limits.max_size {
            let Some(front) = self.entries.front() else {
                break;
            };
            if len > 0 && weight.saturating_add(front.weight) > limits.max_weight {
                break;
            }
            let Some(entry) = self.entries.pop_front() else {
                break;
            };
            self.weight -= entry.weight as u128;
            let entry_weight = entry.weight;
            if keep(entry) {
                len += 1;
                weight = weight.saturating_add(entry_weight);
            }
        }
        self.due = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_size: usize, max_weight: usize, max_wait: Duration) -> Limits {
        Limits {
            max_size,
            max_weight,
            max_wait,
            max_in_flight: 1,
            bisect_depth: 0,
        }
    }

    #[test]
    fn reasons_in_order() {
        let now = Instant::now();
        let mut q = Queue::new();
        let l = limits(2, 10, Duration::from_millis(5));
        assert_eq!(q.flush_reason(&l, || now, false), None);
        q.push(1, 4, now);
        assert_eq!(q.flush_reason(&l, || now, false), None);
        assert_eq!(q.flush_reason(&l, || now, true), Some(FlushReason::Close));
        assert_eq!(
            q.flush_reason(&l, || now + Duration::from_millis(5), false),
            Some(FlushReason::Time)
        );
        q.push(2, 4, now);
        assert_eq!(q.flush_reason(&l, || now, false), Some(FlushReason::Size));
        let l = limits(8, 8, Duration::from_millis(5));
        assert_eq!(q.flush_reason(&l, || now, false), Some(FlushReason::Weight));
        let l = limits(8, 100, Duration::ZERO);
        assert_eq!(q.flush_reason(&l, || now, false), Some(FlushReason::Eager));
    }

    #[test]
    fn an_endless_linger_never_overflows() {
        let now = Instant::now();
        let mut q = Queue::new();
        q.push(1, 1, now);
        let l = limits(2, 10, Duration::MAX);
        assert_eq!(q.deadline(Duration::MAX), None);
        assert_eq!(q.flush_reason(&l, || now, false), None);
        assert_eq!(q.flush_reason(&l, || now, true), Some(FlushReason::Close));
    }

    #[test]
    fn take_respects_size_and_weight() {
        let now = Instant::now();
        let mut q = Queue::new();
        for (v, w) in [(1, 3), (2, 3), (3, 3), (4, 20), (5, 1)] {
            q.push(v, w, now);
        }
        let l = limits(10, 7, Duration::ZERO);
        let mut got = Vec::new();
        q.take(&l, |e| {
            got.push(e.value);
            true
        });
        assert_eq!(got, [1, 2]);
        got.clear();
        q.take(&l, |e| {
            got.push(e.value);
            true
        });
        assert_eq!(got, [3]);
        got.clear();
        // Heavier than max_weight on its own: sent alone.
        q.take(&l, |e| {
            got.push(e.value);
            true
        });
        assert_eq!(got, [4]);
        got.clear();
        q.take(&limits(1, 100, Duration::ZERO), |e| {
            got.push(e.value);
            true
        });
        assert_eq!(got, [5]);
        assert!(q.is_empty());
    }

    #[test]
    fn skipped_items_do_not_count() {
        let now = Instant::now();
        let mut q = Queue::new();
        for v in 0..6 {
            q.push(v, 1, now);
        }
        let mut got = Vec::new();
        q.take(&limits(2, 100, Duration::ZERO), |e| {
            if e.value % 2 == 0 {
                return false;
            }
            got.push(e.value);
            true
        });
        assert_eq!(got, [1, 3]);
    }
}
