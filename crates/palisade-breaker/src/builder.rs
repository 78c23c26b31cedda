//! [`CircuitBreakerBuilder`], which checks the settings, and the
//! constructors that start one.

#[cfg(feature = "grpc")]
use crate::verdict::AtEndOfStream;
use crate::{
    backoff::Backoff,
    breaker::CircuitBreaker,
    settings::{MAX_PROBES, Settings, SlowCalls, WindowSpec, ppm},
    verdict::AtResponse,
    window::{MAX_COUNT_WINDOW, TIME_BUCKETS},
};
use palisade_core::{ConfigError, ErrorsAsFailures};
use std::{marker::PhantomData, sync::Arc, time::Duration};

/// Builds a [`CircuitBreaker`]: start with [`CircuitBreaker::builder`].
///
/// Defaults: failure rate 0.5 over a count window of 100 calls with at
/// least 20 calls, no consecutive-failure or slow-call rule, an open wait of
/// 30 s, 3 half-open probes with a 10 s timeout, every `Err` a failure
/// ([`ErrorsAsFailures`]).
///
/// ```
/// use std::time::Duration;
/// use palisade_breaker::{Backoff, CircuitBreaker};
///
/// let breaker = CircuitBreaker::builder("payments")
///     .failure_rate(0.5)
///     .count_window(100)
///     .minimum_calls(20)
///     .consecutive_failures(5)
///     .slow_calls(Duration::from_millis(500), 0.8)
///     .open_backoff(Backoff::exponential(Duration::from_secs(5), Duration::from_secs(300)).jitter(0.2))
///     .half_open_probes(3)
///     .half_open_timeout(Duration::from_secs(10))
///     .build()?;
/// # Ok::<(), palisade_core::ConfigError>(())
/// ```
///
/// The second type parameter says when the outcome of a call is known (see
/// [`AtResponse`] and [`AtEndOfStream`](crate::AtEndOfStream)); only
/// [`builder_for_grpc`](CircuitBreaker::builder_for_grpc) changes it.
#[derive(Debug, Clone)]
#[must_use]
pub struct CircuitBreakerBuilder<C = ErrorsAsFailures, V = AtResponse> {
    name: Arc<str>,
    failure_rate: f64,
    window: WindowSpec,
    minimum_calls: Option<u64>,
    consecutive_failures: Option<u32>,
    slow_calls: Option<(Duration, f64)>,
    backoff: (Backoff, &'static str),
    half_open_probes: u32,
    half_open_timeout: Duration,
    wait_while_open: bool,
    classify: C,
    verdict: PhantomData<fn() -> V>,
}

impl CircuitBreakerBuilder<ErrorsAsFailures> {
    pub(crate) fn new(name: Arc<str>) -> Self {
        Self {
            name,
            failure_rate: 0.5,
            window: WindowSpec::Count(100),
            minimum_calls: None,
            consecutive_failures: None,
            slow_calls: None,
            backoff: (Backoff::fixed(Duration::from_secs(30)), "open_wait"),
            half_open_probes: 3,
            half_open_timeout: Duration::from_secs(10),
            wait_while_open: false,
            classify: ErrorsAsFailures,
            verdict: PhantomData,
        }
    }
}

impl<C, V> CircuitBreakerBuilder<C, V> {
    /// Trip when at least this fraction of the calls in the window failed.
    /// Must be in `(0, 1]`.
    pub fn failure_rate(mut self, rate: f64) -> Self {
        self.failure_rate = rate;
        self
    }

    /// Compute rates over the last `calls` recorded calls (the default,
    /// with 100). Must be in `1..=10000`.
    pub fn count_window(mut self, calls: usize) -> Self {
        self.window = WindowSpec::Count(calls);
        self
    }

    /// Compute rates over the calls that finished in the last `window`, kept
    /// in 10 buckets of `window / 10` that expire one at a time. Must be at
    /// least 10 ms.
    pub fn time_window(mut self, window: Duration) -> Self {
        self.window = WindowSpec::Time(window);
        self
    }

