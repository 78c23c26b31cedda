//! [`KeyedCircuitBreakerService`].

use super::KeyedCircuitBreaker;
use crate::{future::ResponseFuture, permit::Guard};
use palisade_core::{BoxError, Classify};
use std::{
    fmt,
    hash::Hash,
    marker::PhantomData,
    task::{Context, Poll},
};
use tower_service::Service;

/// A service behind one breaker per request key.
pub struct KeyedCircuitBreakerService<S, K, F, C> {
    inner: S,
    keyed: KeyedCircuitBreaker<K, F, C>,
    _req: PhantomData<fn() -> K>,
}

impl<S, K, F, C> KeyedCircuitBreakerService<S, K, F, C> {
    /// Puts `inner` behind `keyed` (the same as `keyed.layer().layer(inner)`).
    pub fn new(inner: S, keyed: KeyedCircuitBreaker<K, F, C>) -> Self {
        Self {
            inner,
            keyed,
            _req: PhantomData,
        }
    }

    /// The keyed breaker.
    pub fn keyed(&self) -> &KeyedCircuitBreaker<K, F, C> {
        &self.keyed
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
}

impl<S: Clone, K, F, C> Clone for KeyedCircuitBreakerService<S, K, F, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            keyed: self.keyed.clone(),
            _req: PhantomData,
        }
    }
}

impl<S: fmt::Debug, K, F, C> fmt::Debug for KeyedCircuitBreakerService<S, K, F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreakerService")
            .field("inner", &self.inner)
            .field("keyed", &self.keyed)
            .finish()
    }
}

impl<S, K, F, C, Req> Service<Req> for KeyedCircuitBreakerService<S, K, F, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    F: Fn(&Req) -> K,
    K: Hash + Eq + Clone + fmt::Display + Send + Sync + 'static,
    C: Classify<S::Response, S::Error> + Clone + Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let breakers = self.keyed.breakers();
        let key = (breakers.key)(&req);
        let admission = breakers.with_breaker(key, |breaker| {
            breaker
                .machine()
                .acquire()
                .map(|ticket| Guard::new(breaker.lane(), ticket))
                .map_err(|refusal| breaker.machine().rejected(refusal))
        });
        match admission {
            Ok(mut guard) => {
                guard.start();
                ResponseFuture::called(self.inner.call(req), guard)
            }
            Err(rejected) => ResponseFuture::rejected(rejected),
        }
    }
}
