//! Metrics and tracing of `RateLimit`. Every function compiles to nothing
//! when its feature (`metrics`, `tracing`) is off; handles are created once.

#![cfg_attr(not(feature = "tracing"), allow(unused_variables))]

use super::state::Settings;
use std::time::Duration;

#[cfg(feature = "metrics")]
const REJECTED: &str = "palisade_shed_rejected_total";
#[cfg(feature = "metrics")]
const KEYS: &str = "palisade_shed_rate_limit_keys";
#[cfg(feature = "metrics")]
const OVERFLOW: &str = "palisade_shed_rate_limit_overflow_total";

/// The metric handles of one `RateLimit`.
#[derive(Debug)]
pub(crate) struct RateLimitTelemetry {
    #[cfg(feature = "metrics")]
    rejected: metrics::Counter,
    #[cfg(feature = "metrics")]
    keys: metrics::Gauge,
    #[cfg(feature = "metrics")]
    overflow: metrics::Counter,
}

impl RateLimitTelemetry {
    pub(crate) fn new(name: &str, settings: &Settings, keyed: bool) -> Self {
        #[cfg(feature = "tracing")]
        tracing::debug!(
            name,
            rate = settings.rate,
            period = ?settings.period,
            burst = settings.burst,
            keyed,
            max_keys = settings.max_keys,
            "palisade-shed: rate limit built"
        );
        #[cfg(feature = "metrics")]
        {
            metrics::describe_counter!(
                REJECTED,
                metrics::Unit::Count,
                "Requests refused without reaching the inner service, by reason."
            );
            metrics::describe_gauge!(
                KEYS,
                metrics::Unit::Count,
                "Keys held by a keyed rate limit after its last sweep."
            );
            metrics::describe_counter!(
                OVERFLOW,
                metrics::Unit::Count,
                "Checks of new keys that shared the overflow bucket because the key table was full."
            );
            Self {
                rejected: metrics::counter!(REJECTED, "name" => name.to_owned(), "reason" => "rate_limited"),
                keys: metrics::gauge!(KEYS, "name" => name.to_owned()),
                overflow: metrics::counter!(OVERFLOW, "name" => name.to_owned()),
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = (name, settings, keyed);
            Self {}
        }
    }

    /// A request was refused; the key has room again after `wait`.
    #[inline]
    pub(crate) fn rejected(&self, name: &str, wait: Duration) {
        #[cfg(feature = "metrics")]
        self.rejected.increment(1);
        #[cfg(feature = "tracing")]
        tracing::trace!(name, retry_after = ?wait, "palisade-shed: rate limited");
    }

    /// A sweep left `keys` keys; `overflowed` checks of new keys went to the
    /// shared overflow bucket since the last one.
    pub(crate) fn swept(&self, name: &str, keys: usize, overflowed: u64) {
        #[cfg(feature = "metrics")]
        {
            #[allow(clippy::cast_precision_loss)]
            self.keys.set(keys as f64);
            self.overflow.increment(overflowed);
        }
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