    /// Give no verdict on fewer recorded calls than this (default 20, or the
    /// count window if smaller). At least 1, and no more than a count window.
    pub fn minimum_calls(mut self, calls: u64) -> Self {
        self.minimum_calls = Some(calls);
        self
    }

    /// Also trip after this many failures in a row, whatever the window
    /// says. At least 1.
    pub fn consecutive_failures(mut self, failures: u32) -> Self {
        self.consecutive_failures = Some(failures);
        self
    }

    /// Also trip when at least `rate` of the calls in the window took
    /// `threshold` or longer (whether they succeeded or failed). A slow
    /// half-open probe counts as a failed one. `threshold` must be greater
    /// than zero and `rate` in `(0, 1]`.
    pub fn slow_calls(mut self, threshold: Duration, rate: f64) -> Self {
        self.slow_calls = Some((threshold, rate));
        self
    }

    /// Stay open for `wait` before admitting probes (default 30 s). Must be
    /// greater than zero. Replaces any [`open_backoff`](Self::open_backoff).
    pub fn open_wait(mut self, wait: Duration) -> Self {
        self.backoff = (Backoff::fixed(wait), "open_wait");
        self
    }

    /// Stay open for a wait that grows with each consecutive re-open (see
    /// [`Backoff`]). Replaces any [`open_wait`](Self::open_wait).
    pub fn open_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = (backoff, "open_backoff");
        self
    }

    /// Admit this many probe calls at once while half-open (default 3); all
    /// must succeed to close the breaker. In `1..=10000`.
    pub fn half_open_probes(mut self, probes: u32) -> Self {
        self.half_open_probes = probes;
        self
    }

    /// A probe that has not finished this long after it started counts as a
    /// failure (default 10 s). Must be greater than zero.
    pub fn half_open_timeout(mut self, timeout: Duration) -> Self {
        self.half_open_timeout = timeout;
        self
    }

    /// While open, make `poll_ready` return `Pending` until probing is
    /// allowed (woken by a timer) instead of being ready and rejecting in
    /// `call`: for services under a load balancer that routes around
    /// unready endpoints. A forced-open breaker still rejects.
    pub fn wait_while_open(mut self) -> Self {
        self.wait_while_open = true;
        self
    }

    /// Decide what counts as a failure with any [`palisade_core::Classify`]
    /// (default [`ErrorsAsFailures`]): `HttpServerErrors` for HTTP, a closure
    /// for anything else. The outcome is then read from what the inner
    /// service returns ([`AtResponse`]), also after
    /// [`builder_for_grpc`](CircuitBreaker::builder_for_grpc): to change the
    /// gRPC codes that count as failures and keep reading trailers, use
    /// [`grpc_errors`](CircuitBreakerBuilder::grpc_errors).
    pub fn classify<C2>(self, classify: C2) -> CircuitBreakerBuilder<C2> {
        self.map_classify(|_| classify)
    }

    /// Checks the configuration and builds the breaker.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first field out of range.
    pub fn build(self) -> Result<CircuitBreaker<C, V>, ConfigError> {
        let (config, classify) = self.into_parts()?;
        Ok(CircuitBreaker::from_settings(config, classify))
    }

    /// The same settings with another classifier and verdict time.
    fn map_classify<C2, V2>(self, f: impl FnOnce(C) -> C2) -> CircuitBreakerBuilder<C2, V2> {
        CircuitBreakerBuilder {
            name: self.name,
            failure_rate: self.failure_rate,
            window: self.window,
            minimum_calls: self.minimum_calls,
            consecutive_failures: self.consecutive_failures,
            slow_calls: self.slow_calls,
            backoff: self.backoff,
            half_open_probes: self.half_open_probes,
            half_open_timeout: self.half_open_timeout,
            wait_while_open: self.wait_while_open,
            classify: f(self.classify),
            verdict: PhantomData,
        }
    }

    pub(crate) fn into_parts(self) -> Result<(Settings, C), ConfigError> {
        let config = self.check()?;
        Ok((config, self.classify))
    }

