//! Metrics and tracing of `BlockingPool`. Every function compiles to nothing
//! when its feature (`metrics`, `tracing`) is off; handles are created once.

#![cfg_attr(not(feature = "tracing"), allow(unused_variables))]

use palisade_core::RejectKind;

#[cfg(feature = "metrics")]
const REJECTED: &str = "palisade_shed_rejected_total";
#[cfg(feature = "metrics")]
const RUNNING: &str = "palisade_shed_blocking_running";
#[cfg(feature = "metrics")]
const QUEUED: &str = "palisade_shed_blocking_queued";
#[cfg(feature = "metrics")]
const PANICS: &str = "palisade_shed_blocking_panics_total";

/// The metric handles of one `BlockingPool`.
#[derive(Debug)]
pub(crate) struct PoolTelemetry {
    #[cfg(feature = "metrics")]
    running: metrics::Gauge,
    #[cfg(feature = "metrics")]
    queued: metrics::Gauge,
    #[cfg(feature = "metrics")]
    overloaded: metrics::Counter,
    #[cfg(feature = "metrics")]
    expired: metrics::Counter,
    #[cfg(feature = "metrics")]
    panics: metrics::Counter,
}

impl PoolTelemetry {
    pub(crate) fn new(name: &str, max_running: usize, max_queued: usize) -> Self {
        #[cfg(feature = "tracing")]
        tracing::debug!(
            name,
            max_running,
            max_queued,
            "palisade-shed: blocking pool built"
        );
        #[cfg(feature = "metrics")]
        {
            metrics::describe_counter!(
                REJECTED,
                metrics::Unit::Count,
                "Requests refused without reaching the inner service, by reason."
            );
            metrics::describe_gauge!(
                RUNNING,
                metrics::Unit::Count,
                "Jobs of a blocking pool running on tokio's blocking threads."
            );
            metrics::describe_gauge!(
                QUEUED,
                metrics::Unit::Count,
                "Jobs of a blocking pool waiting for a running slot."
            );
            metrics::describe_counter!(
                PANICS,
                metrics::Unit::Count,
                "Jobs of a blocking pool that panicked."
            );
            let rejected = |kind: RejectKind| metrics::counter!(REJECTED, "name" => name.to_owned(), "reason" => kind.label());
            Self {
                running: metrics::gauge!(RUNNING, "name" => name.to_owned()),
                queued: metrics::gauge!(QUEUED, "name" => name.to_owned()),
                overloaded: rejected(RejectKind::Overloaded),
                expired: rejected(RejectKind::DeadlineExceeded),
                panics: metrics::counter!(PANICS, "name" => name.to_owned()),
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = (name, max_running, max_queued);
            Self {}
        }
    }

    #[inline]
    pub(crate) fn started(&self) {
        #[cfg(feature = "metrics")]
        self.running.increment(1.0);
    }

    #[inline]
    pub(crate) fn finished(&self) {
        #[cfg(feature = "metrics")]
        self.running.decrement(1.0);
    }

    #[inline]
    pub(crate) fn enqueued(&self) {
        #[cfg(feature = "metrics")]
        self.queued.increment(1.0);
    }

    #[inline]
    pub(crate) fn dequeued(&self) {
        #[cfg(feature = "metrics")]
        self.queued.decrement(1.0);
    }

    /// A job was refused (`Overloaded`) or dropped unrun (`DeadlineExceeded`).
    pub(crate) fn rejected(&self, name: &str, kind: RejectKind) {
        #[cfg(feature = "metrics")]
        match kind {
            RejectKind::DeadlineExceeded => self.expired.increment(1),
            _ => self.overloaded.increment(1),
        }
        #[cfg(feature = "tracing")]
        tracing::debug!(
            name,
            reason = kind.label(),
            "palisade-shed: blocking job refused"
        );
    }

    pub(crate) fn panicked(&self, name: &str) {
        #[cfg(feature = "metrics")]
        self.panics.increment(1);
        #[cfg(feature = "tracing")]
        tracing::warn!(name, "palisade-shed: a blocking job panicked");
    }
}
