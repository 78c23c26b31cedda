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

use super::{
    future::ResponseFuture,
    l2::{L2First, look_in_l2},
};
use crate::{
    entry::{Freshness, SharedEntry},
    flight::Join,
    leader::LeadGuard,
    state::{CacheState, Lookup},
    telemetry::Event,
    waiter::Waiter,
    worker::{Background, DriveOf, WorkerRef},
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
pub struct CacheService<S, K, V, F> {
    inner: S,
    state: Arc<CacheState<K, V>>,
    key: F,
    background: Arc<Background<S>>,
}

impl<S: Clone, K, V, F: Clone> Clone for CacheService<S, K, V, F> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            state: Arc::clone(&self.state),
            key: self.key.clone(),
            background: Arc::clone(&self.background),
        }
    }
}

impl<S: fmt::Debug, K, V, F> fmt::Debug for CacheService<S, K, V, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheService")
            .field("inner", &self.inner)
            .field("cache", &self.state.name)
            .finish_non_exhaustive()
    }
}

impl<S: Clone, K, V, F> CacheService<S, K, V, F> {
    pub(super) fn new(inner: S, state: Arc<CacheState<K, V>>, key: F) -> Self {
        Self {
            background: Arc::new(Background::new(inner.clone())),
            inner,
            state,
            key,
        }
    }
}

impl<S, K, V, F> CacheService<S, K, V, F> {
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

impl<S, K, V, F, Req> Service<Req> for CacheService<S, K, V, F>
where
    S: Service<Req, Response = V> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    Req: Send + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    F: Fn(&Req) -> Option<K>,
{
    type Response = V;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, Req, K, V>;

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
                state.record_hit();
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
                ResponseFuture::wait(waiter, req, self.worker())
            }
            Join::Lead(flight) => {
                let mut guard = LeadGuard::new(Arc::clone(state), key, flight, stale, false);
                // A flight for this key may have ended (its value now in L1)
                // between the lookup above and the join: look once more.
                let recheck = match state.l1.try_get_now(&guard.key) {
                    Some(Some(entry)) if entry.freshness(now) == Freshness::Fresh => {
                        state.record_hit();
                        return ResponseFuture::ready(Ok(guard.found_in_l1(&entry)));
                    }
                    Some(_) => false,
                    None => true,
                };
                if recheck || state.l2.is_some() {
                    match look_in_l2(&self.state, &mut guard, now, recheck) {
                        L2First::Hit(entry) => {
                            state.record_hit();
                            return ResponseFuture::ready(Ok(guard.fill(entry)));
                        }
                        L2First::Pending(lookup) => {
                            state.recorder.record(Event::Miss);
                            return ResponseFuture::l2(lookup, req, guard, self.worker());
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

/// Drives a call of the background service to the end of its flight.
fn drive<S, Req, K, V>() -> DriveOf<S, Req, K, V, ()>
where
    S: Service<Req, Response = V> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    Req: Send + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    |fut, guard, ()| {
        Box::pin(async move {
            let result = fut.await.map_err(Into::into);
            if let Some(guard) = guard {
                let _ = guard.complete(result);
            }
        })
    }
}

impl<S, K, V, F> CacheService<S, K, V, F> {
    /// The background worker for requests of type `Req`.
    fn worker<Req>(&self) -> Option<WorkerRef<Req, K, V, ()>>
    where
        S: Service<Req, Response = V> + Send + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
        Req: Send + 'static,
        K: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        self.background.worker(drive::<S, Req, K, V>())
    }

    /// Starts the one background refresh of `key` unless one runs already.
    fn refresh<Req>(&mut self, key: K, req: Req, entry: SharedEntry<V>)
    where
        S: Service<Req, Response = V> + Send + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
        K: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let Some((handle, guard)) = LeadGuard::refresh(&self.state, key, entry) else {
            return;
        };
        let fut = self.inner.call(req);
        handle.spawn(async move {
            let _ = guard.complete(fut.await.map_err(Into::into));
        });
    }
}
