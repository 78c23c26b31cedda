//! Deadline-aware retries with a budget, on `tower::retry`.
//!
//! [`Retry`] builds a [`RetryPolicy`] for tower's own `Retry` middleware
//! ([`Retry::layer`] is a `tower::retry::RetryLayer`). For each failed
//! attempt it decides:
//!
//! - **Only safe requests are retried**: HTTP requests with an idempotent
//!   method by default ([`IdempotentMethods`]), or those a predicate allows
//!   ([`RetryBuilder::safe_if`]).
//! - **What is a failure**: errors, and by default HTTP `502/503/504/429`
//!   and gRPC `UNAVAILABLE` responses ([`HttpResponses`];
//!   [`RetryBuilder::errors_only`] for errors alone). A Palisade
//!   [`Rejected`](palisade_core::Rejected) of kind `DeadlineExceeded` or
//!   `Closed`, or `CircuitOpen` from this retry's own breaker
//!   ([`RetryBuilder::own_breaker`]), is final.
//! - **How long to wait**: jittered exponential backoff, but never less than
//!   a rejection's `retry_after`, an HTTP `Retry-After` or a gRPC
//!   `grpc-retry-pushback-ms` (a negative pushback stops retrying).
//! - **Whether it fits the deadline**: under an ambient
//!   [`Deadline`](crate::Deadline), a retry starts only if the wait plus the
//!   expected attempt time (the last attempt's, at least
//!   [`min_attempt_time`](RetryBuilder::min_attempt_time)) ends before the
//!   deadline; so it never sleeps past it either.
//! - **Whether the budget allows it**: retries spend from a retry budget
//!   (Finagle's, as tower's `TpsBudget`): at most `ratio` (default 20%) of
//!   the requests of the last `ttl` (10 s), plus a floor of `min_per_sec`
//!   (10) a second, so retries cannot multiply an outage.
//!
//! **Sharing.** Every service made from one `Retry` shares its budget.
//!
//! ```
//! use std::{convert::Infallible, sync::{Arc, atomic::{AtomicUsize, Ordering}}, time::Duration};
//! use http::{Request, Response, StatusCode};
//! use palisade_shed::Retry;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let retry = Retry::builder("upstream")
//!     .max_retries(3)
//!     .backoff(Duration::from_millis(10), Duration::from_millis(200))
//!     .build()?;
//! let calls = Arc::new(AtomicUsize::new(0));
//! let c = calls.clone();
//! // Fails twice with 503, then answers.
//! let flaky = service_fn(move |_req: Request<()>| {
//!     let n = c.fetch_add(1, Ordering::SeqCst);
//!     let status = if n < 2 { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
//!     async move { Ok::<_, Infallible>(Response::builder().status(status).body(()).unwrap()) }
//! });
//! let svc = ServiceBuilder::new().layer(retry.layer()).service(flaky);
//! let res = svc.oneshot(Request::get("/").body(())?).await?;
//! assert_eq!(res.status(), StatusCode::OK);
//! assert_eq!(calls.load(Ordering::SeqCst), 3);
//! # Ok(()) }
//! ```

mod builder;
mod policy;
mod state;
mod telemetry;

pub use builder::RetryBuilder;
pub use policy::{
    ErrorsOnly, HttpResponses, IdempotentMethods, RetryOn, RetryPolicy, RetrySafe, SafeIf,
};

use state::Shared;
use std::{fmt, sync::Arc};

/// tower's retry layer with a Palisade [`RetryPolicy`].
pub type RetryLayer<S = IdempotentMethods, C = HttpResponses> =
    tower::retry::RetryLayer<RetryPolicy<S, C>>;

/// Deadline-aware retries with a budget; see the [module docs](self).
pub struct Retry<S = IdempotentMethods, C = HttpResponses> {
    shared: Arc<Shared>,
    safe: S,
    retry_on: C,
}

impl Retry {
    /// Starts building a retry called `name` (the `name` label of its metrics).
    pub fn builder(name: impl Into<Arc<str>>) -> RetryBuilder {
        RetryBuilder::new(name.into())
    }
}

impl<S, C> Retry<S, C> {
    pub(crate) fn from_parts(shared: Arc<Shared>, safe: S, retry_on: C) -> Self {
        Self {
            shared,
            safe,
            retry_on,
        }
    }
}

impl<S: Clone, C: Clone> Retry<S, C> {
    /// The policy, for `tower::retry::Retry::new` or a `RetryLayer`.
    pub fn policy(&self) -> RetryPolicy<S, C> {
        RetryPolicy::new(
            Arc::clone(&self.shared),
            self.safe.clone(),
            self.retry_on.clone(),
        )
    }

    /// A layer whose services all share this retry's budget.
    pub fn layer(&self) -> RetryLayer<S, C> {
        tower::retry::RetryLayer::new(self.policy())
    }

    /// The retry's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }
}

impl<S: Clone, C: Clone> Clone for Retry<S, C> {
    fn clone(&self) -> Self {
        Self::from_parts(
            Arc::clone(&self.shared),
            self.safe.clone(),
            self.retry_on.clone(),
        )
    }
}

impl<S, C> fmt::Debug for Retry<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("name", &self.shared.name)
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}
