//! [`HttpCacheService`].

use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
    time::SystemTime,
};

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body::Body;
use palisade_core::BoxError;
use tokio::time::Instant;
use tower_service::Service;

use super::{
    CacheBody, HttpState, HttpValue,
    future::HttpResponseFuture,
    invalidate::Target,
    key::{KeyBuf, push_variant_suffix, write_base_key},
    l2::{fill_from_l2, l2_lookup},
    lead::{Ctx, add_validators, answer, lead_async, prepare, respond},
    policy::{Defaults, RequestMode, Scan, scan, x_cache},
};
use crate::{
    entry::{Freshness, SharedEntry},
    flight::Join,
    l1::poll_now,
    l2::L2Op,
    leader::LeadGuard,
    telemetry::Event,
    waiter::Waiter,
    worker::Background,
};

/// A service answering from an [`HttpCache`](super::HttpCache); made by
/// [`HttpCacheLayer`](super::HttpCacheLayer). See [`HttpCache`](super::HttpCache) for the rules.
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

impl<S: Clone> HttpCacheService<S> {
    pub(super) fn new(inner: S, state: Arc<HttpState>, defaults: Arc<Defaults>) -> Self {
        Self {
            background: Arc::new(Background::new(inner.clone())),
            inner,
            state,
            defaults,
        }
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

/// What an L1 lookup found (the key to coalesce on is left in the
/// [`KeyBuf`]).
enum Found {
    Fresh(SharedEntry<HttpValue>),
    Stale(SharedEntry<HttpValue>),
    Miss(Option<SharedEntry<HttpValue>>),
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
            Self::Fresh(e) | Self::Stale(e) | Self::Miss(Some(e)) if !ok(&e) => Self::Miss(None),
            other => other,
        }
    }
}

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
        // The key is built on the stack; it becomes `Bytes` only when this
        // request goes on to call (not on a hit).
        let mut key = KeyBuf::new();
        let keyed = write_base_key(&req, &mut key);
        match (mode, keyed) {
            (RequestMode::Invalidate, _) => {
                state.recorder.record(Event::Bypass);
                let target = keyed.then(|| Target::of(&req, key.to_bytes()));
                let fut = self.inner.call(req);
                return HttpResponseFuture::invalidate(fut, Arc::clone(state), target);
            }
            (RequestMode::Bypass, _) | (_, false) => {
                state.recorder.record(Event::Bypass);
                return HttpResponseFuture::bypass(self.inner.call(req));
            }
            _ => {}
        }
        let base_len = key.len();
        let head = req.method() == Method::HEAD;
        let now = Instant::now();
        let mut found = self.lookup(&mut key, req.headers(), now);
        if scan.authorized {
            found = found.authorized();
        }
        let stale = match (found, mode) {
            (Found::Fresh(entry), RequestMode::Normal) => {
                if let HttpValue::Response(stored) = &entry.value {
                    state.record_hit();
                    let age = Some(entry.age(now));
                    let resp = if scan.conditional {
                        answer(stored, head, x_cache::HIT, age, req.headers())
                    } else {
                        respond(stored, head, x_cache::HIT, age)
                    };
                    return HttpResponseFuture::ready(resp);
                }
                None
            }
            (Found::Stale(entry), RequestMode::Normal) => {
                if let HttpValue::Response(stored) = &entry.value {
                    state.recorder.record(Event::Stale);
                    let age = Some(entry.age(now));
                    let resp = answer(stored, head, x_cache::STALE, age, req.headers());
                    let key = key.to_bytes();
                    let base = key.slice(..base_len);
                    self.refresh(key, base, scan, req, entry);
                    return HttpResponseFuture::ready(resp);
                }
                None
            }
            (Found::Fresh(entry) | Found::Stale(entry), _) => Some(entry),
            (Found::Miss(stale), _) => stale,
        };
        let key = key.to_bytes();
        let base = key.slice(..base_len);
        let ctx = self.ctx(base, req.headers(), scan, head);
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
                    && let Found::Fresh(entry) =
                        self.lookup(&mut KeyBuf::from_slice(&ctx.base), &ctx.req_headers, now)
                    && let HttpValue::Response(stored) = &entry.value
                    && (!scan.authorized || stored.authorized_ok)
                {
                    state.record_hit();
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
    /// What a call made for this request needs besides its response.
    fn ctx(&self, base: Bytes, req_headers: &http::HeaderMap, scan: Scan, head: bool) -> Ctx {
        Ctx {
            state: Arc::clone(&self.state),
            defaults: Arc::clone(&self.defaults),
            base,
            req_headers: req_headers.clone(),
            scan,
            request_time: SystemTime::now(),
            head,
        }
    }

    /// Looks the request up in L1, through the URL's `Vary` marker if any:
    /// `key` holds the base key, and the variant's key after.
    fn lookup(&self, key: &mut KeyBuf, headers: &http::HeaderMap, now: Instant) -> Found {
        let l1 = &self.state.l1;
        let Some(mut entry) = l1.get_now(key.as_slice()) else {
            return Found::Miss(None);
        };
        if let HttpValue::Vary(names) = &entry.value {
            push_variant_suffix(key, names, headers);
            match l1.get_now(key.as_slice()) {
                Some(e) => entry = e,
                None => return Found::Miss(None),
            }
        }
        match entry.freshness(now) {
            Freshness::Fresh => Found::Fresh(entry),
            Freshness::StaleRevalidate => Found::Stale(entry),
            Freshness::StaleIfError => Found::Miss(Some(entry)),
            Freshness::Expired => {
                l1.remove_if_same(key.as_slice(), &entry);
                Found::Miss(None)
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
        let state = &self.state;
        let Some((handle, guard)) = LeadGuard::refresh(state, key, entry) else {
            return;
        };
        let ctx = self.ctx(base, req.headers(), scan, false);
        *req.method_mut() = Method::GET;
        prepare(&mut req, guard.stale.as_ref());
        let fut = self.inner.call(req);
        handle.spawn(async move {
            let _ = lead_async(ctx, Some(guard), fut).await;
        });
    }
}
