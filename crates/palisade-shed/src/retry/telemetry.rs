//! Metrics and tracing of `Retry`. Every function compiles to nothing when
//! its feature (`metrics`, `tracing`) is off; handles are created once.

#![cfg_attr(not(feature = "tracing"), allow(unused_variables))]

use crate::telemetry::Counter;
use std::time::Duration;

const RETRIES: &str = "palisade_shed_retries_total";
const NOT_RETRIED: &str = "palisade_shed_retry_skipped_total";

/// Why a failed attempt was not retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skip {
    /// The retry budget was spent.
    Budget,
    /// The remaining deadline cannot fit the wait and another attempt.
    Deadline,
    /// `max_retries` reached.
    Exhausted,
    /// The failure must not be retried (own breaker open, deadline exceeded,
    /// negative gRPC pushback, layer closed).
    Final,
}

impl Skip {
    const fn label(self) -> &'static str {
        match self {
            Skip::Budget => "budget",
            Skip::Deadline => "deadline",
            Skip::Exhausted => "exhausted",
            Skip::Final => "not_retryable",
        }
    }
}

/// The metric handles of one `Retry`.
#[derive(Debug)]
pub(crate) struct RetryTelemetry {
    retries: Counter,
    skipped: [Counter; 4],
}

impl RetryTelemetry {
    pub(crate) fn new(name: &str) -> Self {
        let skipped = |s: Skip| {
            Counter::new(
                NOT_RETRIED,
                "Failed attempts not retried, by reason (budget, deadline, exhausted, not_retryable).",
                name,
                &[("reason", s.label())],
            )
        };
        Self {
            retries: Counter::new(
                RETRIES,
                "Retries started (attempts after the first).",
                name,
                &[],
            ),
            skipped: [
                skipped(Skip::Budget),
                skipped(Skip::Deadline),
                skipped(Skip::Exhausted),
                skipped(Skip::Final),
            ],
        }
    }

    pub(crate) fn retrying(&self, name: &str, retry: u32, wait: Duration) {
        self.retries.increment(1);
        #[cfg(feature = "tracing")]
        tracing::debug!(name, retry, wait = ?wait, "palisade-shed: retrying");
    }

    pub(crate) fn skipped(&self, name: &str, why: Skip) {
        self.skipped[why as usize].increment(1);
        #[cfg(feature = "tracing")]
        tracing::debug!(name, reason = why.label(), "palisade-shed: not retrying");
    }
}
