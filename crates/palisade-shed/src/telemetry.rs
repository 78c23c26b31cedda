//! All metric and tracing output of the crate, in one place. Every function
//! compiles to nothing when its feature (`metrics`, `tracing`) is off.
//!
//! Metric handles are created once per layer instance and cached; nothing is
//! looked up per request.

#![cfg_attr(not(feature = "tracing"), allow(unused_variables))]

use http::{HeaderName, HeaderValue};

#[cfg(feature = "metrics")]
const IN_FLIGHT: &str = "palisade_shed_in_flight";
#[cfg(feature = "metrics")]
const REJECTED: &str = "palisade_shed_rejected_total";
#[cfg(feature = "metrics")]
const DEADLINE_EXCEEDED: &str = "palisade_shed_deadline_exceeded_total";

/// Where a request's deadline ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// Before it reached the inner service: already passed on arrival.
    OnArrival,
    /// While waiting for the inner service to become ready (`include_ready`).
    WaitingReady,
    /// While the inner service was working on it.
    Running,
}

impl Expiry {
    #[cfg(feature = "tracing")]
    fn as_str(self) -> &'static str {
        match self {
            Expiry::OnArrival => "on arrival",
            Expiry::WaitingReady => "waiting for readiness",
            Expiry::Running => "while running",
        }
    }
}

/// The metric handles of one `Timeout`.
#[derive(Debug, Clone)]
pub(crate) struct TimeoutTelemetry {
    #[cfg(feature = "metrics")]
    exceeded: metrics::Counter,
    #[cfg(feature = "metrics")]
    rejected: metrics::Counter,
}

