//! A fixed concurrency limit that sheds load instead of queueing it.
//!
//! [`ConcurrencyLimit`] (built with [`ConcurrencyLimit::builder`]) lets at
//! most `max_in_flight` requests run at once and rejects the next one at once
//! with [`Rejected`](palisade_core::Rejected) of kind
//! [`Overloaded`](palisade_core::RejectKind::Overloaded) and a
//! `retry_after`. Compared with tower's `ConcurrencyLimit` + `LoadShed`:
//!
//! - it never queues: tower's limit makes callers wait for a permit (tower
//!   issue 793), and `LoadShed` on top of it sheds whenever the inner service
//!   is `Pending` — including tokio's cooperative-budget yields, which are not
//!   overload. Here the decision is made on the limit's own counter only;
//! - the counter is one atomic compare-and-swap: no semaphore, no lock, no
//!   allocation per request;
//! - the limit is shared by every service made from it (every axum route,
//!   every connection) and observable ([`ConcurrencyLimit::in_flight`]);
//! - the slot can be held until the HTTP response body ends
//!   ([`hold_until_body_end`](ConcurrencyLimitBuilder::hold_until_body_end)).
//!
//! # Readiness
//!
//! `poll_ready` takes a slot (if none is free it returns ready at once, and
//! `call` answers with the rejection without touching the inner service);
//! with a slot, it waits for the inner service's readiness like any tower
//! service. `call` spends the slot; a clone of the service never copies it.

mod body;
mod builder;
mod future;
mod layer;
pub(crate) mod permit;
mod service;
mod state;
mod telemetry;

pub use body::{LimitBody, ReleasePolicy, UntilBodyEnd, UntilResponse};
pub use builder::ConcurrencyLimitBuilder;
pub use future::ResponseFuture;
pub use layer::ConcurrencyLimitLayer;
pub use permit::Permit;
pub use service::ConcurrencyLimitService;

use palisade_core::lane::Lanes;
use state::Shared;
use std::{marker::PhantomData, sync::Arc, time::Duration};

/// A concurrency limit that rejects instead of queueing: build it once, then
/// put [`layer()`](ConcurrencyLimit::layer) in as many stacks as you like.
///
/// At most [`max_in_flight`](ConcurrencyLimit::max_in_flight) requests run
/// at once **across every clone and every service made from it** (every axum
/// route, every hyper connection). The next request is answered at once with
/// [`Rejected`](palisade_core::Rejected) of kind
/// [`Overloaded`](palisade_core::RejectKind::Overloaded) and a `retry_after`
/// (503 + `Retry-After`, or gRPC `RESOURCE_EXHAUSTED`, through
/// `palisade-core`'s mappings). It never waits, and it is never rejected
/// because the inner service yielded: the decision is made on the limit's own
/// counter (one atomic compare-and-swap) in `poll_ready`.
///
/// The slot is held until the response future completes (or is dropped); with
/// [`hold_until_body_end`](ConcurrencyLimitBuilder::hold_until_body_end)
/// (type parameter `P` = [`UntilBodyEnd`]), until the HTTP response body
/// has been fully sent or dropped.
///
/// `ConcurrencyLimit` is a cheap handle (an `Arc` inside).
#[derive(Debug)]
pub struct ConcurrencyLimit<P = UntilResponse> {
    pub(crate) shared: Arc<Lanes<Shared>>,
    _release: PhantomData<fn() -> P>,
}

impl<P> Clone for ConcurrencyLimit<P> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            _release: PhantomData,
        }
    }
}

impl ConcurrencyLimit<UntilResponse> {
    /// Starts building the limit called `name` (the `name` label of its
    /// metrics and the name in its rejections).
    ///
    /// ```
    /// use std::time::Duration;
    /// use palisade_shed::ConcurrencyLimit;
    ///
    /// let limit = ConcurrencyLimit::builder("api")
    ///     .max_in_flight(256)
    ///     .retry_after(Duration::from_secs(2))
    ///     .build()?;
    /// assert_eq!(limit.max_in_flight(), 256);
    /// assert_eq!(limit.in_flight(), 0);
    /// # Ok::<(), palisade_core::ConfigError>(())
    /// ```
    pub fn builder(name: impl Into<Arc<str>>) -> ConcurrencyLimitBuilder<UntilResponse> {
        ConcurrencyLimitBuilder::new(name.into())
    }
}

impl<P> ConcurrencyLimit<P> {
    pub(crate) fn new(shared: Arc<Lanes<Shared>>) -> Self {
        Self {
            shared,
            _release: PhantomData,
        }
    }

    /// The layer to put in a stack; every service it makes shares this limit.
    pub fn layer(&self) -> ConcurrencyLimitLayer<P> {
        ConcurrencyLimitLayer::new(Arc::clone(&self.shared))
    }

    /// The requests holding a slot right now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight()
    }

    /// Requests refused (every slot taken) since the limit was built: a
    /// cumulative count, to turn into a rate by sampling it twice.
    pub fn rejected_total(&self) -> u64 {
        self.shared.slots.rejected_total()
    }

    /// The most requests that may hold a slot at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight
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
