use super::{Unkeyed, future::ResponseFuture, state::State};
use palisade_core::BoxError;
use std::{
    fmt,
    hash::Hash,
    sync::Arc,
    task::{Context, Poll},
};
use tower_service::Service;

/// Maps a request to the key of its bucket. Implemented for [`Unkeyed`]
/// (one bucket) and for every `Fn(&Req) -> K` closure.
pub trait KeyFn<Req> {
    /// The key type.
    type Key;
    /// The key of `req`.
    fn key(&self, req: &Req) -> Self::Key;
}

impl<Req> KeyFn<Req> for Unkeyed {
    type Key = ();
    #[inline]
    fn key(&self, _req: &Req) {}
}

impl<Req, K, F> KeyFn<Req> for F
where
    F: Fn(&Req) -> K,
{
    type Key = K;
    #[inline]
    fn key(&self, req: &Req) -> K {
        self(req)
    }
}

/// The service made by a [`RateLimitLayer`](super::RateLimitLayer).
///
/// Readiness is the inner service's; each `call` takes one request from
/// its key's bucket, or fails at once with a rate-limit
/// [`Rejected`](palisade_core::Rejected) without calling the inner service.
pub struct RateLimitService<S, F, K: Hash + Eq + Clone> {
    inner: S,
    state: Arc<State<K>>,
    key: F,
}

impl<S, F, K: Hash + Eq + Clone> RateLimitService<S, F, K> {
    pub(crate) fn new(inner: S, state: Arc<State<K>>, key: F) -> Self {
        Self { inner, state, key }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, F: Clone, K: Hash + Eq + Clone> Clone for RateLimitService<S, F, K> {
    fn clone(&self) -> Self {
        Self::new(
            self.inner.clone(),
            Arc::clone(&self.state),
            self.key.clone(),
        )
    }
}

impl<S: fmt::Debug, F, K: Hash + Eq + Clone> fmt::Debug for RateLimitService<S, F, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitService")
            .field("inner", &self.inner)
            .field("name", &self.state.name)
            .finish_non_exhaustive()
    }
}

impl<S, F, K: Hash + Eq + Clone + Send + Sync + 'static> RateLimitService<S, F, K> {
    /// Takes `key`'s request from the local limiter (the only one without
    /// Redis) and calls the inner service, or refuses at once.
    #[inline]
    fn call_local<Req>(&mut self, key: &K, req: Req) -> ResponseFuture<S::Future>
    where
        S: Service<Req>,
    {
        match self.state.check(key) {
            Ok(()) => ResponseFuture::inner(self.inner.call(req)),
            Err(rejected) => ResponseFuture::rejected(rejected),
        }
    }
}

#[cfg(not(feature = "redis"))]
impl<S, F, K, Req> Service<Req> for RateLimitService<S, F, K>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    F: KeyFn<Req, Key = K>,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let key = self.key.key(&req);
        self.call_local(&key, req)
    }
}

/// With the `redis` feature the inner service must be `Clone + Send +
/// 'static` and the request `Send + 'static`: a cluster-wide check awaits
/// Redis before the inner service is called, so the ready service is moved
/// into the response future and a clone takes its place (tower's usual
/// pattern). A local limit never clones.
#[cfg(feature = "redis")]
impl<S, F, K, Req> Service<Req> for RateLimitService<S, F, K>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    F: KeyFn<Req, Key = K>,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    Req: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let key = self.key.key(&req);
        let Some(pending) = self.state.cluster.as_ref().and_then(|c| c.begin(&key)) else {
            return self.call_local(&key, req);
        };
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let state = Arc::clone(&self.state);
        ResponseFuture::cluster(Box::pin(async move {
            state.check_cluster(pending, &key).await?;
            Ok(inner.call(req))
        }))
    }
}
