//! The queue's metrics and tracing events, on the crate's shared metric
//! handles ([`Counter`], [`Gauge`]). Every call compiles to nothing when its
//! feature (`metrics`, `tracing`) is off; metric handles are created once,
//! when the queue is built.

use crate::telemetry::{Counter, Gauge, Unit};
use palisade_core::RejectKind;
use std::{sync::Arc, time::Duration};

#[cfg(feature = "metrics")]
const QUEUE_WAIT: &str = "palisade_shed_queue_wait_seconds";

/// The metric handles of one `Queue`.
#[derive(Debug)]
pub(crate) struct QueueTelemetry {
    #[cfg(feature = "tracing")]
    name: Arc<str>,
    queue_timeout: Counter,
    deadline_exceeded: Counter,
    overloaded: Counter,
    len: Gauge,
    #[cfg(feature = "metrics")]
    wait: metrics::Histogram,
}

impl QueueTelemetry {
    pub(crate) fn new(name: &Arc<str>) -> Self {
        #[cfg(feature = "metrics")]
        metrics::describe_histogram!(
            QUEUE_WAIT,
            metrics::Unit::Seconds,
            "Time requests admitted from a queue waited in it."
        );
        Self {
            #[cfg(feature = "tracing")]
            name: Arc::clone(name),
            queue_timeout: Counter::rejected(name, RejectKind::QueueTimeout),
            deadline_exceeded: Counter::rejected(name, RejectKind::DeadlineExceeded),
            overloaded: Counter::rejected(name, RejectKind::Overloaded),
            len: Gauge::new(
                "palisade_shed_queue_length",
                Unit::Count,
                "Requests waiting in a queue.",
                name,
                &[],
            ),
            #[cfg(feature = "metrics")]
            wait: metrics::histogram!(QUEUE_WAIT, "name" => name.to_string()),
        }
    }

    /// A request was refused by the queue, or shed from it.
    pub(crate) fn shed(&self, kind: RejectKind) {
        match kind {
            RejectKind::QueueTimeout => self.queue_timeout.increment(1),
            RejectKind::DeadlineExceeded => self.deadline_exceeded.increment(1),
            _ => self.overloaded.increment(1),
        }
        #[cfg(feature = "tracing")]
        tracing::debug!(name = %self.name, reason = kind.label(), "queue shed a request");
    }

    /// The queue now holds `len` requests.
    pub(crate) fn queue_len(&self, len: usize) {
        self.len.set(len as f64);
    }

    /// A queued request got a slot after waiting `waited`.
    pub(crate) fn admitted_from_queue(&self, waited: Duration) {
        #[cfg(feature = "metrics")]
        self.wait.record(waited.as_secs_f64());
        #[cfg(not(feature = "metrics"))]
        let _ = waited;
    }
}
