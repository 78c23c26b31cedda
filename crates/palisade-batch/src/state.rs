//! The state one batcher or loader shares between its handle, layers,
//! services and workers: the validated limits, the queue's room, the
//! runtime, telemetry and running counters. The bottom of the crate: it
//! imports only [`telemetry`](crate::telemetry) and [`stats`](crate::stats).

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{runtime::Handle, sync::Semaphore};

use crate::{
    stats::{BatchStats, FlushCounters, FlushReason},
    telemetry::Telemetry,
};

/// The limits a worker applies to every batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_size: usize,
    pub(crate) max_weight: usize,
    pub(crate) max_wait: Duration,
    pub(crate) max_in_flight: usize,
    pub(crate) bisect_depth: u32,
}

/// The validated configuration and running counters of one batcher or
/// loader, shared by its handle, layers, services and workers.
#[derive(Debug)]
pub(crate) struct BatchState {
    pub(crate) name: Arc<str>,
    pub(crate) limits: Limits,
    /// One permit per caller waiting for its batch to be sent.
    pub(crate) semaphore: Arc<Semaphore>,
    pub(crate) queue_capacity: usize,
    pub(crate) reject_when_full: bool,
    pub(crate) runtime: Handle,
    pub(crate) telemetry: Telemetry,
    /// Running workers (one per wrapped inner service).
    pub(crate) workers: AtomicUsize,
    /// Inner calls outstanding, over all workers.
    pub(crate) in_flight: AtomicUsize,
    /// Batches and items sent, by reason.
    pub(crate) flushes: FlushCounters,
}

impl BatchState {
    pub(crate) fn queued(&self) -> usize {
        self.queue_capacity
            .saturating_sub(self.semaphore.available_permits())
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub(crate) fn workers(&self) -> usize {
        self.workers.load(Ordering::Relaxed)
    }

    pub(crate) fn stats(&self) -> BatchStats {
        self.flushes.snapshot()
    }

    /// A batch of `len` items is being sent for `reason`: counters and
    /// metrics.
    pub(crate) fn flushed(&self, reason: FlushReason, len: usize) {
        self.flushes.record(reason, len);
        self.telemetry.flushed(reason, len);
    }
}
