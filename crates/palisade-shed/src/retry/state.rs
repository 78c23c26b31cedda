//! The shared state of one `Retry`. Imports none of the files above it.

use super::telemetry::RetryTelemetry;
use std::{sync::Arc, time::Duration};
use tower::retry::budget::TpsBudget;

/// The validated settings of a `Retry`.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) max_retries: u32,
    pub(crate) base_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) jitter: f64,
    pub(crate) min_attempt_time: Duration,
    /// Breakers whose `CircuitOpen` is never retried; empty: every breaker's.
    pub(crate) own_breakers: Vec<Arc<str>>,
}

/// Everything the requests through one `Retry` share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) name: Arc<str>,
    pub(crate) settings: Settings,
    pub(crate) budget: TpsBudget,
    pub(crate) telemetry: RetryTelemetry,
}

impl Shared {
    /// The backoff before retry number `retry` (1-based), before any
    /// `retry_after`: `base · 2^(retry-1)`, capped at `max`, then scaled by a
    /// random factor in `[1 - jitter, 1]`.
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let s = &self.settings;
        let exp = s
            .base_backoff
            .saturating_mul(
                1u32.checked_shl(retry.saturating_sub(1))
                    .unwrap_or(u32::MAX),
            )
            .min(s.max_backoff);
        if s.jitter == 0.0 {
            return exp;
        }
        exp.mul_f64(1.0 - s.jitter * fastrand::f64())
    }

    /// Whether a `CircuitOpen` from the breaker `name` is this retry's own.
    pub(crate) fn is_own_breaker(&self, name: &str) -> bool {
        let own = &self.settings.own_breakers;
        own.is_empty() || own.iter().any(|b| &**b == name)
    }
}
