//! The tower service.

#[cfg(feature = "grpc")]
use crate::{body::GrpcBody, verdict::AtEndOfStream};
use crate::{
    breaker::CircuitBreaker,
    future::ResponseFuture,
    lane::Lane,
    machine::{Refusal, TicketKind},
    permit::Guard,
    status::State,
    verdict::AtResponse,
};
#[cfg(feature = "grpc")]
use palisade_core::grpc::GrpcErrors;
use palisade_core::{BoxError, Classify};
use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};
use tokio::time::Sleep;
use tower_service::Service;

/// A service behind a circuit breaker.
///
/// `poll_ready` asks the breaker for admission first: when it refuses, the
/// service is ready at once without polling the inner service, and `call`
/// returns the [`Rejected`](palisade_core::Rejected) error (kind
/// `CircuitOpen`) as a ready future. When it admits, the inner service's
/// readiness is awaited; a half-open probe slot is held until `call` (a
/// clone of the service never copies it), while a closed breaker has
/// nothing to hold and `call` admits the call (one atomic load), so a
/// breaker that opens in between refuses it there. Every finished call is
/// classified and recorded; a response future dropped before it finishes
/// counts as ignored (and frees its probe slot).
///
/// With [`wait_while_open`](crate::CircuitBreakerBuilder::wait_while_open), `poll_ready`
/// instead stays `Pending` while the breaker is open, until probing is
/// allowed.
pub struct CircuitBreakerService<S, C, V = AtResponse> {
    inner: S,
    breaker: CircuitBreaker<C, V>,
    /// An admission taken by `poll_ready`, spent by `call`.
    reserved: Option<Guard<Lane<C>>>,
    /// A refusal decided by `poll_ready`, returned by `call`.
    rejected: Option<Refusal>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<S, C, V> CircuitBreakerService<S, C, V> {
    /// Puts `inner` behind `breaker`.
    pub fn new(inner: S, breaker: CircuitBreaker<C, V>) -> Self {
        Self {
            inner,
            breaker,
            reserved: None,
            rejected: None,
            sleep: None,
        }
    }

    /// The breaker.
    pub fn breaker(&self) -> &CircuitBreaker<C, V> {
        &self.breaker
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, consuming this one.
    pub fn into_inner(self) -> S {
        self.inner
    }

    #[inline]
    fn admit(&self) -> Result<Guard<Lane<C>>, Refusal> {
        let ticket = self.breaker.machine().acquire()?;
        Ok(Guard::new(self.breaker.lane(), ticket))
    }

    /// Asks for admission in `poll_ready`. Only a probe slot needs holding
    /// until `call`; other admissions (closed, metrics-only, disabled) hold
    /// nothing and are simply taken again in `call`.
    fn reserve(&mut self) -> Result<(), Refusal> {
        let ticket = self.breaker.machine().acquire()?;
        if ticket.kind() == TicketKind::Probe {
            self.reserved = Some(Guard::new(self.breaker.lane(), ticket));
        }
        Ok(())
    }

    /// `poll_ready` when the breaker is not plainly closed (or an earlier
    /// `poll_ready` decided): reserve a probe slot, or refuse.
    /// `Ready(true)`: go on to the inner service's readiness.
    #[cold]
    #[inline(never)]
    fn poll_admission(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        if self.reserved.is_some() {
            return Poll::Ready(true);
        }
        if self.rejected.is_some() {
            return Poll::Ready(false);
        }
        let mut rejected = match self.reserve() {
            Ok(()) => return Poll::Ready(true),
            Err(rejected) => rejected,
        };
        loop {
            let machine = self.breaker.machine();
            if machine.config.wait_while_open
                && let Some(until) = machine.open_deadline()
            {
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
                if sleep.deadline() != until {
                    sleep.as_mut().reset(until);
                }
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.sleep = None;
                // The wait is over: ask again.
                match self.reserve() {
                    Ok(()) => return Poll::Ready(true),
                    Err(again) => rejected = again,
                }
                continue;
            }
            self.rejected = Some(rejected);
            return Poll::Ready(false);
        }
    }

    #[cold]
    #[inline(never)]
    fn refused<F>(&self, refusal: Refusal) -> ResponseFuture<F, C, V> {
        ResponseFuture::rejected(self.breaker.machine().rejected(refusal))
    }

    /// `call` with a probe slot reserved or a refusal decided by
    /// `poll_ready`.
    #[cold]
    #[inline(never)]
    fn call_decided<Req>(&mut self, req: Req) -> ResponseFuture<S::Future, C, V>
    where
        S: Service<Req>,
    {
        if let Some(refusal) = self.rejected.take() {
            return ResponseFuture::rejected(self.breaker.machine().rejected(refusal));
        }
        match self.reserved.take().map_or_else(|| self.admit(), Ok) {
            Ok(mut guard) => {
                guard.start();
                ResponseFuture::called(self.inner.call(req), guard)
            }
            Err(refusal) => ResponseFuture::rejected(self.breaker.machine().rejected(refusal)),
        }
    }
}

impl<S: Clone, C, V> Clone for CircuitBreakerService<S, C, V> {
    fn clone(&self) -> Self {
        // A clone never copies an admission.
        Self::new(self.inner.clone(), self.breaker.clone())
    }
}

impl<S: fmt::Debug, C, V> fmt::Debug for CircuitBreakerService<S, C, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerService")
            .field("inner", &self.inner)
            .field("breaker", &self.breaker)
            .field("reserved", &self.reserved.is_some())
            .field("rejected", &self.rejected.is_some())
            .finish()
    }
}

