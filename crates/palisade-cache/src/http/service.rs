//! [`HttpCacheLayer`] and [`HttpCacheService`].

use std::{
    any::Any,
    fmt,
    sync::{Arc, Mutex, OnceLock, PoisonError},
    task::{Context, Poll},
    time::SystemTime,
};

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body::Body;
use palisade_core::BoxError;
use tokio::{sync::oneshot, time::Instant};
use tower_layer::Layer;
use tower_service::Service;

use super::{
    CacheBody, HttpState, HttpValue,
    future::HttpResponseFuture,
    key::{base_key, variant_key, variant_suffix},
    lead::{Ctx, Guard, add_validators, answer, lead_async, prepare, respond},
    policy::{Defaults, RequestMode, Scan, scan, x_cache},
};
use crate::{
    l2::L2Op,
    leader::LeadGuard,
    entry::{Freshness, SharedEntry},
    flight::{Join, Phase},
    l1::poll_now,
    telemetry::Event,
    waiter::Waiter,
    worker::Worker,
};

/// Wraps HTTP services with an [`HttpCache`](super::HttpCache); from
/// [`HttpCache::layer`](super::HttpCache::layer). Every service it makes
/// shares the one cache.
#[derive(Clone)]
pub struct HttpCacheLayer {
    state: Arc<HttpState>,
    defaults: Arc<Defaults>,
}

impl fmt::Debug for HttpCacheLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpCacheLayer")
            .field("cache", &self.state.name)
            .finish_non_exhaustive()
    }
}

impl HttpCacheLayer {
    pub(super) fn new(state: Arc<HttpState>, defaults: Arc<Defaults>) -> Self {
        Self { state, defaults }
    }
}

impl<S: Clone> Layer<S> for HttpCacheLayer {
    type Service = HttpCacheService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpCacheService {
            background: Arc::new(Background {
                spare: Mutex::new(Some(inner.clone())),
                worker: OnceLock::new(),
            }),
            inner,
            state: Arc::clone(&self.state),
            defaults: Arc::clone(&self.defaults),
        }
    }
}

/// A reply channel for a call made in the background on a request's behalf.
pub(crate) type Reply<B, E> = oneshot::Sender<Result<Response<CacheBody<B>>, E>>;
/// The receiving end of a [`Reply`].
pub(crate) type ReplyRx<B, E> = oneshot::Receiver<Result<Response<CacheBody<B>>, E>>;
pub(crate) type Extra<B, E> = (Ctx, Option<Reply<B, E>>);
pub(crate) type HttpWorker<S, ReqB, ResB> =
    Worker<S, Request<ReqB>, Bytes, HttpValue, Extra<ResB, <S as Service<Request<ReqB>>>::Error>>;

/// The inner service's one background clone, and the worker driving it
/// (typed by the request body, known only in `call`).
pub(crate) struct Background<S> {
    spare: Mutex<Option<S>>,
    worker: OnceLock<Box<dyn Any + Send + Sync>>,
}

impl<S> fmt::Debug for Background<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Background")
            .field("started", &self.worker.get().is_some())
            .finish()
    }
}

impl<S> Background<S> {
    /// Makes `req`'s call on the background service; its response comes
    /// back on the returned channel.
    pub(crate) fn submit<ReqB, ResB>(
        &self,
        mut req: Request<ReqB>,
        guard: Option<Guard>,
        ctx: Ctx,
    ) -> Option<ReplyRx<ResB, S::Error>>
    where
        S: Service<Request<ReqB>, Response = Response<ResB>> + Send + 'static,
        S::Error: Into<BoxError> + Send + 'static,
        S::Future: Send + 'static,
        ReqB: Send + 'static,
        ResB: Body<Data = Bytes> + Send + 'static,
        ResB::Error: Into<BoxError>,
    {
        let worker = self.worker.get_or_init(|| {
            let spare = self
                .spare
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            match spare {
                Some(svc) => Box::new(HttpWorker::<S, ReqB, ResB>::new(
                    svc,
                    |fut, guard, (ctx, reply)| {
                        Box::pin(async move {
                            let out = lead_async(ctx, guard, fut).await;
                            if let Some(reply) = reply {
                                let _ = reply.send(out);
                            }
                        })
                    },
                )),
                None => Box::new(()),
            }
        });
        let Some(worker) = worker.downcast_ref::<HttpWorker<S, ReqB, ResB>>() else {
            if let Some(guard) = guard {
                guard.finish_phase(Phase::Pass);
            }
            return None;
        };
        add_validators(
            req.headers_mut(),
            guard.as_ref().and_then(|g| g.stale.as_ref()),
        );
        let (tx, rx) = oneshot::channel();
        worker.submit(req, guard, (ctx, Some(tx))).ok().map(|()| rx)
    }
}

