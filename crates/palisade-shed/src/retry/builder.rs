use super::{
    ErrorsOnly, HttpResponses, IdempotentMethods, Retry, SafeIf,
    state::{Settings, Shared},
    telemetry::RetryTelemetry,
};
use palisade_core::ConfigError;
use std::{sync::Arc, time::Duration};
use tower::retry::budget::TpsBudget;

/// Builds a [`Retry`]; from [`Retry::builder`].
#[must_use]
#[derive(Debug)]
pub struct RetryBuilder<S = IdempotentMethods, C = HttpResponses> {
    name: Arc<str>,
    max_retries: u32,
    base_backoff: Duration,
    max_backoff: Duration,
    jitter: f64,
    min_attempt_time: Duration,
    own_breakers: Vec<Arc<str>>,
    budget_ratio: f32,
    budget_min_per_sec: u32,
    budget_ttl: Duration,
    safe: S,
    retry_on: C,
}

impl RetryBuilder {
    pub(crate) fn new(name: Arc<str>) -> Self {
        Self {
            name,
            max_retries: 2,
            base_backoff: Duration::from_millis(25),
            max_backoff: Duration::from_secs(1),
            jitter: 0.5,
            min_attempt_time: Duration::ZERO,
            own_breakers: Vec::new(),
            budget_ratio: 0.2,
            budget_min_per_sec: 10,
            budget_ttl: Duration::from_secs(10),
            safe: IdempotentMethods,
            retry_on: HttpResponses,
        }
    }
}

impl<S, C> RetryBuilder<S, C> {
    /// Retries after the first attempt, at most (default 2).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Exponential backoff: `base · 2^(n-1)` before retry `n`, capped at `max`
    /// (default 25 ms and 1 s).
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.base_backoff = base;
        self.max_backoff = max;
        self
    }

    /// Each backoff is scaled by a random factor in `[1 - jitter, 1]`
    /// (default 0.5; 0 turns jitter off, 1 is "full jitter"). A
    /// `retry_after` or pushback is a floor the jitter never goes under.
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// The least time an attempt is expected to take (default 0). A retry
    /// starts only if the request's remaining [`Deadline`](crate::Deadline)
    /// fits the backoff plus the longer of this and the last attempt's time.
    pub fn min_attempt_time(mut self, time: Duration) -> Self {
        self.min_attempt_time = time;
        self
    }

    /// Names the circuit breaker this retry wraps: a `CircuitOpen` from it is
    /// never retried (it would only be refused again), while one from
    /// another breaker (further downstream) is retried after its
    /// `retry_after`. Call once per breaker. Without any, no `CircuitOpen` is
    /// retried.
    pub fn own_breaker(mut self, name: impl Into<Arc<str>>) -> Self {
        self.own_breakers.push(name.into());
        self
    }

    /// The retry budget (Finagle's, as tower's `TpsBudget`): retries may
    /// add at most `ratio` of the requests seen in the last `ttl`, plus
    /// `min_per_sec` retries a second (defaults 0.2, 10/s, 10 s).
    pub fn budget(mut self, ratio: f32, min_per_sec: u32, ttl: Duration) -> Self {
        self.budget_ratio = ratio;
        self.budget_min_per_sec = min_per_sec;
        self.budget_ttl = ttl;
        self
    }

    /// Retries only requests for which `safe` holds (cloning them with
    /// `Clone`), instead of idempotent HTTP methods.
    pub fn safe_if<Req, F>(self, safe: F) -> RetryBuilder<SafeIf<F>, C>
    where
        F: Fn(&Req) -> bool,
    {
        self.rebuild(|_, retry_on| (SafeIf(safe), retry_on))
    }

    /// Retries errors only; every response is final (for non-HTTP services,
    /// or HTTP services whose error responses must not be retried).
    pub fn errors_only(self) -> RetryBuilder<S, ErrorsOnly> {
        self.rebuild(|safe, _| (safe, ErrorsOnly))
    }

    fn rebuild<S2, C2>(self, f: impl FnOnce(S, C) -> (S2, C2)) -> RetryBuilder<S2, C2> {
        let (safe, retry_on) = f(self.safe, self.retry_on);
        RetryBuilder {
            safe,
            retry_on,
            name: self.name,
            max_retries: self.max_retries,
            base_backoff: self.base_backoff,
            max_backoff: self.max_backoff,
            jitter: self.jitter,
            min_attempt_time: self.min_attempt_time,
            own_breakers: self.own_breakers,
            budget_ratio: self.budget_ratio,
            budget_min_per_sec: self.budget_min_per_sec,
            budget_ttl: self.budget_ttl,
        }
    }

    /// Validates the settings and builds the retry.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field: `backoff` (base 0 or above max),
    /// `jitter` outside 0..=1, `budget_ratio` outside 0..=1000,
    /// `budget_ttl` outside 1..=60 s, `budget_min_per_sec` ≥ 2³¹.
    pub fn build(self) -> Result<Retry<S, C>, ConfigError> {
        if self.base_backoff.is_zero() || self.base_backoff > self.max_backoff {
            return Err(ConfigError::new(
                "backoff",
                "a base greater than zero and at most max",
                (self.base_backoff, self.max_backoff),
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(ConfigError::new("jitter", "0..=1", self.jitter));
        }
        if !(0.0..=1000.0).contains(&self.budget_ratio) {
            return Err(ConfigError::new(
                "budget_ratio",
                "0..=1000",
                self.budget_ratio,
            ));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&self.budget_ttl) {
            return Err(ConfigError::new(
                "budget_ttl",
                "1 s..=60 s",
                self.budget_ttl,
            ));
        }
        if self.budget_min_per_sec >= i32::MAX as u32 {
            return Err(ConfigError::new(
                "budget_min_per_sec",
                "below 2^31",
                self.budget_min_per_sec,
            ));
        }
        let telemetry = RetryTelemetry::new(&self.name);
        let shared = Shared {
            budget: TpsBudget::new(self.budget_ttl, self.budget_min_per_sec, self.budget_ratio),
            name: self.name,
            settings: Settings {
                max_retries: self.max_retries,
                base_backoff: self.base_backoff,
                max_backoff: self.max_backoff,
                jitter: self.jitter,
                min_attempt_time: self.min_attempt_time,
                own_breakers: self.own_breakers,
            },
            telemetry,
        };
        Ok(Retry::from_parts(
            Arc::new(shared),
            self.safe,
            self.retry_on,
        ))
    }
}