impl TimeoutTelemetry {
    pub(crate) fn new(name: &str) -> Self {
        #[cfg(feature = "metrics")]
        {
            metrics::describe_counter!(
                DEADLINE_EXCEEDED,
                metrics::Unit::Count,
                "Requests that failed because their deadline passed."
            );
            Self {
                exceeded: metrics::counter!(DEADLINE_EXCEEDED, "name" => name.to_owned()),
                rejected: rejected_counter(name, palisade_core::RejectKind::DeadlineExceeded),
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = name;
            Self {}
        }
    }

    /// A request of the timeout called `name` ran out of time.
    pub(crate) fn exceeded(&self, name: &str, stage: Expiry) {
        #[cfg(feature = "metrics")]
        {
            self.exceeded.increment(1);
            if stage != Expiry::Running {
                self.rejected.increment(1);
            }
        }
        #[cfg(feature = "tracing")]
        tracing::debug!(
            name,
            stage = stage.as_str(),
            "palisade-shed: deadline exceeded"
        );
    }
}

#[cfg(feature = "metrics")]
fn rejected_counter(name: &str, kind: palisade_core::RejectKind) -> metrics::Counter {
    metrics::describe_counter!(
        REJECTED,
        metrics::Unit::Count,
        "Requests refused without reaching the inner service, by reason."
    );
    metrics::counter!(REJECTED, "name" => name.to_owned(), "reason" => kind.label())
}

/// The metric handles of one `ConcurrencyLimit`.
#[derive(Debug)]
pub(crate) struct LimitTelemetry {
    #[cfg(feature = "metrics")]
    in_flight: metrics::Gauge,
    #[cfg(feature = "metrics")]
    rejected: metrics::Counter,
}

impl LimitTelemetry {
    pub(crate) fn new(name: &str, max_in_flight: usize) -> Self {
        #[cfg(feature = "tracing")]
        tracing::debug!(
            name,
            max_in_flight,
            "palisade-shed: concurrency limit built"
        );
        #[cfg(feature = "metrics")]
        {
            metrics::describe_gauge!(
                IN_FLIGHT,
                metrics::Unit::Count,
                "Requests currently holding a slot of the concurrency limit."
            );
            Self {
                in_flight: metrics::gauge!(IN_FLIGHT, "name" => name.to_owned()),
                rejected: rejected_counter(name, palisade_core::RejectKind::Overloaded),
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = (name, max_in_flight);
            Self {}
        }
    }

    /// A slot was taken.
    #[inline]
    pub(crate) fn acquired(&self) {
        #[cfg(feature = "metrics")]
        self.in_flight.increment(1.0);
    }

    /// A slot was given back.
    #[inline]
    pub(crate) fn released(&self) {
        #[cfg(feature = "metrics")]
        self.in_flight.decrement(1.0);
    }

    /// A request was refused because every slot was taken.
    pub(crate) fn rejected(&self, name: &str, max_in_flight: usize) {
        #[cfg(feature = "metrics")]
        self.rejected.increment(1);
        #[cfg(feature = "tracing")]
        tracing::debug!(
            name,
            max_in_flight,
            "palisade-shed: overloaded, request rejected"
        );
    }
}

/// A deadline header could not be read and is ignored.
pub(crate) fn invalid_header(header: &HeaderName, value: &HeaderValue) {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        header = header.as_str(),
        value = ?value,
        "palisade-shed: ignoring an invalid deadline header"
    );
}

/// An outgoing call was refused because its deadline had passed.
pub(crate) fn propagation_expired() {
    #[cfg(feature = "tracing")]
    tracing::debug!("palisade-shed: outgoing call refused, deadline already passed");
}

#[cfg(feature = "metrics")]
const ADAPTIVE_LIMIT: &str = "palisade_shed_adaptive_limit";
#[cfg(feature = "metrics")]
const ADAPTIVE_WINDOW_RTT: &str = "palisade_shed_adaptive_window_rtt_seconds";

/// The metric handles of one `AdaptiveLimit`.
#[derive(Debug)]
pub(crate) struct AdaptiveTelemetry {
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    name: std::sync::Arc<str>,
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    algorithm: &'static str,
    #[cfg(feature = "metrics")]
    in_flight: metrics::Gauge,
    #[cfg(feature = "metrics")]
    limit: metrics::Gauge,
    #[cfg(feature = "metrics")]
    window_rtt: metrics::Gauge,
    #[cfg(feature = "metrics")]
    rejected: metrics::Counter,
}

impl AdaptiveTelemetry {
    pub(crate) fn new(name: &std::sync::Arc<str>, algorithm: &'static str, limit: usize) -> Self {
        #[cfg(feature = "tracing")]
        tracing::debug!(
            name = &**name,
            algorithm,
            limit,
            "palisade-shed: adaptive limit built"
        );
        #[cfg(feature = "metrics")]
        {
            metrics::describe_gauge!(
                IN_FLIGHT,
                metrics::Unit::Count,
                "Requests currently holding a slot of the concurrency limit."
            );
            metrics::describe_gauge!(
                ADAPTIVE_LIMIT,
                metrics::Unit::Count,
                "The concurrency limit an adaptive limit currently enforces."
            );
            metrics::describe_gauge!(
                ADAPTIVE_WINDOW_RTT,
                metrics::Unit::Seconds,
                "The average round-trip time of an adaptive limit's last sample window."
            );
            let limit_gauge = metrics::gauge!(ADAPTIVE_LIMIT, "name" => name.to_string(), "algorithm" => algorithm);
            limit_gauge.set(limit as f64);
            Self {
                name: std::sync::Arc::clone(name),
                algorithm,
                in_flight: metrics::gauge!(IN_FLIGHT, "name" => name.to_string()),
                limit: limit_gauge,
                window_rtt: metrics::gauge!(ADAPTIVE_WINDOW_RTT, "name" => name.to_string()),
                rejected: rejected_counter(name, palisade_core::RejectKind::Overloaded),
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = limit;
            Self {
                name: std::sync::Arc::clone(name),
                algorithm,
            }
        }
    }

    /// A slot was taken.
    #[inline]
    pub(crate) fn acquired(&self) {
        #[cfg(feature = "metrics")]
        self.in_flight.increment(1.0);
    }

    /// A slot was given back.
    #[inline]
    pub(crate) fn released(&self) {
        #[cfg(feature = "metrics")]
        self.in_flight.decrement(1.0);
    }

    /// A request was refused because the limit was reached.
    pub(crate) fn rejected(&self, limit: usize) {
        #[cfg(feature = "metrics")]
        self.rejected.increment(1);
        #[cfg(feature = "tracing")]
        tracing::trace!(
            name = &*self.name,
            limit,
            "palisade-shed: overloaded, request rejected"
        );
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
        #[cfg(feature = "metrics")]
        {
            self.limit.set(after as f64);
            self.window_rtt.set(rtt_nanos / 1e9);
        }
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
        #[cfg(not(any(feature = "metrics", feature = "tracing")))]
        let _ = (before, after, rtt_nanos, max_in_flight, dropped);
    }
}

#[cfg(feature = "metrics")]
const THROTTLED: &str = "palisade_shed_throttled_total";

/// The metric handles of one `AdaptiveThrottle`.
#[derive(Debug)]
pub(crate) struct ThrottleTelemetry {
    #[cfg(feature = "metrics")]
    throttled: metrics::Counter,
}

impl ThrottleTelemetry {
    pub(crate) fn new(name: &str) -> Self {
        #[cfg(feature = "metrics")]
        {
            metrics::describe_counter!(
                THROTTLED,
                metrics::Unit::Count,
                "Outbound requests rejected locally by a client-side adaptive throttle."
            );
            Self {
                throttled: metrics::counter!(THROTTLED, "name" => name.to_owned()),
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = name;
            Self {}
        }
    }

    /// A request was rejected locally.
    pub(crate) fn throttled(&self) {
        #[cfg(feature = "metrics")]
        self.throttled.increment(1);
    }
}
