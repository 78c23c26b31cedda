//! [`AdaptiveThrottleBuilder`].

use super::{AdaptiveThrottle, state::Shared};
use palisade_core::lane::Lanes;
use palisade_core::{ConfigError, ErrorsAsFailures};
use std::{sync::Arc, time::Duration};

/// Builds an [`AdaptiveThrottle`]; made by [`AdaptiveThrottle::builder`].
///
/// Defaults (Google SRE book): `k` = 2, a 2-minute window; a `retry_after`
/// of 1 s on local rejections; any error of the inner service counts as the
/// backend refusing the request ([`ErrorsAsFailures`]).
#[derive(Debug, Clone)]
#[must_use = "call .build() to get the throttle"]
pub struct AdaptiveThrottleBuilder<C = ErrorsAsFailures> {
    name: Arc<str>,
    k: f64,
    window: Duration,
    retry_after: Duration,
    classify: C,
}

impl AdaptiveThrottleBuilder<ErrorsAsFailures> {
    pub(crate) fn new(name: Arc<str>) -> Self {
        Self {
            name,
            k: 2.0,
            window: Duration::from_secs(120),
            retry_after: Duration::from_secs(1),
            classify: ErrorsAsFailures,
        }
    }
}

impl<C> AdaptiveThrottleBuilder<C> {
    /// The multiplier `k` (default 2; in [1, 100]): requests are only
    /// throttled once they exceed `k` times the accepted ones. Lower is more
    /// aggressive.
    pub fn k(mut self, k: f64) -> Self {
        self.k = k;
        self
    }

    /// How far back requests and accepts are counted (default 2 min; in
    /// [1 s, 1 h]); the window slides in twelfths.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The `retry_after` of a local rejection (default 1 s; greater than zero).
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// Which answers mean the backend refused the request: `Failure`
    /// (default: every error, [`ErrorsAsFailures`]). `Success` is an
    /// accept; `Ignored` answers are not counted at all.
    pub fn classify<C2>(self, classify: C2) -> AdaptiveThrottleBuilder<C2> {
        AdaptiveThrottleBuilder {
            name: self.name,
            k: self.k,
            window: self.window,
            retry_after: self.retry_after,
            classify,
        }
    }

    /// Checks the configuration and builds the throttle.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming `k`, `window` or `retry_after`.
    pub fn build(self) -> Result<AdaptiveThrottle<C>, ConfigError> {
        if !(self.k >= 1.0 && self.k <= 100.0) {
            return Err(ConfigError::new("k", "in [1, 100]", self.k));
        }
        if self.window < Duration::from_secs(1) || self.window > Duration::from_secs(3600) {
            return Err(ConfigError::new("window", "in [1s, 1h]", self.window));
        }
        if self.retry_after.is_zero() {
            return Err(ConfigError::new(
                "retry_after",
                "greater than zero",
                self.retry_after,
            ));
        }
        Ok(AdaptiveThrottle {
            shared: Arc::new(Lanes::new(Shared::new(
                self.name,
                self.k,
                self.window,
                self.retry_after,
                self.classify,
            ))),
        })
    }
}
