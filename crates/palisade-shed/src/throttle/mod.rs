//! Client-side adaptive throttling, for outbound stacks.
//!
//! When a backend sheds load, its clients should stop hammering it: every
//! refused request still costs the backend work. [`AdaptiveThrottle`]
//! counts, over a sliding window, the requests its client made and those
//! the backend accepted, and rejects a new request locally, before it is
//! sent, with probability
//!
//! ```text
//! max(0, (requests − k · accepts) / (requests + 1))
//! ```
//!
//! (Google, *Site Reliability Engineering*, "Handling Overload": `k` = 2, a
//! 2-minute window). While the backend accepts everything the probability
//! is 0; as it refuses more, the client sends less, but never stops
//! probing. Locally rejected requests count as requests, so the
//! probability stays up while the backend keeps refusing.
//!
//! A local rejection is [`Rejected`](palisade_core::Rejected) of kind
//! [`Overloaded`](palisade_core::RejectKind::Overloaded), named after the
//! throttle. The decision costs a sum over 12 buckets of atomics and one
//! draw of a per-service random generator; no lock.

mod builder;
mod future;
mod layer;
mod service;
mod state;
mod telemetry;

pub use builder::AdaptiveThrottleBuilder;
pub use future::ResponseFuture;
pub use layer::AdaptiveThrottleLayer;
pub use service::AdaptiveThrottleService;

use palisade_core::ErrorsAsFailures;
use palisade_core::lane::Lanes;
use state::Shared;
use std::{fmt, sync::Arc};
use tokio::time::Instant;

/// A client-side adaptive throttle: build it once, then put
/// [`layer()`](AdaptiveThrottle::layer) on the client stacks that call one
/// backend. Its counts are shared by **every clone and every service made
/// from it**.
///
/// ```
/// use palisade_shed::throttle::AdaptiveThrottle;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let throttle = AdaptiveThrottle::builder("inventory").build()?;
/// let client = ServiceBuilder::new()
///     .layer(throttle.layer())
///     .service(service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n) }));
/// assert_eq!(client.oneshot(7).await?, 7);
/// assert_eq!(throttle.rejection_probability(), 0.0);
/// # Ok(()) }
/// ```
pub struct AdaptiveThrottle<C = ErrorsAsFailures> {
    shared: Arc<Lanes<Shared<C>>>,
}

impl<C> Clone for AdaptiveThrottle<C> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<C> fmt::Debug for AdaptiveThrottle<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self.shared, f)
    }
}

impl AdaptiveThrottle<ErrorsAsFailures> {
    /// Starts building the throttle called `name` (the `name` label of its
    /// metrics and the name in its rejections).
    pub fn builder(name: impl Into<Arc<str>>) -> AdaptiveThrottleBuilder<ErrorsAsFailures> {
        AdaptiveThrottleBuilder::new(name.into())
    }
}

impl<C> AdaptiveThrottle<C> {
    /// The layer to put on a client stack; every service it makes shares
    /// this throttle's counts.
    pub fn layer(&self) -> AdaptiveThrottleLayer<C> {
        AdaptiveThrottleLayer::new(Arc::clone(&self.shared))
    }

    /// Requests and accepts counted over the current window.
    pub fn counts(&self) -> (u64, u64) {
        self.shared.counts(Instant::now())
    }

    /// The probability that the next request is rejected locally.
    pub fn rejection_probability(&self) -> f64 {
        self.shared.reject_probability(Instant::now())
    }

    /// The name given to the builder.
    pub fn name(&self) -> &str {
        &self.shared.name
    }
}

#[cfg(test)]
mod tests {
    use super::state::rejection_probability;
    use proptest::prelude::*;

    proptest! {
        /// The SRE book's formula, written out.
        #[test]
        fn probability_is_the_sre_formula(requests in 0u64..100_000, accepts in 0u64..100_000, k in 1.0f64..10.0) {
            let accepts = accepts.min(requests);
            let p = rejection_probability(requests, accepts, k);
            let want = f64::max(0.0, (requests as f64 - k * accepts as f64) / (requests as f64 + 1.0));
            prop_assert!((p - want).abs() < 1e-12);
            prop_assert!((0.0..1.0).contains(&p));
        }
    }

    #[test]
    fn formula_edges() {
        assert_eq!(rejection_probability(0, 0, 2.0), 0.0);
        assert_eq!(rejection_probability(100, 50, 2.0), 0.0);
        // Everything refused: 100 / 101.
        assert!((rejection_probability(100, 0, 2.0) - 100.0 / 101.0).abs() < 1e-12);
        // A quarter accepted, k = 2: (100 − 50) / 101.
        assert!((rejection_probability(100, 25, 2.0) - 50.0 / 101.0).abs() < 1e-12);
    }
}