    fn check(&self) -> Result<Settings, ConfigError> {
        let rate_ok = |r: f64| r > 0.0 && r <= 1.0;
        if self.name.is_empty() {
            return Err(ConfigError::new("name", "a non-empty string", ""));
        }
        if !rate_ok(self.failure_rate) {
            return Err(ConfigError::new(
                "failure_rate",
                "in (0, 1]",
                self.failure_rate,
            ));
        }
        let window_cap = match self.window {
            WindowSpec::Count(n) => {
                if !(1..=MAX_COUNT_WINDOW).contains(&n) {
                    return Err(ConfigError::new(
                        "count_window",
                        format!("in 1..={MAX_COUNT_WINDOW}"),
                        n,
                    ));
                }
                Some(n as u64)
            }
            WindowSpec::Time(d) => {
                if d < Duration::from_millis(TIME_BUCKETS) {
                    return Err(ConfigError::new("time_window", "at least 10ms", d));
                }
                None
            }
        };
        let minimum_calls = match (self.minimum_calls, window_cap) {
            (Some(0), _) => return Err(ConfigError::new("minimum_calls", "at least 1", 0)),
            (Some(m), Some(cap)) if m > cap => {
                return Err(ConfigError::new(
                    "minimum_calls",
                    format!("at most the count window ({cap})"),
                    m,
                ));
            }
            (Some(m), _) => m,
            (None, Some(cap)) => cap.min(20),
            (None, None) => 20,
        };
        if self.consecutive_failures == Some(0) {
            return Err(ConfigError::new("consecutive_failures", "at least 1", 0));
        }
        let slow_calls = match self.slow_calls {
            Some((threshold, _)) if threshold.is_zero() => {
                return Err(ConfigError::new(
                    "slow_calls",
                    "a threshold greater than zero",
                    threshold,
                ));
            }
            Some((_, rate)) if !rate_ok(rate) => {
                return Err(ConfigError::new("slow_calls", "a rate in (0, 1]", rate));
            }
            Some((threshold, rate)) => Some(SlowCalls {
                threshold,
                rate_ppm: ppm(rate),
            }),
            None => None,
        };
        self.backoff.0.validate(self.backoff.1)?;
        if !(1..=MAX_PROBES).contains(&self.half_open_probes) {
            return Err(ConfigError::new(
                "half_open_probes",
                format!("in 1..={MAX_PROBES}"),
                self.half_open_probes,
            ));
        }
        if self.half_open_timeout.is_zero() {
            return Err(ConfigError::new(
                "half_open_timeout",
                "greater than zero",
                self.half_open_timeout,
            ));
        }
        Ok(Settings {
            name: self.name.clone(),
            failure_rate_ppm: ppm(self.failure_rate),
            window: self.window,
            minimum_calls,
            consecutive_failures: self.consecutive_failures,
            slow_calls,
            backoff: self.backoff.0,
            half_open_probes: self.half_open_probes,
            half_open_timeout: self.half_open_timeout,
            wait_while_open: self.wait_while_open,
        })
    }
}

