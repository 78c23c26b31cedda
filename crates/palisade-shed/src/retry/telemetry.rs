//! Metrics and tracing of `Retry`. Every function compiles to nothing when
//! its feature (`metrics`, `tracing`) is off; handles are created once.

#![cfg_attr(not(feature = "tracing"), allow(unused_variables))]

use std::time::Duration;

#[cfg(feature = "metrics")]
const RETRIES: &str = "palisade_shed_retries_total";
#[cfg(feature = "metrics")]
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

#[cfg_attr(not(any(feature = "metrics", feature = "tracing")), allow(dead_code))]
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
    #[cfg(feature = "metrics")]
    retries: metrics::Counter,
    #[cfg(feature = "metrics")]
    skipped: [metrics::Counter; 4],
}

impl RetryTelemetry {
    pub(crate) fn new(name: &str) -> Self {
        #[cfg(feature = "metrics")]
        {
            metrics::describe_counter!(
                RETRIES,
                metrics::Unit::Count,
                "Retries started (attempts after the first)."
            );
            metrics::describe_counter!(
                NOT_RETRIED,
                metrics::Unit::Count,
                "Failed attempts not retried, by reason (budget, deadline, exhausted, not_retryable)."
            );
            let skipped = |s: Skip| metrics::counter!(NOT_RETRIED, "name" => name.to_owned(), "reason" => s.label());
            Self {
                retries: metrics::counter!(RETRIES, "name" => name.to_owned()),
                skipped: [
                    skipped(Skip::Budget),
                    skipped(Skip::Deadline),
                    skipped(Skip::Exhausted),
                    skipped(Skip::Final),
                ],
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = name;
            Self {}
        }
    }

    pub(crate) fn retrying(&self, name: &str, retry: u32, wait: Duration) {
        #[cfg(feature = "metrics")]
        self.retries.increment(1);
        #[cfg(feature = "tracing")]
        tracing::debug!(name, retry, wait = ?wait, "palisade-shed: retrying");
    }

    pub(crate) fn skipped(&self, name: &str, why: Skip) {
        #[cfg(feature = "metrics")]
        self.skipped[why as usize].increment(1);
        #[cfg(feature = "tracing")]
        tracing::debug!(name, reason = why.label(), "palisade-shed: not retrying");
    }
}
