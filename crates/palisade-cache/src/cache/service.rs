//! [`CacheService`].

use std::{
    fmt,
    hash::Hash,
    sync::Arc,
    task::{Context, Poll},
};

use palisade_core::BoxError;
use tokio::time::Instant;
use tower_service::Service;

use super::future::ResponseFuture;
use crate::{
    core::{Core, L2Op, LeadGuard, Lookup},
    entry::{Freshness, SharedEntry},
    flight::Join,
    l1::poll_now,
    stats::Event,
    waiter::Waiter,
    worker::Worker,
};

/// A service answering from a [`Cache`](crate::Cache); made by [`CacheLayer`](super::CacheLayer).
///
/// - Fresh entry: returned at once, the inner service is not called.
/// - Stale entry within stale-while-revalidate: returned at once; one
///   background refresh per key runs, using this request.
/// - Otherwise the request joins the call in flight for its key, or makes it
///   (after a look in the L2, if any). Errors are not cached; within
///   stale-if-error the stale entry answers instead.
///
/// `poll_ready` waits for the inner service (a miss needs it). The inner
/// service is cloned once, when the layer wraps it, for the calls no request
/// can make itself (a take-over after a cancelled leader, a call after an L2
/// miss); `call` never clones it.
pub struct CacheService<S: Service<Req>, K, V, F, Req> {
    inner: S,
    core: Arc<Core<K, V>>,
    key: F,
    worker: Arc<Worker<S, Req, K, V>>,
}

impl<S, K, V, F, Req> Clone for CacheService<S, K, V, F, Req>
where
    S: Service<Req> + Clone,
    F: Clone,
{
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            core: Arc::clone(&self.core),
            key: self.key.clone(),
            worker: Arc::clone(&self.worker),
        }
    }
}

impl<S: Service<Req> + fmt::Debug, K, V, F, Req> fmt::Debug for CacheService<S, K, V, F, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheService")
            .field("inner", &self.inner)
            .field("cache", &self.core.name)
            .finish_non_exhaustive()
    }
}

impl<S, K, V, F, Req> CacheService<S, K, V, F, Req>
where
    S: Service<Req, Response = V> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    Req: Send + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub(super) fn new(inner: S, core: Arc<Core<K, V>>, key: F) -> Self {
        let worker = Arc::new(Worker::new(inner.clone(), |fut, guard, ()| {
            Box::pin(async move {
                let result = fut.await.map_err(Into::into);
                if let Some(guard) = guard {
                    let _ = guard.complete(result);
                }
            })
        }));
        Self {
            inner,
            core,
            key,
            worker,
        }
    }
}

impl<S: Service<Req>, K, V, F, Req> CacheService<S, K, V, F, Req> {
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

impl<S, K, V, F, Req> Service<Req> for CacheService<S, K, V, F, Req>
where
    S: Service<Req, Response = V> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    Req: Send + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    F: Fn(&Req) -> Option<K>,
{
    type Response = V;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req, K, V>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let core = &self.core;
        let Some(key) = (self.key)(&req) else {
            core.recorder.record(Event::Bypass);
            return ResponseFuture::bypass(self.inner.call(req));
        };
        let now = Instant::now();
        let stale = match core.lookup(&key, now) {
            Lookup::Fresh(entry) => {
                core.recorder.record(Event::Hit);
                return ResponseFuture::ready(Ok(entry.value.clone()));
            }
            Lookup::Stale(entry) => {
                core.recorder.record(Event::Stale);
                let value = entry.value.clone();
                self.refresh(key, req, entry);
                return ResponseFuture::ready(Ok(value));
            }
            Lookup::Miss(stale) => stale,
        };
        match core.flights.join(&key) {
            Join::Wait(flight, slot) => {
                core.recorder.record(Event::Coalesced);
                let waiter = Waiter::new(Arc::clone(core), key, flight, slot, stale);
                ResponseFuture::wait(waiter, req, Arc::clone(&self.worker))
            }
            Join::Lead(flight) => {
                let mut guard = LeadGuard::new(Arc::clone(core), key, flight, stale, false);
                if core.l2.is_some() {
                    match self.look_in_l2(&mut guard, now) {
                        L2First::Hit(entry) => {
                            core.recorder.record(Event::Hit);
                            return ResponseFuture::ready(Ok(guard.fill(entry)));
                        }
                        L2First::Pending(lookup) => {
                            core.recorder.record(Event::Miss);
                            return ResponseFuture::l2(
                                lookup,
                                req,
                                guard,
                                Arc::clone(&self.worker),
                            );
                        }
                        L2First::Miss => {}
                    }
                }
                core.recorder.record(Event::Miss);
                ResponseFuture::lead(self.inner.call(req), guard)
            }
        }
    }
}

/// An L2 lookup in progress (boxed: it is behind a network round trip).
pub(crate) type L2Lookup<V> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Option<SharedEntry<V>>> + Send>>;

enum L2First<V> {
    Hit(SharedEntry<V>),
    Miss,
    Pending(L2Lookup<V>),
}

impl<S, K, V, F, Req> CacheService<S, K, V, F, Req>
where
    S: Service<Req, Response = V> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    Req: Send + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Starts the one background refresh of `key` unless one runs already.
    fn refresh(&mut self, key: K, req: Req, entry: SharedEntry<V>) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let core = &self.core;
        let Some(flight) = core.flights.try_lead(&key) else {
            return;
        };
        core.recorder.record(Event::Refresh);
        let guard = LeadGuard::new(Arc::clone(core), key, flight, Some(entry), true);
        let fut = self.inner.call(req);
        handle.spawn(async move {
            let _ = guard.complete(fut.await.map_err(Into::into));
        });
    }

    /// Looks in the L2, answering at once when the store does (a hit in
    /// memory). A store that reports itself unavailable is not asked.
    fn look_in_l2(&self, guard: &mut LeadGuard<K, V>, now: Instant) -> L2First<V> {
        let core = Arc::clone(&self.core);
        let Some(l2) = core.l2_if_available(L2Op::Get) else {
            return L2First::Miss;
        };
        let Some(key) = (l2.encode_key)(&guard.key) else {
            return L2First::Miss;
        };
        let store = Arc::clone(&l2.store);
        let core2 = Arc::clone(&core);
        let mut lookup: L2Lookup<V> = Box::pin(async move {
            let entry = store.get(&key).await?;
            core2.entry_from_l2(entry, Instant::now())
        });
        match poll_now(lookup.as_mut()) {
            None => L2First::Pending(lookup),
            Some(found) => match classify_l2(found, now, guard) {
                Some(entry) => L2First::Hit(entry),
                None => L2First::Miss,
            },
        }
    }
}

/// A fresh L2 entry is a hit; a stale one only improves the stale fallback.
pub(crate) fn classify_l2<K, V>(
    found: Option<SharedEntry<V>>,
    now: Instant,
    guard: &mut LeadGuard<K, V>,
) -> Option<SharedEntry<V>> {
    let entry = found?;
    if entry.freshness(now) == Freshness::Fresh {
        return Some(entry);
    }
    let better = guard
        .stale
        .as_ref()
        .is_none_or(|s| s.stored_at < entry.stored_at);
    if better && entry.usable_on_error(now) {
        guard.stale = Some(entry);
    }
    None
}
