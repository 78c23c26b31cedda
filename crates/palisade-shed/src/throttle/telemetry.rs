//! Metrics of `AdaptiveThrottle`; handles are created once.

use crate::telemetry::Counter;

const THROTTLED: &str = "palisade_shed_throttled_total";

/// The metric handles of one `AdaptiveThrottle`.
#[derive(Debug)]
pub(crate) struct ThrottleTelemetry {
    throttled: Counter,
}

impl ThrottleTelemetry {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            throttled: Counter::new(
                THROTTLED,
                "Outbound requests rejected locally by a client-side adaptive throttle.",
                name,
                &[],
            ),
        }
    }

    /// A request was rejected locally.
    pub(crate) fn throttled(&self) {
        self.throttled.increment(1);
    }
}
