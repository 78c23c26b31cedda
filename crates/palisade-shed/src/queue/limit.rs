//! [`QueueLimit`]: the concurrency limits a [`Queue`](super::Queue) can sit
//! in front of, and how a queued request holds and gives back their slots.

use crate::adaptive::{
    AdaptiveLimit,
    state::{self, Permit as AdaptivePermitInner},
};
use crate::limit::{ConcurrencyLimit, Permit, UntilResponse, permit};
use palisade_core::Classify;
use std::{fmt, time::Duration};
use tokio::time::Instant;

mod sealed {
    pub trait Sealed {}
}

/// A concurrency limit a [`Queue`](super::Queue) can hold requests in front
/// of: [`ConcurrencyLimit`] (with the default release policy: the slot is
/// given back when the response is ready) and [`AdaptiveLimit`]. Sealed.
pub trait QueueLimit: sealed::Sealed + Send + Sync + 'static {
    /// A slot of the limit, held while the request runs.
    #[doc(hidden)]
    type Permit: Send + 'static;

    /// Whether [`QueueLimitFor::started`] wants the request's deadline.
    #[doc(hidden)]
    const WANTS_DEADLINE: bool;

    /// Takes a slot if one is free (lock-free, never waits).
    #[doc(hidden)]
    fn try_acquire(&self) -> Option<Self::Permit>;

    /// The limit in force.
    fn current_limit(&self) -> usize;

    /// The requests holding a slot right now.
    fn current_in_flight(&self) -> usize;

    /// The limit's name (also the queue's).
    fn limit_name(&self) -> &str;

    /// The `retry_after` of the limit's rejections.
    fn limit_retry_after(&self) -> Duration;
}

/// How a slot of a [`QueueLimit`] is given back once the request's result
/// (`Result<T, E>`) is known.
#[doc(hidden)]
pub trait QueueLimitFor<T, E>: QueueLimit {
    /// The request starts running with `deadline`.
    fn started(permit: &mut Self::Permit, deadline: Option<Instant>);

    /// The request finished with `result`; the slot is given back.
    fn finish(permit: Self::Permit, result: Result<&T, &E>);
}

impl sealed::Sealed for ConcurrencyLimit<UntilResponse> {}

impl QueueLimit for ConcurrencyLimit<UntilResponse> {
    type Permit = Permit;
    const WANTS_DEADLINE: bool = false;

    #[inline]
    fn try_acquire(&self) -> Option<Permit> {
        permit::try_acquire(&self.shared)
    }

    fn current_limit(&self) -> usize {
        self.max_in_flight()
    }

    fn current_in_flight(&self) -> usize {
        self.in_flight()
    }

    fn limit_name(&self) -> &str {
        self.name()
    }

    fn limit_retry_after(&self) -> Duration {
        self.retry_after()
    }
}

impl<T, E> QueueLimitFor<T, E> for ConcurrencyLimit<UntilResponse> {
    #[inline]
    fn started(_: &mut Permit, _: Option<Instant>) {}

    #[inline]
    fn finish(permit: Permit, _: Result<&T, &E>) {
        drop(permit);
    }
}

/// A slot of an [`AdaptiveLimit`] taken through a queue: records the
/// request's round-trip time and outcome like the limit's own layer.
#[doc(hidden)]
pub struct AdaptivePermit<C>(AdaptivePermitInner<C>);

impl<C> fmt::Debug for AdaptivePermit<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<C> sealed::Sealed for AdaptiveLimit<C> {}

impl<C: Send + Sync + 'static> QueueLimit for AdaptiveLimit<C> {
    type Permit = AdaptivePermit<C>;
    const WANTS_DEADLINE: bool = true;

    #[inline]
    fn try_acquire(&self) -> Option<AdaptivePermit<C>> {
        let in_flight = state::try_acquire(&self.shared)?;
        Some(AdaptivePermit(AdaptivePermitInner::new(
            &self.shared,
            in_flight,
        )))
    }

    fn current_limit(&self) -> usize {
        self.limit()
    }

    fn current_in_flight(&self) -> usize {
        self.in_flight()
    }

    fn limit_name(&self) -> &str {
        self.name()
    }

    fn limit_retry_after(&self) -> Duration {
        self.retry_after()
    }
}

impl<T, E, C> QueueLimitFor<T, E> for AdaptiveLimit<C>
where
    C: Classify<T, E>,
{
    #[inline]
    fn started(permit: &mut AdaptivePermit<C>, deadline: Option<Instant>) {
        permit.0.set_deadline(deadline);
    }

    #[inline]
    fn finish(permit: AdaptivePermit<C>, result: Result<&T, &E>) {
        let outcome = permit.0.shared().classify.classify(result);
        permit.0.finish(outcome);
    }
}
