use super::{
    Unkeyed,
    answer::{AsError, AsHttp, InnerService, RequestBound},
    future::ResponseFuture,
    state::State,
};
use http::{Request, Response};
use palisade_core::BoxError;
use std::{
    fmt,
    hash::Hash,
    marker::PhantomData,
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
/// its key's bucket, or refuses at once without calling the inner service:
/// with a rate-limit [`Rejected`](palisade_core::Rejected) error
/// ([`AsError`], the default) or a `429` response ([`AsHttp`]).
pub struct RateLimitService<S, F, K: Hash + Eq + Clone, A = AsError> {
    inner: S,
    state: Arc<State<K>>,
    key: F,
    answer: PhantomData<fn() -> A>,
}

impl<S, F, K: Hash + Eq + Clone, A> RateLimitService<S, F, K, A> {
    pub(crate) fn new(inner: S, state: Arc<State<K>>, key: F) -> Self {
        Self {
            inner,
            state,
            key,
            answer: PhantomData,
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

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, F: Clone, K: Hash + Eq + Clone, A> Clone for RateLimitService<S, F, K, A> {
    fn clone(&self) -> Self {
        Self::new(
            self.inner.clone(),
            Arc::clone(&self.state),
            self.key.clone(),
        )
    }
}

impl<S: fmt::Debug, F, K: Hash + Eq + Clone, A> fmt::Debug for RateLimitService<S, F, K, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitService")
            .field("inner", &self.inner)
            .field("name", &self.state.name)
            .finish_non_exhaustive()
    }
}

impl<S, F, K: Hash + Eq + Clone + Send + Sync + 'static, A> RateLimitService<S, F, K, A> {
    /// Takes the request's share of its bucket and calls the inner service,
    /// or refuses. A cluster-wide limit whose Redis is available asks it
    /// first (moving the ready inner service into the future); otherwise the
    /// local limiter decides at once.
    #[inline]
    fn start<Req>(&mut self, req: Req) -> ResponseFuture<S::Future, A>
    where
        S: InnerService<Req>,
        F: KeyFn<Req, Key = K>,
        Req: RequestBound,
    {
        let key = self.key.key(&req);
        #[cfg(feature = "redis")]
        if let Some(cluster) = &self.state.cluster {
            let Some(pending) = cluster.begin(&key) else {
                // Redis is skipped: the local limiter decides, below.
                self.state.decided_locally();
                return self.local(&key, req);
            };
            let clone = self.inner.clone();
            let mut inner = std::mem::replace(&mut self.inner, clone);
            let state = Arc::clone(&self.state);
            return ResponseFuture::cluster(Box::pin(async move {
                state.check_cluster(pending, &key).await?;
                Ok(inner.call(req))
            }));
        }
        self.local(&key, req)
    }

    /// The local limiter's decision: call the inner service, or refuse.
    #[inline]
    fn local<Req>(&mut self, key: &K, req: Req) -> ResponseFuture<S::Future, A>
    where
        S: InnerService<Req>,
    {
        match self.state.check(key) {
            Ok(()) => ResponseFuture::inner(self.inner.call(req)),
            Err(rejected) => ResponseFuture::rejected(rejected),
        }
    }
}

impl<S, F, K, Req> Service<Req> for RateLimitService<S, F, K, AsError>
where
    S: InnerService<Req>,
    S::Error: Into<BoxError>,
    F: KeyFn<Req, Key = K>,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    Req: RequestBound,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, AsError>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        self.start(req)
    }
}

impl<S, F, K, ReqB, ResB> Service<Request<ReqB>> for RateLimitService<S, F, K, AsHttp>
where
    S: InnerService<Request<ReqB>, Response = Response<ResB>>,
    ResB: From<&'static str>,
    F: KeyFn<Request<ReqB>, Key = K>,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    Request<ReqB>: RequestBound,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, AsHttp>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        self.start(req)
    }
}
