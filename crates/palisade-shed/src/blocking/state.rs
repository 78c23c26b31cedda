//! The shared state of one `BlockingPool`. Imports none of the files above it.

use super::telemetry::PoolTelemetry;
use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};
use tokio::sync::Semaphore;

/// Everything the callers of one `BlockingPool` share.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) name: Arc<str>,
    /// One permit per job allowed to run at once.
    pub(crate) running: Arc<Semaphore>,
    pub(crate) max_running: usize,
    pub(crate) max_queued: usize,
    queued: AtomicUsize,
    pub(crate) telemetry: PoolTelemetry,
}

impl State {
    pub(crate) fn new(name: Arc<str>, max_running: usize, max_queued: usize) -> Self {
        let telemetry = PoolTelemetry::new(&name, max_running, max_queued);
        Self {
            name,
            running: Arc::new(Semaphore::new(max_running)),
            max_running,
            max_queued,
            queued: AtomicUsize::new(0),
            telemetry,
        }
    }

    /// Takes a place in the queue, if one is left.
    pub(crate) fn try_enqueue(self: &Arc<Self>) -> Option<QueueSlot> {
        let mut queued = self.queued.load(Ordering::Relaxed);
        loop {
            if queued >= self.max_queued {
                return None;
            }
            match self.queued.compare_exchange_weak(
                queued,
                queued + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.telemetry.enqueued();
                    return Some(QueueSlot {
                        state: Arc::clone(self),
                    });
                }
                Err(now) => queued = now,
            }
        }
    }

    /// Jobs waiting now.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Jobs running now.
    pub(crate) fn running(&self) -> usize {
        self.max_running - self.running.available_permits()
    }
}

/// A place in the queue, given back when dropped.
#[derive(Debug)]
pub(crate) struct QueueSlot {
    state: Arc<State>,
}

impl Drop for QueueSlot {
    fn drop(&mut self) {
        self.state.queued.fetch_sub(1, Ordering::AcqRel);
        self.state.telemetry.dequeued();
    }
}
