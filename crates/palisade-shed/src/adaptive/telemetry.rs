//! Metrics and tracing of `AdaptiveLimit`. Every function compiles to
//! nothing when its feature (`metrics`, `tracing`) is off; handles are
//! created once.

use crate::telemetry::{Counter, Gauge, Unit};
use palisade_core::RejectKind;
use std::sync::Arc;

const ADAPTIVE_LIMIT: &str = "palisade_shed_adaptive_limit";
const ADAPTIVE_WINDOW_RTT: &str = "palisade_shed_adaptive_window_rtt_seconds";

/// The metric handles of one `AdaptiveLimit`.
#[derive(Debug)]
pub(crate) struct AdaptiveTelemetry {
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    name: Arc<str>,
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    algorithm: &'static str,
    in_flight: Gauge,
    limit: Gauge,
    window_rtt: Gauge,
    rejected: Counter,
}

impl AdaptiveTelemetry {
    pub(crate) fn new(name: &Arc<str>, algorithm: &'static str, limit: usize) -> Self {
        #[cfg(feature = "tracing")]
        tracing::debug!(
            name = &**name,
            algorithm,
            limit,
            "palisade-shed: adaptive limit built"
        );
        let limit_gauge = Gauge::new(
            ADAPTIVE_LIMIT,
            Unit::Count,
            "The concurrency limit an adaptive limit currently enforces.",
            name,
            &[("algorithm", algorithm)],
        );
        limit_gauge.set(limit as f64);
        Self {
            name: Arc::clone(name),
            algorithm,
            in_flight: Gauge::in_flight(name),
            limit: limit_gauge,
            window_rtt: Gauge::new(
                ADAPTIVE_WINDOW_RTT,
                Unit::Seconds,
                "The average round-trip time of an adaptive limit's last sample window.",
                name,
                &[],
            ),
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

    /// A request was refused because the limit was reached.
    pub(crate) fn rejected(&self, limit: usize) {
        self.rejected.increment(1);
        #[cfg(feature = "tracing")]
        tracing::trace!(
            name = &*self.name,
            limit,
            "palisade-shed: overloaded, request rejected"
        );
        #[cfg(not(feature = "tracing"))]
        let _ = limit;
    }

    /// A sample window (average RTT `rtt_nanos`, at most `max_in_flight`
    /// requests in flight, `dropped` if any was a drop) closed and the limit
    /// went from `before` to `after`.
    pub(crate) fn window(
        &self,
        before: usize,
        after: usize,
        rtt_nanos: f64,
        max_in_flight: usize,
        dropped: bool,
    ) {
        self.limit.set(after as f64);
        self.window_rtt.set(rtt_nanos / 1e9);
        #[cfg(feature = "tracing")]
        if before != after {
            tracing::debug!(
                name = &*self.name,
                algorithm = self.algorithm,
                before,
                limit = after,
                window_rtt_ms = rtt_nanos / 1e6,
                max_in_flight,
                dropped,
                "palisade-shed: adaptive limit changed"
            );
        }
        #[cfg(not(feature = "tracing"))]
        let _ = (before, max_in_flight, dropped);
    }
}
