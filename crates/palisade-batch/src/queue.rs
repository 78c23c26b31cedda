//! The queue between callers and a worker: what a caller sends, the caller's
//! end (capacity and sending), and the worker's pending items.
//!
//! Capacity is a semaphore, not a bounded channel: a caller holds one permit
//! from `poll_ready` until its item is *sent to the inner service* (or dropped
//! because the caller gave up), so `queue_capacity` bounds the items waiting
//! for a batch, not just the items in the channel. The channel itself is
//! unbounded for that reason; it never holds more than the permits allow.

use std::{
    collections::VecDeque,
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use palisade_core::{BoxError, RejectKind, Rejected};
use tokio::{
    sync::{OwnedSemaphorePermit, TryAcquireError, mpsc, oneshot},
    time::{Duration, Instant},
};
use tokio_util::sync::PollSemaphore;

use crate::{
    config::{Core, Limits},
    future::ResponseFuture,
    telemetry::FlushReason,
};

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

/// The caller's end: reserves room in `poll_ready`, sends in `call`.
pub(crate) struct Caller<T, R> {
    tx: mpsc::UnboundedSender<Msg<T, R>>,
    core: Arc<Core>,
    /// Created the first time the queue is found full (it allocates).
    waiting: Option<PollSemaphore>,
    permit: Option<OwnedSemaphorePermit>,
    /// `poll_ready` found the queue full and `reject_when_full` is set.
    reject: bool,
}

impl<T, R> Caller<T, R> {
    pub(crate) fn new(tx: mpsc::UnboundedSender<Msg<T, R>>, core: Arc<Core>) -> Self {
        Self {
            tx,
            core,
            waiting: None,
            permit: None,
            reject: false,
        }
    }

    pub(crate) fn core(&self) -> &Core {
        &self.core
    }

    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if self.permit.is_some() || self.reject {
            return Poll::Ready(Ok(()));
        }
        match self.core.semaphore.clone().try_acquire_owned() {
            Ok(permit) => {
                self.permit = Some(permit);
                return Poll::Ready(Ok(()));
            }
            Err(TryAcquireError::NoPermits) if self.core.reject_when_full => {
                self.reject = true;
                return Poll::Ready(Ok(()));
            }
            // The semaphore is never closed; wait like for no permits.
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => {}
        }
        let semaphore = &self.core.semaphore;
        let waiting = self
            .waiting
            .get_or_insert_with(|| PollSemaphore::new(semaphore.clone()));
        match waiting.poll_acquire(cx) {
            Poll::Ready(Some(permit)) => {
                self.permit = Some(permit);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(None) => Poll::Ready(Err(Rejected::new(
                RejectKind::Closed,
                self.core.name.clone(),
            )
            .into())),
            Poll::Pending => Poll::Pending,
        }
    }

    pub(crate) fn call(&mut self, item: T) -> ResponseFuture<R> {
        let permit = match self.permit.take() {
            Some(permit) => permit,
            None => {
                let rejected = std::mem::take(&mut self.reject);
                // `call` without a successful `poll_ready` (a contract
                // violation) still never waits: take room if there is some.
                match self.core.semaphore.clone().try_acquire_owned() {
                    Ok(permit) if !rejected => permit,
                    _ => {
                        return ResponseFuture::failed(
                            Rejected::new(RejectKind::BatchFull, self.core.name.clone()).into(),
                        );
                    }
                }
            }
        };
        let (tx, rx) = oneshot::channel();
        let msg = Msg {
            item,
            tx,
            permit,
            arrived: Instant::now(),
        };
        if self.tx.send(msg).is_err() {
            return ResponseFuture::failed(
                Rejected::new(RejectKind::Closed, self.core.name.clone()).into(),
            );
        }
        ResponseFuture::waiting(rx, self.core.name.clone())
    }
}

impl<T, R> Clone for Caller<T, R> {
    /// A clone shares the queue but never a reservation.
    fn clone(&self) -> Self {
        Self::new(self.tx.clone(), self.core.clone())
    }
}

impl<T, R> fmt::Debug for Caller<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caller")
            .field("name", &self.core.name)
            .field("reserved", &self.permit.is_some())
            .field("reject", &self.reject)
            .finish_non_exhaustive()
    }
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
