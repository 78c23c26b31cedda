//! The checked settings of a breaker, shared by every breaker built from
//! one builder.

use crate::backoff::Backoff;
use std::{sync::Arc, time::Duration};

/// Which window the rates are computed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WindowSpec {
    Count(usize),
    Time(Duration),
}

/// The slow-call rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SlowCalls {
    pub(crate) threshold: Duration,
    pub(crate) rate_ppm: u64,
}

/// A checked configuration, shared by every breaker built from one builder.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) name: Arc<str>,
    pub(crate) failure_rate_ppm: u64,
    pub(crate) window: WindowSpec,
    pub(crate) minimum_calls: u64,
    pub(crate) consecutive_failures: Option<u32>,
    pub(crate) slow_calls: Option<SlowCalls>,
    pub(crate) backoff: Backoff,
    pub(crate) half_open_probes: u32,
    pub(crate) half_open_timeout: Duration,
    pub(crate) wait_while_open: bool,
}

/// The most probes a half-open breaker may admit at once.
pub(crate) const MAX_PROBES: u32 = 10_000;

/// Rates are compared in parts per million.
pub(crate) fn ppm(rate: f64) -> u64 {
    // `rate` is validated to be in (0, 1]; float-to-int `as` saturates.
    (rate * 1_000_000.0).round().clamp(1.0, 1_000_000.0) as u64
}

#[cfg(test)]
mod tests {
    use super::ppm;

    #[test]
    fn rates_to_ppm() {
        assert_eq!(ppm(0.5), 500_000);
        assert_eq!(ppm(1.0), 1_000_000);
        assert_eq!(ppm(0.3), 300_000);
        assert_eq!(ppm(1e-9), 1);
    }
}
