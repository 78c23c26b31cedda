//! All metric and tracing output of the crate, in one place. Every function
//! compiles to nothing when its feature is off.

use std::time::Duration;

use crate::stats::FlushReason;

/// Metric handles of one batcher or loader, created once when it is built.
#[derive(Debug)]
pub(crate) struct Telemetry {
    #[cfg(feature = "metrics")]
    size: metrics::Histogram,
    #[cfg(feature = "metrics")]
    queue_wait: metrics::Histogram,
    #[cfg(feature = "metrics")]
    flushes: [metrics::Counter; 6],
    #[cfg(feature = "metrics")]
    in_flight: metrics::Gauge,
    #[cfg(feature = "tracing")]
    name: std::sync::Arc<str>,
}

impl Telemetry {
    #[cfg_attr(
        not(any(feature = "metrics", feature = "tracing")),
        allow(unused_variables)
    )]
    pub(crate) fn new(name: &std::sync::Arc<str>) -> Self {
        #[cfg(feature = "metrics")]
        let label = name.to_string();
        Self {
            #[cfg(feature = "metrics")]
            size: metrics::histogram!("palisade_batch_size", "name" => label.clone()),
            #[cfg(feature = "metrics")]
            queue_wait: metrics::histogram!(
                "palisade_batch_queue_wait_seconds",
                "name" => label.clone()
            ),
            #[cfg(feature = "metrics")]
            flushes: FlushReason::ALL.map(|reason| {
                metrics::counter!(
                    "palisade_batch_flushes_total",
                    "name" => label.clone(),
                    "reason" => reason.label()
                )
            }),
            #[cfg(feature = "metrics")]
            in_flight: metrics::gauge!("palisade_batch_in_flight", "name" => label),
            #[cfg(feature = "tracing")]
            name: name.clone(),
        }
    }

    /// A batch of `len` items was sent for `reason`.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn flushed(&self, reason: FlushReason, len: usize) {
        #[cfg(feature = "metrics")]
        {
            self.flushes[reason as usize].increment(1);
            #[allow(clippy::cast_precision_loss)]
            self.size.record(len as f64);
        }
    }

    /// An item waited `wait` in the queue before its batch was sent.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn waited(&self, wait: Duration) {
        #[cfg(feature = "metrics")]
        self.queue_wait.record(wait.as_secs_f64());
    }

    /// A call to the inner service started.
    pub(crate) fn call_started(&self) {
        #[cfg(feature = "metrics")]
        self.in_flight.increment(1.0);
    }

    /// A call to the inner service finished.
    pub(crate) fn call_finished(&self) {
        #[cfg(feature = "metrics")]
        self.in_flight.decrement(1.0);
    }

    /// A batch failed and is split in two to find the items that fail it.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn bisecting(&self, len: usize, depth: u32, error: &dyn std::error::Error) {
        #[cfg(feature = "tracing")]
        tracing::debug!(
            name = %self.name, len, depth, error = %error,
            "batch failed, retrying its halves"
        );
    }

    /// A batch failed for good: its callers get the error.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn failed(&self, len: usize, error: &dyn std::error::Error) {
        #[cfg(feature = "tracing")]
        tracing::warn!(name = %self.name, len, error = %error, "batch failed");
    }

    /// A worker started serving one inner service.
    pub(crate) fn worker_started(&self) {
        #[cfg(feature = "tracing")]
        tracing::debug!(name = %self.name, "batch worker started");
    }

    /// A worker answered its last caller and stopped.
    pub(crate) fn worker_stopped(&self) {
        #[cfg(feature = "tracing")]
        tracing::debug!(name = %self.name, "batch worker stopped");
    }
}
