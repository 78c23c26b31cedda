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
