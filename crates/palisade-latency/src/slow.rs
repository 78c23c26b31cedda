//! The slow-request log: a rate-limited warning for requests that end later
//! than the slow threshold.

use std::time::Duration;

use crate::status_class::StatusClass;

/// What the slow-request warning says.
#[derive(Debug)]
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
pub(crate) struct SlowRequest<'a> {
    pub(crate) tracker: &'a str,
    pub(crate) route: &'a str,
    pub(crate) method: &'a str,
    pub(crate) class: StatusClass,
    pub(crate) status: u16,
    pub(crate) duration: Duration,
    pub(crate) threshold: Duration,
    pub(crate) suppressed: u64,
}

/// Emits the slow-request warning (a no-op without the `tracing` feature).
#[cfg(feature = "tracing")]
pub(crate) fn warn_slow(e: &SlowRequest<'_>) {
    use crate::log_limit::duration_ms;
    tracing::warn!(
        tracker = e.tracker,
        route = e.route,
        method = e.method,
        status = e.status,
        class = e.class.as_str(),
        duration_ms = duration_ms(e.duration),
        threshold_ms = duration_ms(e.threshold),
        suppressed = e.suppressed,
        "slow request"
    );
}

/// Emits the slow-request warning (a no-op without the `tracing` feature).
#[cfg(not(feature = "tracing"))]
#[inline]
pub(crate) fn warn_slow(_e: &SlowRequest<'_>) {}
