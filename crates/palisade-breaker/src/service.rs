//! The tower service.

use crate::{CircuitBreaker, future::ResponseFuture, permit::Guard};
use palisade_core::{BoxError, Classify, Rejected};
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
/// returns the [`Rejected`] error (kind `CircuitOpen`) as a ready future.
/// When it admits, the admission is held until `call` (a clone of the service
/// never copies it) and the inner service's readiness is awaited. Every
/// finished call is classified and recorded; a response future dropped
/// before it finishes counts as ignored (and frees its probe slot).
///
/// With [`wait_while_open`](crate::Builder::wait_while_open), `poll_ready`
/// instead stays `Pending` while the breaker is open, until probing is
/// allowed.
pub struct CircuitBreakerService<S, C> {
    inner: S,
    breaker: CircuitBreaker<C>,
    reserved: Option<Result<Guard<C>, Rejected>>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<S, C> CircuitBreakerService<S, C> {
    /// Puts `inner` behind `breaker`.
    pub fn new(inner: S, breaker: CircuitBreaker<C>) -> Self {
        Self {
            inner,
            breaker,
            reserved: None,
            sleep: None,
        }
    }

    /// The breaker.
    pub fn breaker(&self) -> &CircuitBreaker<C> {
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

    fn admit(&self) -> Result<Guard<C>, Rejected> {
        let ticket = self.breaker.inner.core.acquire()?;
        Ok(Guard::new(self.breaker.inner.clone(), ticket))
    }
}

impl<S: Clone, C> Clone for CircuitBreakerService<S, C> {
    fn clone(&self) -> Self {
        // A clone never copies an admission.
        Self::new(self.inner.clone(), self.breaker.clone())
    }
}

impl<S: fmt::Debug, C> fmt::Debug for CircuitBreakerService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerService")
            .field("inner", &self.inner)
            .field("breaker", &self.breaker)
            .field("reserved", &self.reserved.as_ref().map(Result::is_ok))
            .finish()
    }
}

impl<S, C, Req> Service<Req> for CircuitBreakerService<S, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        loop {
            if self.reserved.is_some() {
                break;
            }
            match self.admit() {
                Ok(guard) => {
                    self.sleep = None;
                    self.reserved = Some(Ok(guard));
                }
                Err(rejected) => {
                    let core = &self.breaker.inner.core;
                    if core.config.wait_while_open
                        && let Some(until) = core.open_deadline()
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
                        // The wait is over: ask again.
                        continue;
                    }
                    self.reserved = Some(Err(rejected));
                }
            }
        }
        match &self.reserved {
            Some(Ok(_)) => match self.inner.poll_ready(cx) {
                Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
                Poll::Ready(Err(err)) => {
                    // The admission goes unused: dropping it counts as ignored.
                    self.reserved = None;
                    Poll::Ready(Err(err.into()))
                }
                Poll::Pending => Poll::Pending,
            },
            _ => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // Called without `poll_ready`: decide now rather than panic.
        let reserved = self.reserved.take().unwrap_or_else(|| self.admit());
        match reserved {
            Ok(mut guard) => {
                guard.start();
                ResponseFuture::called(self.inner.call(req), guard)
            }
            Err(rejected) => ResponseFuture::rejected(rejected),
        }
    }
}
