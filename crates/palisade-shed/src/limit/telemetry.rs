//! Metrics and tracing of `ConcurrencyLimit`. Every function compiles to
//! nothing when its feature (`metrics`, `tracing`) is off; handles are
//! created once.

#![cfg_attr(not(feature = "tracing"), allow(unused_variables))]

use crate::telemetry::{Counter, Gauge};
use palisade_core::RejectKind;

/// The metric handles of one `ConcurrencyLimit`.
#[derive(Debug)]
pub(crate) struct LimitTelemetry {
    in_flight: Gauge,
    rejected: Counter,
}

impl LimitTelemetry {
    pub(crate) fn new(name: &str, max_in_flight: usize) -> Self {
        #[cfg(feature = "tracing")]
        tracing::debug!(
            name,
            max_in_flight,
            "palisade-shed: concurrency limit built"
        );
        Self {
            in_flight: Gauge::in_flight(name),
            rejected: Counter::rejected(name, RejectKind::Overloaded),
        }
    }

    /// A slot was taken.
    #[inline]
    pub(crate) fn acquired(&self) {
        self.in_flight.increment(1.0);
    }

    /// A slot was given back.
    #[inline]
    pub(crate) fn released(&self) {
        self.in_flight.decrement(1.0);
    }

    /// A request was refused because every slot was taken.
    pub(crate) fn rejected(&self, name: &str, max_in_flight: usize) {
        self.rejected.increment(1);
        #[cfg(feature = "tracing")]
        tracing::debug!(
            name,
            max_in_flight,
            "palisade-shed: overloaded, request rejected"
        );
    }
}
