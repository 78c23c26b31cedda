//! Metrics and tracing of `BlockingPool`. Every function compiles to nothing
//! when its feature (`metrics`, `tracing`) is off; handles are created once.

#![cfg_attr(not(feature = "tracing"), allow(unused_variables))]

use crate::telemetry::{Counter, Gauge, Unit};
use palisade_core::RejectKind;

const RUNNING: &str = "palisade_shed_blocking_running";
const QUEUED: &str = "palisade_shed_blocking_queued";
const PANICS: &str = "palisade_shed_blocking_panics_total";

/// The metric handles of one `BlockingPool`.
#[derive(Debug)]
pub(crate) struct PoolTelemetry {
    running: Gauge,
    queued: Gauge,
    overloaded: Counter,
    expired: Counter,
    panics: Counter,
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
        Self {
            running: Gauge::new(
                RUNNING,
                Unit::Count,
                "Jobs of a blocking pool running on tokio's blocking threads.",
                name,
                &[],
            ),
            queued: Gauge::new(
                QUEUED,
                Unit::Count,
                "Jobs of a blocking pool waiting for a running slot.",
                name,
                &[],
            ),
            overloaded: Counter::rejected(name, RejectKind::Overloaded),
            expired: Counter::rejected(name, RejectKind::DeadlineExceeded),
            panics: Counter::new(PANICS, "Jobs of a blocking pool that panicked.", name, &[]),
        }
    }

    #[inline]
    pub(crate) fn started(&self) {
        self.running.increment(1.0);
    }

    #[inline]
    pub(crate) fn finished(&self) {
        self.running.decrement(1.0);
    }

    #[inline]
    pub(crate) fn enqueued(&self) {
        self.queued.increment(1.0);
    }

    #[inline]
    pub(crate) fn dequeued(&self) {
        self.queued.decrement(1.0);
    }

    /// A job was refused (`Overloaded`) or dropped unrun (`DeadlineExceeded`).
    pub(crate) fn rejected(&self, name: &str, kind: RejectKind) {
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
        self.panics.increment(1);
        #[cfg(feature = "tracing")]
        tracing::warn!(name, "palisade-shed: a blocking job panicked");
    }
}