/// A service answering from an [`HttpCache`](super::HttpCache); made by
/// [`HttpCacheLayer`]. See [`HttpCache`](super::HttpCache) for the rules.
///
/// `poll_ready` waits for the inner service (a miss needs it). The inner
/// service is cloned once, when the layer wraps it, for calls no request can
/// make itself (a take-over after a cancelled leader, a call after an L2
/// miss, an own call when a coalesced response could not be shared).
pub struct HttpCacheService<S> {
    inner: S,
    state: Arc<HttpState>,
    defaults: Arc<Defaults>,
    background: Arc<Background<S>>,
}

impl<S: Clone> Clone for HttpCacheService<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            state: Arc::clone(&self.state),
            defaults: Arc::clone(&self.defaults),
            background: Arc::clone(&self.background),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for HttpCacheService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpCacheService")
            .field("inner", &self.inner)
            .field("cache", &self.state.name)
            .finish_non_exhaustive()
    }
}

impl<S> HttpCacheService<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// An L1 lookup: the key to coalesce on and what was found there.
enum Found {
    Fresh(Bytes, SharedEntry<HttpValue>),
    Stale(Bytes, SharedEntry<HttpValue>),
    Miss(Bytes, Option<SharedEntry<HttpValue>>),
}

impl Found {
    /// For a request with `Authorization`: entries that may not answer it
    /// (RFC 9111 §3.5) count as absent, also for validation and errors.
    fn authorized(self) -> Self {
        let ok = |e: &SharedEntry<HttpValue>| match &e.value {
            HttpValue::Response(s) => s.authorized_ok,
            HttpValue::Vary(_) => true,
        };
        match self {
            Self::Fresh(k, e) | Self::Stale(k, e) | Self::Miss(k, Some(e)) if !ok(&e) => {
                Self::Miss(k, None)
            }
            other => other,
        }
    }
}

/// An L2 lookup in progress: the key an entry was found under, and it.
pub(crate) type HttpL2Lookup = std::pin::Pin<
    Box<dyn std::future::Future<Output = Option<(Bytes, SharedEntry<HttpValue>)>> + Send>,
>;

impl<S, ReqB, ResB> Service<Request<ReqB>> for HttpCacheService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
    S::Future: Send + 'static,
    ReqB: Send + 'static,
    ResB: Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    type Response = Response<CacheBody<ResB>>;
    type Error = S::Error;
    type Future = HttpResponseFuture<S, ReqB, ResB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        let state = &self.state;
        let scan = scan(req.method(), req.headers(), &self.defaults);
        let mode = scan.mode;
        let base = match (mode, base_key(&req)) {
            (RequestMode::Invalidate, base) => {
                state.recorder.record(Event::Bypass);
                let target = base.map(|key| Target::of(&req, key));
                let fut = self.inner.call(req);
                return HttpResponseFuture::invalidate(fut, Arc::clone(state), target);
            }
            (RequestMode::Bypass, _) | (_, None) => {
                state.recorder.record(Event::Bypass);
                return HttpResponseFuture::bypass(self.inner.call(req));
            }
            (_, Some(base)) => base,
        };
        let head = req.method() == Method::HEAD;
        let now = Instant::now();
        let mut found = self.lookup(&base, req.headers(), now);
        if scan.authorized {
            found = found.authorized();
        }
        let (key, stale) = match (found, mode) {
            (Found::Fresh(key, entry), RequestMode::Normal) => {
                if let HttpValue::Response(stored) = &entry.value {
                    state.recorder.record(Event::Hit);
                    let age = Some(entry.age(now));
                    let resp = if scan.conditional {
                        answer(stored, head, x_cache::HIT, age, req.headers())
                    } else {
                        respond(stored, head, x_cache::HIT, age)
                    };
                    return HttpResponseFuture::ready(resp);
                }
                (key, None)
            }
            (Found::Stale(key, entry), RequestMode::Normal) => {
                if let HttpValue::Response(stored) = &entry.value {
                    state.recorder.record(Event::Stale);
                    let age = Some(entry.age(now));
                    let resp = answer(stored, head, x_cache::STALE, age, req.headers());
                    self.refresh(key, base, scan, req, entry);
                    return HttpResponseFuture::ready(resp);
                }
                (key, None)
            }
            (Found::Fresh(key, entry) | Found::Stale(key, entry), _) => (key, Some(entry)),
            (Found::Miss(key, stale), _) => (key, stale),
        };
        let ctx = Ctx {
            state: Arc::clone(state),
            defaults: Arc::clone(&self.defaults),
            base,
            req_headers: req.headers().clone(),
            scan,
            request_time: SystemTime::now(),
            head,
        };
        if head {
            *req.method_mut() = Method::GET;
        }
        prepare(&mut req, None);
        match state.flights.join(&key) {
            Join::Wait(flight, slot) => {
                state.recorder.record(Event::Coalesced);
                let waiter = Waiter::new(Arc::clone(state), key, flight, slot, stale);
                HttpResponseFuture::wait(waiter, req, ctx, Arc::clone(&self.background))
            }
            Join::Lead(flight) => {
                let mut guard = LeadGuard::new(Arc::clone(state), key, flight, stale, false);
                // A flight for this URL may have ended (its response now in
                // L1) between the lookup above and the join: look once more.
                if mode == RequestMode::Normal
                    && let Found::Fresh(_, entry) = self.lookup(&ctx.base, &ctx.req_headers, now)
                    && let HttpValue::Response(stored) = &entry.value
                    && (!scan.authorized || stored.authorized_ok)
                {
                    state.recorder.record(Event::Hit);
                    let age = Some(entry.age(now));
                    let resp = answer(stored, head, x_cache::HIT, age, &ctx.req_headers);
                    guard.found_in_l1(&entry);
                    return HttpResponseFuture::ready(resp);
                }
                if mode == RequestMode::Normal && state.l2_if_available(L2Op::Get).is_some() {
                    let mut lookup = l2_lookup(&ctx);
                    match poll_now(lookup.as_mut()) {
                        Some(found) => match fill_from_l2(&ctx, guard, found) {
                            Ok(resp) => return HttpResponseFuture::ready(resp),
                            Err(g) => guard = g,
                        },
                        None => {
                            state.recorder.record(Event::Miss);
                            return HttpResponseFuture::l2(
                                lookup,
                                req,
                                guard,
                                ctx,
                                Arc::clone(&self.background),
                            );
                        }
                    }
                }
                state.recorder.record(Event::Miss);
                add_validators(req.headers_mut(), guard.stale.as_ref());
                HttpResponseFuture::lead(self.inner.call(req), guard, ctx)
            }
        }
    }
}

