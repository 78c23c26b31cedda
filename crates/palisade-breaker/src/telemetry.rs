//! Metrics and tracing, behind the `metrics` and `tracing` features.
//!
//! Everything the breaker reports goes through here; with a feature off the
//! corresponding calls compile to nothing.

#[cfg(any(feature = "metrics", feature = "tracing"))]
use crate::status::State;
use crate::status::Transition;
use std::{fmt, sync::Arc};

/// What happened to one call, as counted in `palisade_breaker_calls_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    Success,
    Failure,
    Ignored,
    Slow,
    Rejected,
    /// Cut off by its deadline (also counted as a failure).
    Timeout,
    /// Panicked (also counted as a failure).
    Panic,
}

impl Call {
    #[cfg(feature = "metrics")]
    const ALL: [Call; 7] = [
        Call::Success,
        Call::Failure,
        Call::Ignored,
        Call::Slow,
        Call::Rejected,
        Call::Timeout,
        Call::Panic,
    ];

    #[cfg(feature = "metrics")]
    const fn label(self) -> &'static str {
        match self {
            Call::Success => "success",
            Call::Failure => "failure",
            Call::Ignored => "ignored",
            Call::Slow => "slow",
            Call::Rejected => "rejected",
            Call::Timeout => "timeout",
            Call::Panic => "panic",
        }
    }
}

/// Cached metric handles of one breaker.
pub(crate) struct Telemetry {
    #[cfg(feature = "metrics")]
    calls: [metrics::Counter; 7],
    #[cfg(feature = "metrics")]
    state: metrics::Gauge,
    #[cfg_attr(not(any(feature = "metrics", feature = "tracing")), allow(dead_code))]
    name: Arc<str>,
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

impl Telemetry {
    pub(crate) fn new(name: &Arc<str>) -> Self {
        #[cfg(feature = "metrics")]
        {
            let label = name.to_string();
            let calls = Call::ALL.map(|c| {
                metrics::counter!(
                    "palisade_breaker_calls_total",
                    "name" => label.clone(),
                    "outcome" => c.label()
                )
            });
            let state = metrics::gauge!("palisade_breaker_state", "name" => label);
            state.set(State::Closed.as_gauge());
            Self {
                calls,
                state,
                name: name.clone(),
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            Self { name: name.clone() }
        }
    }

    #[inline]
    pub(crate) fn call(&self, call: Call) {
        #[cfg(feature = "metrics")]
        {
            let idx = match call {
                Call::Success => 0,
                Call::Failure => 1,
                Call::Ignored => 2,
                Call::Slow => 3,
                Call::Rejected => 4,
                Call::Timeout => 5,
                Call::Panic => 6,
            };
            self.calls[idx].increment(1);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = call;
    }

    pub(crate) fn transition(&self, t: &Transition) {
        #[cfg(feature = "metrics")]
        {
            self.state.set(t.to.as_gauge());
            metrics::counter!(
                "palisade_breaker_transitions_total",
                "name" => self.name.to_string(),
                "from" => t.from.as_str(),
                "to" => t.to.as_str()
            )
            .increment(1);
        }
        #[cfg(feature = "tracing")]
        {
            let level_warn = matches!(t.to, State::Open | State::ForcedOpen);
            if level_warn {
                tracing::warn!(
                    breaker = %self.name,
                    from = t.from.as_str(),
                    to = t.to.as_str(),
                    reason = t.reason.as_str(),
                    "circuit breaker transition"
                );
            } else {
                tracing::info!(
                    breaker = %self.name,
                    from = t.from.as_str(),
                    to = t.to.as_str(),
                    reason = t.reason.as_str(),
                    "circuit breaker transition"
                );
            }
        }
        #[cfg(not(any(feature = "metrics", feature = "tracing")))]
        let _ = t;
    }

    #[cfg(feature = "tracing")]
    pub(crate) fn callback_panicked(&self) {
        tracing::error!(breaker = %self.name, "circuit breaker transition callback panicked");
    }

    #[cfg(not(feature = "tracing"))]
    pub(crate) fn callback_panicked(&self) {}
}
