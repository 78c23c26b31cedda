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
    l2::L2Op,
    leader::LeadGuard,
    state::{CacheState, Lookup},
    entry::{Freshness, SharedEntry},
    flight::Join,
    l1::poll_now,
    telemetry::Event,
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
    state: Arc<CacheState<K, V>>,
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
            state: Arc::clone(&self.state),
            key: self.key.clone(),
            worker: Arc::clone(&self.worker),
        }
    }
}

impl<S: Service<Req> + fmt::Debug, K, V, F, Req> fmt::Debug for CacheService<S, K, V, F, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheService")
            .field("inner", &self.inner)
            .field("cache", &self.state.name)
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
    pub(super) fn new(inner: S, state: Arc<CacheState<K, V>>, key: F) -> Self {
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
            state,
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
        let state = &self.state;
        let Some(key) = (self.key)(&req) else {
            state.recorder.record(Event::Bypass);
            return ResponseFuture::bypass(self.inner.call(req));
        };
        let now = Instant::now();
        let stale = match state.lookup(&key, now) {
            Lookup::Fresh(entry) => {
                state.recorder.record(Event::Hit);
                return ResponseFuture::ready(Ok(entry.value.clone()));
            }
            Lookup::Stale(entry) => {
                state.recorder.record(Event::Stale);
                let value = entry.value.clone();
                self.refresh(key, req, entry);
                return ResponseFuture::ready(Ok(value));
            }
            Lookup::Miss(stale) | Lookup::Busy(stale) => stale,
        };
        match state.flights.join(&key) {
            Join::Wait(flight, slot) => {
                state.recorder.record(Event::Coalesced);
                let waiter = Waiter::new(Arc::clone(state), key, flight, slot, stale);
                ResponseFuture::wait(waiter, req, Arc::clone(&self.worker))
            }
            Join::Lead(flight) => {
                let mut guard = LeadGuard::new(Arc::clone(state), key, flight, stale, false);
                // A flight for this key may have ended (its value now in L1)
                // between the lookup above and the join: look once more.
                let recheck = match state.l1.try_get_now(&guard.key) {
                    Some(Some(entry)) if entry.freshness(now) == Freshness::Fresh => {
                        state.recorder.record(Event::Hit);
                        return ResponseFuture::ready(Ok(guard.found_in_l1(&entry)));
                    }
                    Some(_) => false,
                    None => true,
                };
                if recheck || state.l2.is_some() {
                    match self.look_in_l2(&mut guard, now, recheck) {
                        L2First::Hit(entry) => {
                            state.recorder.record(Event::Hit);
                            return ResponseFuture::ready(Ok(guard.fill(entry)));
                        }
                        L2First::Pending(lookup) => {
                            state.recorder.record(Event::Miss);
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
                state.recorder.record(Event::Miss);
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
        let state = &self.state;
        let Some(flight) = state.flights.try_lead(&key) else {
            return;
        };
        state.recorder.record(Event::Refresh);
        let guard = LeadGuard::new(Arc::clone(state), key, flight, Some(entry), true);
        let fut = self.inner.call(req);
        handle.spawn(async move {
            let _ = guard.complete(fut.await.map_err(Into::into));
        });
    }

    /// Looks in the L2, answering at once when the store does (a hit in
    /// memory). A store that reports itself unavailable is not asked. With
    /// `recheck` (L1 was busy), looks in L1 again first, waiting for it.
    fn look_in_l2(&self, guard: &mut LeadGuard<K, V>, now: Instant, recheck: bool) -> L2First<V> {
        let state = Arc::clone(&self.state);
        let l2 = state
            .l2_if_available(L2Op::Get)
            .and_then(|l2| Some((Arc::clone(&l2.store), (l2.encode_key)(&guard.key)?)));
        if l2.is_none() && !recheck {
            return L2First::Miss;
        }
        let key = recheck.then(|| guard.key.clone());
        let core2 = Arc::clone(&state);
        let mut lookup: L2Lookup<V> = Box::pin(async move {
            let mut in_l1 = None;
            if let Some(key) = key
                && let Some(entry) = core2.l1.get(&key).await
            {
                if entry.freshness(Instant::now()) == Freshness::Fresh {
                    return Some(entry);
                }
                in_l1 = Some(entry);
            }
            let Some((store, key)) = l2 else {
                return in_l1;
            };
            let found = match store.get(&key).await {
                Some(entry) => core2.entry_from_l2(entry, Instant::now()),
                None => None,
            };
            found.or(in_l1)
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