impl<S> HttpCacheService<S> {
    /// Looks the request up in L1, through the URL's `Vary` marker if any.
    fn lookup(&self, base: &Bytes, headers: &http::HeaderMap, now: Instant) -> Found {
        let l1 = &self.state.l1;
        let Some(mut entry) = l1.get_now(base) else {
            return Found::Miss(base.clone(), None);
        };
        let mut key = base.clone();
        if let HttpValue::Vary(names) = &entry.value {
            key = variant_key(base, &variant_suffix(names, headers));
            match l1.get_now(&key) {
                Some(e) => entry = e,
                None => return Found::Miss(key, None),
            }
        }
        match entry.freshness(now) {
            Freshness::Fresh => Found::Fresh(key, entry),
            Freshness::StaleRevalidate => Found::Stale(key, entry),
            Freshness::StaleIfError => Found::Miss(key, Some(entry)),
            Freshness::Expired => {
                l1.remove_if_same(&key, &entry);
                Found::Miss(key, None)
            }
        }
    }
}

impl<S> HttpCacheService<S> {
    /// Starts the one background refresh of `key` unless one runs already;
    /// a stored response with validators is validated (RFC 5861 §3).
    fn refresh<ReqB, ResB>(
        &mut self,
        key: Bytes,
        base: Bytes,
        scan: Scan,
        mut req: Request<ReqB>,
        entry: SharedEntry<HttpValue>,
    ) where
        S: Service<Request<ReqB>, Response = Response<ResB>> + Send + 'static,
        S::Error: Into<BoxError> + Send + 'static,
        S::Future: Send + 'static,
        ResB: Body<Data = Bytes> + Send + 'static,
        ResB::Error: Into<BoxError>,
    {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let state = &self.state;
        let Some(flight) = state.flights.try_lead(&key) else {
            return;
        };
        state.recorder.record(Event::Refresh);
        let ctx = Ctx {
            state: Arc::clone(state),
            defaults: Arc::clone(&self.defaults),
            base,
            req_headers: req.headers().clone(),
            scan,
            request_time: SystemTime::now(),
            head: false,
        };
        *req.method_mut() = Method::GET;
        prepare(&mut req, Some(&entry));
        let guard = LeadGuard::new(Arc::clone(state), key, flight, Some(entry), true);
        let fut = self.inner.call(req);
        handle.spawn(async move {
            let _ = lead_async(ctx, Some(guard), fut).await;
        });
    }
}

