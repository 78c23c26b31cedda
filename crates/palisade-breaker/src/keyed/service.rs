//! [`KeyedCircuitBreakerService`].

use super::KeyedCircuitBreaker;
#[cfg(feature = "grpc")]
use crate::{body::GrpcBody, verdict::AtEndOfStream};
use crate::{future::ResponseFuture, permit::Guard, verdict::AtResponse};
#[cfg(feature = "grpc")]
use palisade_core::grpc::GrpcErrors;
use palisade_core::{BoxError, Classify};
use std::{
    fmt,
    hash::Hash,
    marker::PhantomData,
    task::{Context, Poll},
};
use tower_service::Service;

/// A service behind one breaker per request key.
pub struct KeyedCircuitBreakerService<S, K, F, C, V = AtResponse> {
    inner: S,
    keyed: KeyedCircuitBreaker<K, F, C, V>,
    _req: PhantomData<fn() -> K>,
}

impl<S, K, F, C, V> KeyedCircuitBreakerService<S, K, F, C, V> {
    /// Puts `inner` behind `keyed` (the same as `keyed.layer().layer(inner)`).
    pub fn new(inner: S, keyed: KeyedCircuitBreaker<K, F, C, V>) -> Self {
        Self {
            inner,
            keyed,
            _req: PhantomData,
        }
    }

    /// The keyed breaker.
    pub fn keyed(&self) -> &KeyedCircuitBreaker<K, F, C, V> {
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

impl<S: Clone, K, F, C, V> Clone for KeyedCircuitBreakerService<S, K, F, C, V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            keyed: self.keyed.clone(),
            _req: PhantomData,
        }
    }
}

impl<S: fmt::Debug, K, F, C, V> fmt::Debug for KeyedCircuitBreakerService<S, K, F, C, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreakerService")
            .field("inner", &self.inner)
            .field("keyed", &self.keyed)
            .finish()
    }
}

impl<S, K, F, C, V> KeyedCircuitBreakerService<S, K, F, C, V> {
    /// `call` of both `Service` impls below.
    #[inline]
    fn call_admitted<Req>(&mut self, req: Req) -> ResponseFuture<S::Future, C, V>
    where
        S: Service<Req>,
        F: Fn(&Req) -> K,
        K: Hash + Eq + Clone + fmt::Display + Send + Sync + 'static,
        C: Clone + Send + Sync + 'static,
    {
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

impl<S, K, F, C, Req> Service<Req> for KeyedCircuitBreakerService<S, K, F, C, AtResponse>
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
        self.call_admitted(req)
    }
}

/// A keyed gRPC breaker: the response body is wrapped so that a status sent
/// in trailers is counted when the body ends (see
/// [`builder_for_grpc`](crate::CircuitBreaker::builder_for_grpc)).
#[cfg(feature = "grpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
impl<S, K, F, B, Req> Service<Req>
    for KeyedCircuitBreakerService<S, K, F, GrpcErrors, AtEndOfStream>
where
    S: Service<Req, Response = http::Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body,
    F: Fn(&Req) -> K,
    K: Hash + Eq + Clone + fmt::Display + Send + Sync + 'static,
{
    type Response = http::Response<GrpcBody<B>>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, GrpcErrors, AtEndOfStream>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        self.call_admitted(req)
    }
}
