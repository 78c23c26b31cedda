//! A fixed concurrency limit that sheds load instead of queueing it.
//!
//! [`ConcurrencyLimit`] (built with [`ConcurrencyLimit::builder`]) lets at
//! most `max_in_flight` requests run at once and rejects the next one at once
//! with [`Rejected`] of kind [`Overloaded`](RejectKind::Overloaded) and a
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
mod config;
mod future;
mod layer;
pub(crate) mod permit;

pub use body::{LimitBody, ReleasePolicy, UntilBodyEnd, UntilResponse};
pub use config::{ConcurrencyLimit, ConcurrencyLimitBuilder};
pub use future::LimitFuture;
pub use layer::ConcurrencyLimitLayer;
pub use permit::Permit;

use palisade_core::lane::Lanes;
use palisade_core::{BoxError, RejectKind, Rejected};
use permit::Shared;
use std::{
    fmt,
    marker::PhantomData,
    sync::Arc,
    task::{Context, Poll},
};
use tower_service::Service;

/// The service made by [`ConcurrencyLimitLayer`].
pub struct ConcurrencyLimitService<S, P = UntilResponse> {
    inner: S,
    shared: Arc<Lanes<Shared>>,
    reservation: Reservation,
    _release: PhantomData<fn() -> P>,
}

/// What `poll_ready` decided for the next `call`.
#[derive(Debug)]
enum Reservation {
    /// `poll_ready` has not been called since the last `call`.
    None,
    /// A slot is held for the next request.
    Held(Permit),
    /// Every slot was taken: the next request is rejected.
    Full,
}

impl<S, P> ConcurrencyLimitService<S, P> {
    pub(crate) fn new(inner: S, shared: Arc<Lanes<Shared>>) -> Self {
        Self {
            inner,
            shared,
            reservation: Reservation::None,
            _release: PhantomData,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service (giving back a slot it may hold).
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, P> Clone for ConcurrencyLimitService<S, P> {
    /// A clone never copies a reservation.
    fn clone(&self) -> Self {
        Self::new(self.inner.clone(), Arc::clone(&self.shared))
    }
}

impl<S: fmt::Debug, P> fmt::Debug for ConcurrencyLimitService<S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyLimitService")
            .field("inner", &self.inner)
            .field("name", &self.shared.name)
            .field("max_in_flight", &self.shared.max_in_flight)
            .field("reservation", &self.reservation)
            .finish()
    }
}

impl<S, P, Req> Service<Req> for ConcurrencyLimitService<S, P>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    P: ReleasePolicy<S::Response>,
{
    type Response = P::Response;
    type Error = BoxError;
    type Future = LimitFuture<S::Future, P>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if !matches!(self.reservation, Reservation::Held(_)) {
            match permit::try_acquire(&self.shared) {
                Some(permit) => self.reservation = Reservation::Held(permit),
                None => {
                    // Decided on our own counter: `call` rejects without
                    // waiting for, or calling, the inner service.
                    self.reservation = Reservation::Full;
                    return Poll::Ready(Ok(()));
                }
            }
        }
        match self.inner.poll_ready(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(err)) => {
                self.reservation = Reservation::None;
                Poll::Ready(Err(err.into()))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        match std::mem::replace(&mut self.reservation, Reservation::None) {
            Reservation::Held(permit) => LimitFuture::running(self.inner.call(req), permit),
            Reservation::Full => {
                let shared = &self.shared;
                shared
                    .telemetry
                    .rejected(&shared.name, shared.max_in_flight);
                LimitFuture::rejected(
                    Rejected::new(RejectKind::Overloaded, Arc::clone(&shared.name))
                        .with_retry_after(shared.retry_after),
                )
            }
            Reservation::None => panic!(
                "ConcurrencyLimitService::call without a successful poll_ready \
                 (tower's Service contract)"
            ),
        }
    }
}
