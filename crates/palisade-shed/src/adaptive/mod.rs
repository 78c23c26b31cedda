//! Adaptive concurrency limits: the limit is found while running.
//!
//! A fixed `max_in_flight` is right for one load and one backend speed.
//! [`AdaptiveLimit`] measures the round-trip time of the requests it lets
//! through, once per sample window, and moves its limit with one of
//! Netflix's `concurrency-limits` algorithms:
//!
//! - [`Gradient2`] (default): follows the ratio between a long-term average
//!   RTT and the latest window's; shrinks when requests start queueing.
//! - [`Vegas`]: TCP Vegas' queue estimate from the no-load RTT.
//! - [`Aimd`]: additive increase, multiplicative decrease on drops.
//!
//! Failures (as told by the [`Classify`](palisade_core::Classify), errors
//! by default) and requests whose deadline ([`Deadline`](crate::Deadline),
//! set by a [`Timeout`](crate::Timeout) above) passed before they finished
//! count as drops.
//!
//! Admission is lock-free, like [`ConcurrencyLimit`](crate::ConcurrencyLimit):
//! one load of the published limit and one compare-and-swap on the
//! in-flight counter; a request over the limit is refused at once with
//! [`Rejected`](palisade_core::Rejected) of kind
//! [`Overloaded`](palisade_core::RejectKind::Overloaded) and a
//! `retry_after`, never queued. Completion adds its sample to the window
//! with atomics; the one completion that closes a window updates the
//! algorithm (under a `std::sync::Mutex` taken with `try_lock`, once per
//! window).
//!
//! Sources: Netflix `concurrency-limits` (`WindowedLimit`, `Gradient2Limit`,
//! `VegasLimit`, `AIMDLimit`, and their defaults); the blog post
//! "Performance Under Load" (Netflix Technology Blog, 2018).

mod algorithm;
mod builder;
mod future;
mod layer;
mod service;
pub(crate) mod state;
mod telemetry;

pub use algorithm::{Aimd, Algorithm, Gradient2, Vegas};
pub use builder::AdaptiveLimitBuilder;
pub use future::ResponseFuture;
pub use layer::AdaptiveLimitLayer;
pub use service::AdaptiveLimitService;

use palisade_core::ErrorsAsFailures;
use palisade_core::lane::Lanes;
use state::Shared;
use std::{fmt, sync::Arc, time::Duration};

/// An adaptive concurrency limit: build it once, then put
/// [`layer()`](AdaptiveLimit::layer) in as many stacks as you like.
///
/// The limit, its in-flight counter and its sample window are shared by
/// **every clone and every service made from it** (every axum route, every
/// hyper connection). Requests over the current [`limit`](Self::limit) are
/// rejected at once with [`Rejected`](palisade_core::Rejected)
/// (`Overloaded`, with `retry_after`).
///
/// ```
/// use std::time::Duration;
/// use palisade_shed::adaptive::{AdaptiveLimit, Vegas};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let limit = AdaptiveLimit::builder("api")
///     .algorithm(Vegas::default().initial_limit(10))
///     .build()?;
/// assert_eq!(limit.limit(), 10);
///
/// let svc = ServiceBuilder::new()
///     .layer(limit.layer())
///     .service(service_fn(|n: u32| async move { Ok::<_, std::convert::Infallible>(n * 2) }));
/// assert_eq!(svc.oneshot(21).await?, 42);
/// assert_eq!(limit.in_flight(), 0);
/// # Ok(()) }
/// ```
pub struct AdaptiveLimit<C = ErrorsAsFailures> {
    pub(crate) shared: Arc<Lanes<Shared<C>>>,
}

impl<C> Clone for AdaptiveLimit<C> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<C> fmt::Debug for AdaptiveLimit<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self.shared, f)
    }
}

impl AdaptiveLimit<ErrorsAsFailures> {
    /// Starts building the limit called `name` (the `name` label of its
    /// metrics and the name in its rejections).
    pub fn builder(name: impl Into<Arc<str>>) -> AdaptiveLimitBuilder<ErrorsAsFailures> {
        AdaptiveLimitBuilder::new(name.into())
    }
}

impl<C> AdaptiveLimit<C> {
    /// The layer to put in a stack; every service it makes shares this limit.
    pub fn layer(&self) -> AdaptiveLimitLayer<C> {
        AdaptiveLimitLayer::new(Arc::clone(&self.shared))
    }

    /// The limit in force: at most this many requests run at once.
    pub fn limit(&self) -> usize {
        self.shared.limit()
    }

    /// The requests holding a slot right now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight()
    }

    /// Requests refused (over the limit) since the limit was built: a
    /// cumulative count, to turn into a rate by sampling it twice.
    pub fn rejected_total(&self) -> u64 {
        self.shared.slots.rejected_total()
    }

    /// The algorithm's name (`gradient2`, `vegas`, `aimd`).
    pub fn algorithm(&self) -> &'static str {
        self.shared.algorithm
    }

    /// The `retry_after` sent with every rejection.
    pub fn retry_after(&self) -> Duration {
        self.shared.retry_after
    }

    /// The name given to the builder.
    pub fn name(&self) -> &str {
        &self.shared.name
    }
}
