//! The queue's metrics and tracing events. Every function compiles to
//! nothing when its feature (`metrics`, `tracing`) is off; metric handles
//! are created once, when the queue is built.

#![cfg_attr(
    not(all(feature = "metrics", feature = "tracing")),
    allow(unused_variables)
)]

use palisade_core::RejectKind;
use std::time::Duration;

#[cfg(feature = "metrics")]
const REJECTED: &str = "palisade_shed_rejected_total";
#[cfg(feature = "metrics")]
const QUEUE_LEN: &str = "palisade_shed_queue_length";
#[cfg(feature = "metrics")]
const QUEUE_WAIT: &str = "palisade_shed_queue_wait_seconds";

/// The metric handles of one `Queue`.
#[derive(Debug)]
pub(crate) struct QueueTelemetry {
    #[cfg(feature = "tracing")]
    name: std::sync::Arc<str>,
    #[cfg(feature = "metrics")]
    queue_timeout: metrics::Counter,
    #[cfg(feature = "metrics")]
    deadline_exceeded: metrics::Counter,
    #[cfg(feature = "metrics")]
    overloaded: metrics::Counter,
    #[cfg(feature = "metrics")]
    len: metrics::Gauge,
    #[cfg(feature = "metrics")]
    wait: metrics::Histogram,
}

impl QueueTelemetry {
    pub(crate) fn new(name: &std::sync::Arc<str>) -> Self {
        #[cfg(feature = "metrics")]
        {
            metrics::describe_counter!(
                REJECTED,
                metrics::Unit::Count,
                "Requests refused without reaching the inner service, by reason."
            );
            metrics::describe_gauge!(QUEUE_LEN, "Requests waiting in a queue.");
            metrics::describe_histogram!(
                QUEUE_WAIT,
                metrics::Unit::Seconds,
                "Time requests admitted from a queue waited in it."
            );
        }
        Self {
            #[cfg(feature = "tracing")]
            name: std::sync::Arc::clone(name),
            #[cfg(feature = "metrics")]
            queue_timeout: rejected(name, RejectKind::QueueTimeout),
            #[cfg(feature = "metrics")]
            deadline_exceeded: rejected(name, RejectKind::DeadlineExceeded),
            #[cfg(feature = "metrics")]
            overloaded: rejected(name, RejectKind::Overloaded),
            #[cfg(feature = "metrics")]
            len: metrics::gauge!(QUEUE_LEN, "name" => name.to_string()),
            #[cfg(feature = "metrics")]
            wait: metrics::histogram!(QUEUE_WAIT, "name" => name.to_string()),
        }
    }

    /// A request was refused by the queue, or shed from it.
    pub(crate) fn shed(&self, kind: RejectKind) {
        #[cfg(feature = "metrics")]
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
        #[cfg(feature = "metrics")]
        self.len.set(len as f64);
    }

    /// A queued request got a slot after waiting `waited`.
    pub(crate) fn admitted_from_queue(&self, waited: Duration) {
        #[cfg(feature = "metrics")]
        self.wait.record(waited.as_secs_f64());
    }
}

#[cfg(feature = "metrics")]
fn rejected(name: &str, kind: RejectKind) -> metrics::Counter {
    metrics::counter!(REJECTED, "name" => name.to_owned(), "reason" => kind.label())
}