/// Looks the request up in the L2 (through the URL's `Vary` marker).
fn l2_lookup(ctx: &Ctx) -> HttpL2Lookup {
    let state = Arc::clone(&ctx.state);
    let base = ctx.base.clone();
    let headers = ctx.req_headers.clone();
    Box::pin(async move {
        let l2 = state.l2.as_ref()?;
        let entry = l2.store.get(&(l2.encode_key)(&base)?).await?;
        let now = Instant::now();
        let entry = state.entry_from_l2(entry, now)?;
        let HttpValue::Vary(names) = &entry.value else {
            return Some((base, entry));
        };
        let key = variant_key(&base, &variant_suffix(names, &headers));
        state.l1.insert(base, entry.clone());
        let found = l2.store.get(&(l2.encode_key)(&key)?).await?;
        let found = state.entry_from_l2(found, now)?;
        Some((key, found))
    })
}

/// Answers from a fresh L2 entry (filling L1 and the waiters), or gives the
/// lead back (with a better stale fallback if the L2 had one).
pub(crate) fn fill_from_l2<B>(
    ctx: &Ctx,
    mut guard: Guard,
    found: Option<(Bytes, SharedEntry<HttpValue>)>,
) -> Result<Response<CacheBody<B>>, Guard> {
    let Some((key, entry)) = found else {
        return Err(guard);
    };
    let HttpValue::Response(stored) = &entry.value else {
        return Err(guard);
    };
    let now = Instant::now();
    if entry.freshness(now) != Freshness::Fresh {
        if guard.stale.is_none() && (!ctx.scan.authorized || stored.authorized_ok) {
            guard.stale = Some(entry);
        }
        return Err(guard);
    }
    if ctx.scan.authorized && !stored.authorized_ok {
        // Not for this request (RFC 9111 §3.5); L1 keeps it for the others.
        ctx.state.l1.insert(key, entry);
        return Err(guard);
    }
    let pending = ctx.state.l1.insert_now(key, entry.clone());
    ctx.state.recorder.record(Event::Hit);
    let age = Some(entry.age(now));
    let resp = answer(stored, ctx.head, x_cache::HIT, age, &ctx.req_headers);
    guard.finish_stored(entry.value.clone(), pending.into_iter().collect());
    Ok(resp)
}

/// What an unsafe request invalidates when it succeeds (RFC 9111 §4.4): its
/// target URI, and the same-origin `Location` and `Content-Location`.
#[derive(Debug)]
pub(crate) struct Target {
    /// The base key of the target URI.
    key: Bytes,
    /// Its authority (the key's prefix), to resolve the response's URIs.
    authority_len: usize,
    /// The target's path, to resolve relative references.
    path: Box<str>,
}

impl Target {
    fn of<B>(req: &Request<B>, key: Bytes) -> Self {
        let pq_len = req.uri().path_and_query().map_or(1, |pq| pq.as_str().len());
        Self {
            authority_len: key.len().saturating_sub(pq_len),
            key,
            path: req.uri().path().into(),
        }
    }

    /// The keys a successful response to the request invalidates.
    pub(crate) fn keys(&self, headers: &http::HeaderMap) -> Vec<Bytes> {
        let mut keys = vec![self.key.clone()];
        let authority = &self.key[..self.authority_len];
        for name in [http::header::LOCATION, http::header::CONTENT_LOCATION] {
            let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) else {
                continue;
            };
            if let Some(key) = self.resolve(authority, value) {
                keys.push(key);
            }
        }
        keys
    }

    /// The base key of a URI reference, if it is on the same origin.
    fn resolve(&self, authority: &[u8], reference: &str) -> Option<Bytes> {
        let reference = reference.split('#').next()?.trim();
        let uri: http::Uri = reference.parse().ok()?;
        let pq = if let Some(a) = uri.authority() {
            // Absolute: same origin only (the scheme is the request's).
            if !a.as_str().as_bytes().eq_ignore_ascii_case(authority) {
                return None;
            }
            uri.path_and_query()
                .map_or("/", |pq| pq.as_str())
                .to_owned()
        } else if reference.starts_with('/') {
            reference.to_owned()
        } else if reference.is_empty() {
            return None;
        } else {
            // Relative to the target's directory.
            let dir = &self.path[..=self.path.rfind('/').unwrap_or(0)];
            let dir = if dir.is_empty() { "/" } else { dir };
            format!("{dir}{reference}")
        };
        let mut key = Vec::with_capacity(authority.len() + pq.len());
        key.extend_from_slice(authority);
        key.extend_from_slice(pq.as_bytes());
        Some(key.into())
    }
}

/// Drops the stored responses for `keys` here now and, with an L2, in the
/// shared tier and every replica's L1 (the purge path) in the background.
pub(crate) fn invalidate(state: &Arc<HttpState>, keys: Vec<Bytes>) {
    for key in &keys {
        state.l1.remove_now(key);
    }
    if state.l2.is_some()
        && let Ok(handle) = tokio::runtime::Handle::try_current()
    {
        let state = Arc::clone(state);
        handle.spawn(async move {
            for key in keys {
                state.invalidate(&key).await;
            }
        });
    }
}
