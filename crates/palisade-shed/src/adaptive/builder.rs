//! [`AdaptiveLimitBuilder`].

use super::{
    AdaptiveLimit, Algorithm,
    algorithm::Estimator,
    state::{Shared, WindowConfig},
};
use palisade_core::lane::Lanes;
use palisade_core::{ConfigError, ErrorsAsFailures};
use std::{
    hash::{BuildHasher, RandomState},
    sync::Arc,
    time::Duration,
};

/// Builds an [`AdaptiveLimit`]; made by [`AdaptiveLimit::builder`].
///
/// Defaults (Netflix's `WindowedLimit`): [`Gradient2`](super::Gradient2),
/// 1 s windows of at least 10 samples, RTTs under 100 µs ignored; a
/// `retry_after` of 1 s; errors of the inner service count as drops
/// ([`ErrorsAsFailures`]).
#[derive(Debug, Clone)]
#[must_use = "call .build() to get the limit"]
pub struct AdaptiveLimitBuilder<C = ErrorsAsFailures> {
    name: Arc<str>,
    algorithm: Algorithm,
    window: Duration,
    min_samples: u64,
    min_rtt: Duration,
    retry_after: Duration,
    classify: C,
}

impl AdaptiveLimitBuilder<ErrorsAsFailures> {
    pub(crate) fn new(name: Arc<str>) -> Self {
        Self {
            name,
            algorithm: Algorithm::default(),
            window: Duration::from_secs(1),
            min_samples: 10,
            min_rtt: Duration::from_micros(100),
            retry_after: Duration::from_secs(1),
            classify: ErrorsAsFailures,
        }
    }
}

impl<C> AdaptiveLimitBuilder<C> {
    /// The algorithm and its settings: [`Gradient2`](super::Gradient2)
    /// (default), [`Vegas`](super::Vegas) or [`Aimd`](super::Aimd).
    pub fn algorithm(mut self, algorithm: impl Into<Algorithm>) -> Self {
        self.algorithm = algorithm.into();
        self
    }

    /// The shortest sample window (default 1 s; in [1 ms, 1 h]). A window
    /// closes, and the limit is updated, once it is at least this old and
    /// holds [`min_samples`](Self::min_samples) samples; a window short of
    /// samples keeps collecting.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The fewest samples a window needs before it updates the limit
    /// (default 10; in [1, 65535]).
    pub fn min_samples(mut self, samples: u64) -> Self {
        self.min_samples = samples;
        self
    }

    /// Requests faster than this are not sampled (default 100 µs): they say
    /// more about the path through the stack than about the service.
    pub fn min_rtt(mut self, min_rtt: Duration) -> Self {
        self.min_rtt = min_rtt;
        self
    }

    /// The `retry_after` of every rejection (default 1 s; greater than zero).
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// What counts as a drop: a [`Classify`](palisade_core::Classify)
    /// whose `Failure` is one (default [`ErrorsAsFailures`]; for HTTP,
    /// `palisade_core::http::HttpServerErrors` counts 5xx). `Ignored`
    /// outcomes are not sampled.
    pub fn classify<C2>(self, classify: C2) -> AdaptiveLimitBuilder<C2> {
        AdaptiveLimitBuilder {
            name: self.name,
            algorithm: self.algorithm,
            window: self.window,
            min_samples: self.min_samples,
            min_rtt: self.min_rtt,
            retry_after: self.retry_after,
            classify,
        }
    }

    /// Checks the configuration and builds the limit.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the field: `window`, `min_samples`,
    /// `min_rtt`, `retry_after`, or the algorithm's own
    /// (`gradient2.min_limit`, `vegas.smoothing`, `aimd.backoff_ratio`, ...).
    pub fn build(self) -> Result<AdaptiveLimit<C>, ConfigError> {
        self.algorithm.validate()?;
        if self.window < Duration::from_millis(1) || self.window > Duration::from_secs(3600) {
            return Err(ConfigError::new("window", "in [1ms, 1h]", self.window));
        }
        if self.min_samples == 0 || self.min_samples > 65_535 {
            return Err(ConfigError::new(
                "min_samples",
                "in [1, 65535]",
                self.min_samples,
            ));
        }
        if self.min_rtt > Duration::from_secs(60) {
            return Err(ConfigError::new("min_rtt", "at most 60s", self.min_rtt));
        }
        if self.retry_after.is_zero() {
            return Err(ConfigError::new(
                "retry_after",
                "greater than zero",
                self.retry_after,
            ));
        }
        let seed = RandomState::new().hash_one(&*self.name);
        let shared = Shared::new(
            self.name,
            Estimator::new(self.algorithm, seed),
            WindowConfig {
                window: self.window,
                min_samples: self.min_samples,
                min_rtt: self.min_rtt,
            },
            self.retry_after,
            self.classify,
            self.algorithm.name(),
        );
        Ok(AdaptiveLimit {
            shared: Arc::new(Lanes::new(shared)),
        })
    }
}
