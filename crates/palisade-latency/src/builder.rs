//! [`LatencyTrackerBuilder`]: the validated builder of a [`LatencyTracker`].

use std::time::Duration;

use palisade_core::ConfigError;

use crate::{LatencyTracker, route::RouteFrom, state::TrackerState};

/// The default of [`LatencyTrackerBuilder::max_routes`].
pub const DEFAULT_MAX_ROUTES: usize = 128;
/// The default of [`LatencyTrackerBuilder::window`].
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);
/// The largest accepted `max_routes`.
pub const MAX_ROUTES_LIMIT: usize = 10_000;

/// Builds a [`LatencyTracker`]; see [`LatencyTracker::builder`].
///
/// Only the name is required (non-empty); every setting has a default: the
/// route source [`RouteFrom::Auto`], `max_routes` 128, no slow-request log,
/// no blocking-poll detector, a 60 s window, one shard per CPU (at most 16).
/// Zero is refused by [`build`](Self::build) with a [`ConfigError`] naming
/// the field for `max_routes`, `shards`, `window` and the two thresholds
/// (leave a threshold unset to keep its feature off).
#[derive(Debug, Clone)]
#[must_use]
pub struct LatencyTrackerBuilder {
    name: String,
    route: RouteFrom,
    max_routes: usize,
    slow_threshold: Option<Duration>,
    blocking_threshold: Option<Duration>,
    window: Duration,
    shards: Option<usize>,
    #[cfg(feature = "grpc")]
    grpc: palisade_core::grpc::GrpcErrors,
}

impl LatencyTrackerBuilder {
    pub(crate) fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            route: RouteFrom::default(),
            max_routes: DEFAULT_MAX_ROUTES,
            slow_threshold: None,
            blocking_threshold: None,
            window: DEFAULT_WINDOW,
            shards: None,
            #[cfg(feature = "grpc")]
            grpc: palisade_core::grpc::GrpcErrors::new(),
        }
    }

    /// Where the route label comes from. Not required: the default,
    /// [`RouteFrom::Auto`], takes axum's route template (`MatchedPath`) when
    /// the request has one, the gRPC method of a gRPC request with the `grpc`
    /// feature, and `unmatched` otherwise. Set it to override that.
    pub fn route(mut self, from: RouteFrom) -> Self {
        self.route = from;
        self
    }

    /// How many distinct routes are tracked (default 128, at most 10,000);
    /// requests of any further route are recorded as `other`.
    pub fn max_routes(mut self, n: usize) -> Self {
        self.max_routes = n;
        self
    }

    /// Log (and count) requests that take longer than `d` to finish, body
    /// included. Off by default.
    pub fn slow_threshold(mut self, d: Duration) -> Self {
        self.slow_threshold = Some(d);
        self
    }

    /// Time every poll of the inner future and report polls longer than `d`
    /// as blocking the executor. Off by default; see the crate docs for its cost.
    ///
    /// The warning names the fix: move the blocking work to
    /// `palisade_shed::BlockingPool` (`pool.run(|| work()).await`, or
    /// `pool.service(f)` as a tower service).
    pub fn blocking_threshold(mut self, d: Duration) -> Self {
        self.blocking_threshold = Some(d);
        self
    }

    /// Length of one window of the recent view (default 60 s, from 1 s to 1 day).
    /// The recent view covers the previous window and the current one.
    pub fn window(mut self, d: Duration) -> Self {
        self.window = d;
        self
    }

    /// Number of recorder shards per route × method × class (default: the
    /// number of CPUs, at most 16). More shards, less contention, more memory.
    pub fn shards(mut self, n: usize) -> Self {
        self.shards = Some(n);
        self
    }

    /// Which `grpc-status` codes of gRPC responses are failures (default
    /// [`GrpcErrors::new`](palisade_core::grpc::GrpcErrors::new): the
    /// server-side codes `UNKNOWN`, `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`,
    /// `INTERNAL`, `UNAVAILABLE`, `DATA_LOSS`).
    ///
    /// A response with `content-type: application/grpc*` whose status is a
    /// failure is recorded in the `error` class (and so counted in `errors`),
    /// whatever its HTTP status; see the crate docs.
    #[cfg(feature = "grpc")]
    #[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
    pub fn grpc_errors(mut self, classify: palisade_core::grpc::GrpcErrors) -> Self {
        self.grpc = classify;
        self
    }

    /// Validates the configuration and builds the tracker.
    ///
    /// ```
    /// use std::time::Duration;
    /// use palisade_latency::LatencyTracker;
    ///
    /// let err = LatencyTracker::builder("api").window(Duration::ZERO).build().unwrap_err();
    /// assert_eq!(err.field(), "window");
    /// ```
    pub fn build(self) -> Result<LatencyTracker, ConfigError> {
        if self.name.is_empty() {
            return Err(ConfigError::new("name", "non-empty", self.name));
        }
        if !(1..=MAX_ROUTES_LIMIT).contains(&self.max_routes) {
            return Err(ConfigError::new(
                "max_routes",
                "in 1..=10000",
                self.max_routes,
            ));
        }
        for (field, value) in [
            ("slow_threshold", self.slow_threshold),
            ("blocking_threshold", self.blocking_threshold),
        ] {
            if value == Some(Duration::ZERO) {
                return Err(ConfigError::new(field, "greater than zero", Duration::ZERO));
            }
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(86_400)).contains(&self.window) {
            return Err(ConfigError::new(
                "window",
                "between 1s and 1 day",
                self.window,
            ));
        }
        let shards = match self.shards {
            Some(n) if !(1..=64).contains(&n) => {
                return Err(ConfigError::new("shards", "in 1..=64", n));
            }
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get().min(16)),
        };
        #[allow(unused_mut)] // mutated with the `grpc` feature
        let mut shared = TrackerState::new(
            self.name,
            self.route,
            self.max_routes,
            self.slow_threshold,
            self.blocking_threshold,
            self.window,
            shards,
        );
        #[cfg(feature = "grpc")]
        {
            shared.grpc = self.grpc;
        }
        Ok(LatencyTracker::new(shared))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_their_field() {
        let b = || LatencyTracker::builder("t");
        let field = |r: Result<LatencyTracker, ConfigError>| r.unwrap_err().field();
        assert_eq!(field(LatencyTracker::builder("").build()), "name");
        assert_eq!(field(b().max_routes(0).build()), "max_routes");
        assert_eq!(field(b().max_routes(10_001).build()), "max_routes");
        assert_eq!(
            field(b().slow_threshold(Duration::ZERO).build()),
            "slow_threshold"
        );
        assert_eq!(
            field(b().blocking_threshold(Duration::ZERO).build()),
            "blocking_threshold"
        );
        assert_eq!(
            field(b().window(Duration::from_millis(10)).build()),
            "window"
        );
        assert_eq!(field(b().shards(0).build()), "shards");
        let err = b().max_routes(0).build().unwrap_err();
        assert_eq!(err.to_string(), "max_routes must be in 1..=10000, got 0");
        assert!(b().max_routes(1).shards(3).build().is_ok());
    }
}