impl<S, C, V> CircuitBreakerService<S, C, V> {
    /// `poll_ready` of every `Service` impl below.
    #[inline]
    fn poll_ready_admitted<Req>(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>>
    where
        S: Service<Req>,
        S::Error: Into<BoxError>,
    {
        // Closed, nothing decided yet: nothing to reserve (`call` admits).
        let plain = self.reserved.is_none()
            && self.rejected.is_none()
            && self.breaker.machine().state() == State::Closed;
        if !plain {
            match self.poll_admission(cx) {
                Poll::Ready(true) => {}
                Poll::Ready(false) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
        match self.inner.poll_ready(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(err)) => {
                // A reserved probe slot goes unused: dropping it frees it.
                self.reserved = None;
                Poll::Ready(Err(err.into()))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// `call` of every `Service` impl below.
    #[inline]
    fn call_admitted<Req>(&mut self, req: Req) -> ResponseFuture<S::Future, C, V>
    where
        S: Service<Req>,
    {
        if self.reserved.is_none() && self.rejected.is_none() {
            return match self.breaker.machine().acquire() {
                Ok(ticket) => {
                    // Built from values in registers, straight into the
                    // future: nothing is copied whole through memory.
                    let mut guard = Guard::new(self.breaker.lane(), ticket);
                    guard.start();
                    ResponseFuture::called(self.inner.call(req), guard)
                }
                Err(refusal) => self.refused(refusal),
            };
        }
        self.call_decided(req)
    }
}

impl<S, C, Req> Service<Req> for CircuitBreakerService<S, C, AtResponse>
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
        self.poll_ready_admitted::<Req>(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        self.call_admitted(req)
    }
}

/// A gRPC breaker ([`builder_for_grpc`](crate::CircuitBreaker::builder_for_grpc)):
/// the response body is wrapped so that a status sent in trailers is
/// counted when the body ends.
#[cfg(feature = "grpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
impl<S, B, Req> Service<Req> for CircuitBreakerService<S, GrpcErrors, AtEndOfStream>
where
    S: Service<Req, Response = http::Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body,
{
    type Response = http::Response<GrpcBody<B>>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, GrpcErrors, AtEndOfStream>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.poll_ready_admitted::<Req>(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        self.call_admitted(req)
    }
}
