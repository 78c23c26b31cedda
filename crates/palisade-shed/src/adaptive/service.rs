//! [`AdaptiveLimitService`].

use super::{
    future::ResponseFuture,
    state::{self, Permit, Shared},
};
use palisade_core::lane::Lanes;
use palisade_core::{BoxError, Classify, RejectKind, Rejected};
use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};
use tower_service::Service;

/// The service made by [`AdaptiveLimitLayer`](super::AdaptiveLimitLayer).
///
/// `poll_ready` takes a slot if fewer requests than the current limit are in
/// flight (if none is free it returns ready at once, and `call` answers with
/// the rejection without touching the inner service); with a slot, it waits
/// for the inner service's readiness. `call` spends the slot; a clone never
/// copies it.
pub struct AdaptiveLimitService<S, C> {
    inner: S,
    shared: Arc<Lanes<Shared<C>>>,
    reservation: Reservation<C>,
}

enum Reservation<C> {
    None,
    Held(Permit<C>),
    Full,
}

impl<S, C> AdaptiveLimitService<S, C> {
    pub(crate) fn new(inner: S, shared: Arc<Lanes<Shared<C>>>) -> Self {
        Self {
            inner,
            shared,
            reservation: Reservation::None,
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

impl<S: Clone, C> Clone for AdaptiveLimitService<S, C> {
    /// A clone never copies a reservation.
    fn clone(&self) -> Self {
        Self::new(self.inner.clone(), Arc::clone(&self.shared))
    }
}

impl<S: fmt::Debug, C> fmt::Debug for AdaptiveLimitService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reservation = match self.reservation {
            Reservation::None => "none",
            Reservation::Held(_) => "held",
            Reservation::Full => "full",
        };
        f.debug_struct("AdaptiveLimitService")
            .field("inner", &self.inner)
            .field("limit", &**self.shared)
            .field("reservation", &reservation)
            .finish()
    }
}

impl<S, C, Req> Service<Req> for AdaptiveLimitService<S, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if !matches!(self.reservation, Reservation::Held(_)) {
            match state::try_acquire(&self.shared) {
                Some(in_flight) => {
                    self.reservation = Reservation::Held(Permit::new(&self.shared, in_flight));
                }
                None => {
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
            Reservation::Held(permit) => ResponseFuture::running(self.inner.call(req), permit),
            Reservation::Full => {
                let shared = &self.shared;
                shared.slots.rejected();
                shared.telemetry.rejected(shared.limit());
                ResponseFuture::rejected(
                    Rejected::new(RejectKind::Overloaded, Arc::clone(&shared.name))
                        .with_retry_after(shared.retry_after),
                )
            }
            Reservation::None => panic!(
                "AdaptiveLimitService::call without a successful poll_ready \
                 (tower's Service contract)"
            ),
        }
    }
}
