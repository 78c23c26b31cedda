//! Metrics and tracing of `Timeout`. Every
//! function compiles to nothing when its feature (`metrics`, `tracing`) is
//! off; handles are created once.

#![cfg_attr(not(feature = "tracing"), allow(unused_variables))]

use crate::telemetry::Counter;
use http::{HeaderName, HeaderValue};
use palisade_core::RejectKind;

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
    exceeded: Counter,
    rejected: Counter,
}

impl TimeoutTelemetry {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            exceeded: Counter::new(
                DEADLINE_EXCEEDED,
                "Requests that failed because their deadline passed.",
                name,
                &[],
            ),
            rejected: Counter::rejected(name, RejectKind::DeadlineExceeded),
        }
    }

    /// A request of the timeout called `name` ran out of time.
    pub(crate) fn exceeded(&self, name: &str, stage: Expiry) {
        self.exceeded.increment(1);
        if stage != Expiry::Running {
            self.rejected.increment(1);
        }
        #[cfg(feature = "tracing")]
        tracing::debug!(
            name,
            stage = stage.as_str(),
            "palisade-shed: deadline exceeded"
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
