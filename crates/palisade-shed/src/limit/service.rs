//! [`ConcurrencyLimitService`].

use super::{Permit, ReleasePolicy, UntilResponse, future::ResponseFuture, permit, state::Shared};
use palisade_core::lane::Lanes;
use palisade_core::{BoxError, RejectKind, Rejected};
use std::{
    fmt,
    marker::PhantomData,
    sync::Arc,
    task::{Context, Poll},
};
use tower_service::Service;

/// The service made by [`ConcurrencyLimitLayer`](super::ConcurrencyLimitLayer).
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
    type Future = ResponseFuture<S::Future, P>;

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
            Reservation::Held(permit) => ResponseFuture::running(self.inner.call(req), permit),
            Reservation::Full => {
                let shared = &self.shared;
                shared.slots.rejected();
                shared
                    .telemetry
                    .rejected(&shared.name, shared.max_in_flight);
                ResponseFuture::rejected(
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
