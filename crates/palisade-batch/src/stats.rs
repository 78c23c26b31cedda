//! The cumulative counters a [`Batcher`](crate::Batcher) or
//! [`Loader`](crate::Loader) keeps of the batches it sent: [`BatchStats`],
//! with the flushes by [`FlushReason`] ([`Flushes`]).
//!
//! They are recorded by the worker where it has already decided to send a
//! batch, with relaxed atomics: two additions per batch, nothing per item.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a batch was sent to the inner service (also the `reason` label of the
/// `palisade_batch_flushes_total` metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FlushReason {
    /// The batch reached `max_size` (it is full).
    Size,
    /// The batch reached `max_weight`.
    Weight,
    /// `max_wait` passed since the batch's first item.
    Time,
    /// `max_wait` is zero and a batch slot was free.
    Eager,
    /// Every service was dropped (shutdown): what was left is sent at once.
    Close,
    /// A half of a failed batch is retried (`bisect_on_error`).
    Retry,
}

impl FlushReason {
    /// Every reason, in declaration order.
    pub const ALL: [FlushReason; 6] = [
        FlushReason::Size,
        FlushReason::Weight,
        FlushReason::Time,
        FlushReason::Eager,
        FlushReason::Close,
        FlushReason::Retry,
    ];

    /// The reason's lowercase name: `size`, `weight`, `time`, `eager`,
    /// `close` or `retry` (the metric label).
    pub const fn label(self) -> &'static str {
        match self {
            FlushReason::Size => "size",
            FlushReason::Weight => "weight",
            FlushReason::Time => "time",
            FlushReason::Eager => "eager",
            FlushReason::Close => "close",
            FlushReason::Retry => "retry",
        }
    }
}

/// Batches sent, by [`FlushReason`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flushes {
    counts: [u64; FlushReason::ALL.len()],
}

impl Flushes {
    /// Batches sent for `reason`.
    pub fn get(&self, reason: FlushReason) -> u64 {
        self.counts[reason as usize]
    }

    /// Batches sent for any reason.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Every reason with its count, in [`FlushReason::ALL`] order (zeros
    /// included).
    pub fn iter(&self) -> impl Iterator<Item = (FlushReason, u64)> + '_ {
        FlushReason::ALL.into_iter().zip(self.counts)
    }
}

/// What a batcher or loader has sent since it was built, over all its
/// services and workers: read with `stats()` on the handle.
///
/// Retried halves of failed batches (`bisect_on_error`) count as batches of
/// their own, and their items count again. A loader counts the distinct keys
/// it sent, not its callers.
///
/// ```
/// use palisade_batch::{Batcher, FlushReason};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let batcher = Batcher::builder("lengths").build()?;
/// let svc = batcher.layer().layer(service_fn(|texts: Vec<String>| async move {
///     Ok::<_, std::io::Error>(texts.iter().map(String::len).collect::<Vec<_>>())
/// }));
/// assert_eq!(svc.clone().oneshot("hello".to_string()).await?, 5);
/// let stats = batcher.stats();
/// assert_eq!((stats.batches, stats.items), (1, 1));
/// assert_eq!(stats.flushes.get(FlushReason::Eager), 1);
/// assert_eq!(stats.mean_size(), Some(1.0));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchStats {
    /// Batches sent to inner services (inner calls made).
    pub batches: u64,
    /// Items in those batches.
    pub items: u64,
    /// Those batches by why they were sent; their total is `batches`.
    pub flushes: Flushes,
}

impl BatchStats {
    /// Mean items per batch; `None` before the first batch.
    pub fn mean_size(&self) -> Option<f64> {
        #[allow(clippy::cast_precision_loss)]
        (self.batches > 0).then(|| self.items as f64 / self.batches as f64)
    }
}

/// The atomics behind [`BatchStats`], in the shared state.
#[derive(Debug, Default)]
pub(crate) struct FlushCounters {
    flushes: [AtomicU64; FlushReason::ALL.len()],
    items: AtomicU64,
}

impl FlushCounters {
    /// A batch of `len` items was sent for `reason`.
    pub(crate) fn record(&self, reason: FlushReason, len: usize) {
        self.flushes[reason as usize].fetch_add(1, Ordering::Relaxed);
        self.items.fetch_add(len as u64, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> BatchStats {
        let flushes = Flushes {
            counts: std::array::from_fn(|i| self.flushes[i].load(Ordering::Relaxed)),
        };
        BatchStats {
            batches: flushes.total(),
            items: self.items.load(Ordering::Relaxed),
            flushes,
        }
    }
}
