//! [`QueueService`].

use super::{
    criticality::CriticalityOf,
    future::ResponseFuture,
    limit::{QueueLimit, QueueLimitFor},
    state::{self, Waitlist},
};
use palisade_core::BoxError;
use palisade_core::lane::Lanes;
use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};
use tower_service::Service;

/// The service made by [`QueueLayer`](super::QueueLayer).
///
/// `poll_ready` takes a free slot of the limit if nobody is waiting, then
/// waits for the inner service's readiness (a request without a free slot
/// may queue, and runs on the ready service once admitted). `call` reads
/// the request's criticality; with a slot it calls the inner service at
/// once, without one it moves the ready inner service into the response
/// future (leaving a clone here, to be polled ready for the next request)
/// and the request waits there for a slot. Only queued requests pay for the
/// clone.
pub struct QueueService<S, L: QueueLimit, K> {
    inner: S,
    waitlist: Arc<Lanes<Waitlist<L>>>,
    criticality: Arc<K>,
    reservation: Reservation<L::Permit>,
}

/// What `poll_ready` decided for the next `call`.
enum Reservation<P> {
    /// `poll_ready` has not been called since the last `call`.
    None,
    /// A free slot, taken for the next request.
    Held(P),
    /// No free slot (or others waiting): the next request queues.
    Wait,
}

impl<S, L: QueueLimit, K> QueueService<S, L, K> {
    pub(crate) fn new(inner: S, waitlist: Arc<Lanes<Waitlist<L>>>, criticality: Arc<K>) -> Self {
        Self {
            inner,
            waitlist,
            criticality,
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

impl<S: Clone, L: QueueLimit, K> Clone for QueueService<S, L, K> {
    /// A clone never copies a reservation.
    fn clone(&self) -> Self {
        Self::new(
            self.inner.clone(),
            Arc::clone(&self.waitlist),
            Arc::clone(&self.criticality),
        )
    }
}

impl<S: fmt::Debug, L: QueueLimit, K> fmt::Debug for QueueService<S, L, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reservation = match self.reservation {
            Reservation::None => "none",
            Reservation::Held(_) => "held",
            Reservation::Wait => "wait",
        };
        f.debug_struct("QueueService")
            .field("inner", &self.inner)
            .field("queue", &**self.waitlist)
            .field("reservation", &reservation)
            .finish()
    }
}

impl<S, L, K, Req> Service<Req> for QueueService<S, L, K>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    L: QueueLimitFor<S::Response, S::Error>,
    K: CriticalityOf<Req>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, S, Req, L>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if !matches!(self.reservation, Reservation::Held(_)) {
            // Waiters go first: take a free slot only when nobody waits.
            self.reservation = match self.waitlist.has_waiters() {
                false => match self.waitlist.limit.try_acquire() {
                    Some(permit) => Reservation::Held(permit),
                    None => Reservation::Wait,
                },
                true => Reservation::Wait,
            };
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
        let criticality = self.criticality.criticality(&req);
        match std::mem::replace(&mut self.reservation, Reservation::None) {
            Reservation::Held(permit) => {
                match state::admit_now(&self.waitlist, permit, criticality) {
                    Ok(admitted) => return ResponseFuture::running(self.inner.call(req), admitted),
                    // Not critical and the share left to others is used up:
                    // the slot goes back and the request queues.
                    Err(permit) => drop(permit),
                }
            }
            Reservation::Wait => {}
            Reservation::None => panic!(
                "QueueService::call without a successful poll_ready \
                 (tower's Service contract)"
            ),
        }
        // The ready service goes with the request; a clone stays here and
        // is polled ready before the next call.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::queued(ready, req, criticality, Arc::clone(&self.waitlist))
    }
}
