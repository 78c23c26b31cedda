//! Metrics and tracing of `RateLimit`. Every function compiles to nothing
//! when its feature (`metrics`, `tracing`) is off; handles are created once.

#![cfg_attr(not(feature = "tracing"), allow(unused_variables))]

use crate::telemetry::{Counter, Gauge, Unit};
use std::time::Duration;

const KEYS: &str = "palisade_shed_rate_limit_keys";
const OVERFLOW: &str = "palisade_shed_rate_limit_overflow_total";

/// The metric handles of one `RateLimit`.
#[derive(Debug)]
pub(crate) struct RateLimitTelemetry {
    rejected: Counter,
    keys: Gauge,
    overflow: Counter,
}

impl RateLimitTelemetry {
    /// The handles of the limit `name` (`rate` per `period`, `burst`,
    /// `keyed` with at most `max_keys` keys: logged only).
    pub(crate) fn new(
        name: &str,
        rate: u32,
        period: Duration,
        burst: u32,
        keyed: bool,
        max_keys: usize,
    ) -> Self {
        #[cfg(feature = "tracing")]
        tracing::debug!(
            name,
            rate,
            period = ?period,
            burst,
            keyed,
            max_keys,
            "palisade-shed: rate limit built"
        );
        Self {
            rejected: Counter::rejected_for(name, "rate_limited"),
            keys: Gauge::new(
                KEYS,
                Unit::Count,
                "Keys held by a keyed rate limit after its last sweep.",
                name,
                &[],
            ),
            overflow: Counter::new(
                OVERFLOW,
                "Checks of new keys that shared the overflow bucket because the key table was full.",
                name,
                &[],
            ),
        }
    }

    /// A request was refused; the key has room again after `wait`.
    #[inline]
    pub(crate) fn rejected(&self, name: &str, wait: Duration) {
        self.rejected.increment(1);
        #[cfg(feature = "tracing")]
        tracing::trace!(name, retry_after = ?wait, "palisade-shed: rate limited");
    }

    /// A sweep left `keys` keys; `overflowed` checks of new keys went to the
    /// shared overflow bucket since the last one.
    pub(crate) fn swept(&self, name: &str, keys: usize, overflowed: u64) {
        #[allow(clippy::cast_precision_loss)]
        self.keys.set(keys as f64);
        self.overflow.increment(overflowed);
        #[cfg(feature = "tracing")]
        if overflowed > 0 {
            tracing::warn!(
                name,
                keys,
                overflowed,
                "palisade-shed: rate limit key table full; new keys shared the overflow bucket"
            );
        } else {
            tracing::debug!(name, keys, "palisade-shed: rate limit keys swept");
        }
    }
}