impl CircuitBreaker {
    /// Starts configuring a breaker called `name` (the `name` label of its
    /// metrics and the name in its rejections), for any protocol: every
    /// `Err` of the inner service is a failure ([`ErrorsAsFailures`]).
    ///
    /// For HTTP or gRPC services, start from
    /// [`builder_for_http`](Self::builder_for_http) or
    /// [`builder_for_grpc`](Self::builder_for_grpc), whose classifiers also
    /// read the response: an HTTP server that answers `500` returns `Ok`.
    pub fn builder(name: impl Into<Arc<str>>) -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::new(name.into())
    }

    /// Starts configuring a breaker for an HTTP service: a `5xx` response
    /// and a transport error (`Err`) are failures, anything else a success
    /// ([`HttpServerErrors`](palisade_core::http::HttpServerErrors)). The
    /// other settings have the defaults of [`CircuitBreakerBuilder`]; nothing else needs
    /// setting. For one breaker per upstream host, add
    /// [`key`](CircuitBreakerBuilder::key).
    ///
    /// ```
    /// use palisade_breaker::{CircuitBreaker, State};
    /// use palisade_core::http::HttpServerErrors;
    ///
    /// let breaker = CircuitBreaker::builder_for_http("upstream")
    ///     .consecutive_failures(5)
    ///     .build()?;
    /// assert_eq!(breaker.state(), State::Closed);
    /// # Ok::<(), palisade_core::ConfigError>(())
    /// ```
    #[cfg(feature = "http")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http")))]
    pub fn builder_for_http(
        name: impl Into<Arc<str>>,
    ) -> CircuitBreakerBuilder<palisade_core::http::HttpServerErrors> {
        CircuitBreakerBuilder::new(name.into())
            .classify(palisade_core::http::HttpServerErrors::new())
    }

    /// Starts configuring a breaker for a gRPC service: the server-side
    /// status codes (`UNKNOWN`, `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`,
    /// `INTERNAL`, `UNAVAILABLE`, `DATA_LOSS`) and transport errors are
    /// failures ([`GrpcErrors`](palisade_core::grpc::GrpcErrors)), every other
    /// code a success (`NOT_FOUND` is the client's problem, not the server's).
    ///
    /// The status is read where it arrives ([`AtEndOfStream`]): from the
    /// response head of a trailers-only response (how tonic answers a failed
    /// unary call), otherwise from the `grpc-status` trailer at the end of
    /// the response body, which the service wraps in a
    /// [`ClassifiedBody`](palisade_core::grpc::ClassifiedBody). So a call
    /// counts when its body ends, and:
    ///
    /// - a body that ends without trailers is a success, a body error a
    ///   failure;
    /// - a body dropped before its end (the client went away) counts as a
    ///   dropped call does: a failure if a panic unwinds or the ambient
    ///   deadline has passed, otherwise ignored (and slow if it ran past the
    ///   slow-call threshold);
    /// - the slow-call rule and `half_open_timeout` measure until the end of
    ///   the body, and a half-open probe holds its slot until then.
    ///
    /// A `builder(name).classify(GrpcErrors::new())` breaker reads the head
    /// only, and wraps no body.
    ///
    /// ```
    /// use palisade_breaker::CircuitBreaker;
    /// use palisade_core::grpc::{GrpcCode, GrpcErrors};
    ///
    /// let breaker = CircuitBreaker::builder_for_grpc("users")
    ///     .grpc_errors(GrpcErrors::new().failure(GrpcCode::ResourceExhausted))
    ///     .consecutive_failures(5)
    ///     .build()?;
    /// # drop(breaker);
    /// # Ok::<(), palisade_core::ConfigError>(())
    /// ```
    #[cfg(feature = "grpc")]
    #[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
    pub fn builder_for_grpc(
        name: impl Into<Arc<str>>,
    ) -> CircuitBreakerBuilder<palisade_core::grpc::GrpcErrors, AtEndOfStream> {
        CircuitBreakerBuilder::new(name.into())
            .classify(palisade_core::grpc::GrpcErrors::new())
            .at_end_of_stream()
    }
}

#[cfg(feature = "grpc")]
impl<V> CircuitBreakerBuilder<palisade_core::grpc::GrpcErrors, V> {
    /// Reads the gRPC status where it arrives, at the end of the response
    /// body when it is not in the head (see
    /// [`builder_for_grpc`](CircuitBreaker::builder_for_grpc), which sets
    /// it).
    #[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
    pub fn at_end_of_stream(
        self,
    ) -> CircuitBreakerBuilder<palisade_core::grpc::GrpcErrors, AtEndOfStream> {
        self.map_classify(|c| c)
    }

    /// Counts these gRPC codes as failures, keeping where the status is read.
    #[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
    pub fn grpc_errors(mut self, errors: palisade_core::grpc::GrpcErrors) -> Self {
        self.classify = errors;
        self
    }
}
