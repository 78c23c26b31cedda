use super::{
    RateLimit, Unkeyed,
    state::{Settings, State},
};
use palisade_core::ConfigError;
use std::{hash::Hash, marker::PhantomData, sync::Arc, time::Duration};

/// Builds a [`RateLimit`]; from [`RateLimit::builder`].
///
/// `rate` requests per `period` (default 1 s) are allowed in steady state,
/// up to `burst` at once (default: `rate`). Without [`key`](Self::key) the
/// whole limit is one bucket; with it, each key has its own.
#[must_use]
pub struct RateLimitBuilder<F = Unkeyed, K = ()> {
    name: Arc<str>,
    rate: Option<u32>,
    period: Duration,
    burst: Option<u32>,
    max_keys: usize,
    sweep_interval: Duration,
    key: F,
    keyed: bool,
    _key: PhantomData<fn() -> K>,
}

impl<F, K> std::fmt::Debug for RateLimitBuilder<F, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitBuilder")
            .field("name", &self.name)
            .field("rate", &self.rate)
            .field("period", &self.period)
            .field("burst", &self.burst)
            .field("max_keys", &self.max_keys)
            .field("sweep_interval", &self.sweep_interval)
            .finish_non_exhaustive()
    }
}

/// Keys a keyed limit holds at most, unless set with `max_keys`.
pub const DEFAULT_MAX_KEYS: usize = 100_000;
/// How often a keyed limit drops stale keys, unless set with `sweep_interval`.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(10);

impl RateLimitBuilder {
    pub(crate) fn new(name: Arc<str>) -> Self {
        Self {
            name,
            rate: None,
            period: Duration::from_secs(1),
            burst: None,
            max_keys: DEFAULT_MAX_KEYS,
            sweep_interval: DEFAULT_SWEEP_INTERVAL,
            key: Unkeyed,
            keyed: false,
            _key: PhantomData,
        }
    }
}

impl<F, K> RateLimitBuilder<F, K> {
    /// Steady-state requests per `period` (required, at least 1).
    pub fn rate(mut self, requests: u32) -> Self {
        self.rate = Some(requests);
        self
    }

    /// The period `rate` is counted over (default 1 s; `rate(100).period(60 s)` is 100 a minute).
    pub fn period(mut self, period: Duration) -> Self {
        self.period = period;
        self
    }

    /// Requests allowed at once after a quiet spell (default: `rate`, at least 1).
    pub fn burst(mut self, requests: u32) -> Self {
        self.burst = Some(requests);
        self
    }

    /// Keys held at most by a keyed limit (default 100 000). Once the table
    /// is full, new keys share one overflow bucket (one key's quota for all
    /// of them) until stale keys are swept out.
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// How often a keyed limit drops the keys whose bucket has refilled
    /// (default 10 s). The sweep runs as a short tokio task, started by the
    /// first request that finds it due.
    pub fn sweep_interval(mut self, interval: Duration) -> Self {
        self.sweep_interval = interval;
        self
    }

    /// Limits each key on its own: `key` maps a request to its key (client
    /// IP, API key, route...). Annotate the request type in the closure.
    ///
    /// ```
    /// use http::Request;
    /// use palisade_shed::RateLimit;
    ///
    /// let limit = RateLimit::builder("per-client")
    ///     .rate(10)
    ///     .key(|req: &Request<()>| {
    ///         req.headers().get("x-api-key").map(|v| v.as_bytes().to_vec())
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # drop(limit);
    /// ```
    pub fn key<Req, K2, F2>(self, key: F2) -> RateLimitBuilder<F2, K2>
    where
        F2: Fn(&Req) -> K2 + Clone + Send + Sync + 'static,
        K2: Hash + Eq + Clone + Send + Sync + 'static,
    {
        RateLimitBuilder {
            name: self.name,
            rate: self.rate,
            period: self.period,
            burst: self.burst,
            max_keys: self.max_keys,
            sweep_interval: self.sweep_interval,
            key,
            keyed: true,
            _key: PhantomData,
        }
    }
}

impl<F: Clone, K: Hash + Eq + Clone + Send + Sync + 'static> RateLimitBuilder<F, K> {
    /// Validates the settings and builds the shared limiter.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field: `rate` missing or 0, `period` 0,
    /// `burst` 0, `period / rate` under 1 ns, `max_keys` 0, `sweep_interval` 0.
    pub fn build(self) -> Result<RateLimit<F, K>, ConfigError> {
        let rate = match self.rate {
            None => {
                return Err(ConfigError::custom(
                    "rate",
                    "is required (requests per period)",
                ));
            }
            Some(0) => return Err(ConfigError::new("rate", "at least 1", 0u32)),
            Some(r) => r,
        };
        if self.period.is_zero() {
            return Err(ConfigError::new("period", "greater than zero", self.period));
        }
        if (self.period / rate).is_zero() {
            return Err(ConfigError::new(
                "rate",
                "at most one request per nanosecond of period",
                rate,
            ));
        }
        let burst = self.burst.unwrap_or(rate);
        if burst == 0 {
            return Err(ConfigError::new("burst", "at least 1", 0u32));
        }
        if self.max_keys == 0 {
            return Err(ConfigError::new("max_keys", "at least 1", 0usize));
        }
        if self.sweep_interval.is_zero() {
            return Err(ConfigError::new(
                "sweep_interval",
                "greater than zero",
                self.sweep_interval,
            ));
        }
        let settings = Settings {
            rate,
            period: self.period,
            burst,
            max_keys: self.max_keys,
            sweep_interval: self.sweep_interval,
        };
        let state = State::new(self.name, settings, self.keyed);
        Ok(RateLimit::from_parts(Arc::new(state), self.key))
    }
}
