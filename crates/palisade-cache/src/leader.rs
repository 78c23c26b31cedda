//! [`LeadGuard`]: the request (or background task) that makes the one call
//! of a flight, and [`guarded`], which turns a panic in that call into an
//! error for the flight's waiters.

use std::{any::Any, hash::Hash, panic::AssertUnwindSafe, sync::Arc};

use tokio::{runtime::Handle, time::Instant};

use palisade_core::BoxError;

use crate::{
    entry::{Freshness, SharedEntry},
    error::CallPanicked,
    flight::{Flight, Phase},
    state::CacheState,
    telemetry::Event,
};

type EndFn<K, V> = fn(&mut LeadGuard<K, V>);

/// The lead of one flight. Dropping it before [`complete`](Self::complete)
/// marks the flight abandoned so a waiter takes over (the leading request
/// went away) — unless it is dropped while its thread unwinds from a panic:
/// then the call panicked, and the waiters get [`CallPanicked`] instead of
/// making it again.
pub(crate) struct LeadGuard<K, V> {
    pub(crate) state: Arc<CacheState<K, V>>,
    pub(crate) key: K,
    pub(crate) flight: Arc<Flight<V>>,
    pub(crate) stale: Option<SharedEntry<V>>,
    pub(crate) background: bool,
    /// Set where the bounds are known, so `Drop` needs none.
    abandon: Option<EndFn<K, V>>,
}

impl<K, V> std::fmt::Debug for LeadGuard<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeadGuard")
            .field("background", &self.background)
            .finish_non_exhaustive()
    }
}

impl<K, V> LeadGuard<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub(crate) fn new(
        state: Arc<CacheState<K, V>>,
        key: K,
        flight: Arc<Flight<V>>,
        stale: Option<SharedEntry<V>>,
        background: bool,
    ) -> Self {
        Self {
            state,
            key,
            flight,
            stale,
            background,
            abandon: Some(|guard| {
                if std::thread::panicking() {
                    // Dropped while a panic unwinds: the call panicked (in
                    // `call`, or its future dropped by a task that panicked).
                    guard.fail_panicked(None);
                } else {
                    guard.state.flights.abandon(&guard.key, &guard.flight);
                }
            }),
        }
    }

    /// Starts the one background refresh of `key` (its stale `entry` the
    /// fallback): the runtime to spawn it on and the guard that leads it.
    /// `None` without a runtime, or when a call for the key runs already.
    pub(crate) fn refresh(
        state: &Arc<CacheState<K, V>>,
        key: K,
        entry: SharedEntry<V>,
    ) -> Option<(Handle, Self)> {
        let handle = Handle::try_current().ok()?;
        let flight = state.flights.try_lead(&key)?;
        state.recorder.record(Event::Refresh);
        Some((
            handle,
            Self::new(Arc::clone(state), key, flight, Some(entry), true),
        ))
    }

    /// Weighs an entry found in the L2: a fresh one is returned (a hit); a
    /// stale one becomes the stale-if-error fallback when `better(current
    /// fallback, entry)` says so.
    pub(crate) fn l2_found(
        &mut self,
        entry: SharedEntry<V>,
        now: Instant,
        better: impl FnOnce(Option<&SharedEntry<V>>, &SharedEntry<V>) -> bool,
    ) -> Option<SharedEntry<V>> {
        if entry.freshness(now) == Freshness::Fresh {
            return Some(entry);
        }
        if better(self.stale.as_ref(), &entry) {
            self.stale = Some(entry);
        }
        None
    }

    /// Ends the lead because the call panicked: the waiters get
    /// [`CallPanicked`] (or the stale-if-error fallback) at once.
    pub(crate) fn panicked(mut self, payload: Option<&(dyn Any + Send)>) {
        self.abandon = None;
        self.fail_panicked(payload);
    }

    fn fail_panicked(&mut self, payload: Option<&(dyn Any + Send)>) {
        let err: BoxError = Box::new(CallPanicked::new(payload));
        let _ = self.state.complete(
            &self.key,
            &self.flight,
            self.stale.as_ref(),
            Err(err),
            self.background,
        );
    }

    pub(crate) fn complete(mut self, result: Result<V, BoxError>) -> Result<V, BoxError> {
        self.abandon = None;
        self.state.complete(
            &self.key,
            &self.flight,
            self.stale.as_ref(),
            result,
            self.background,
        )
    }

    /// Ends the lead with an entry found in the L2: it goes to L1 (not back
    /// to the L2) and to the waiters.
    pub(crate) fn fill(mut self, entry: SharedEntry<V>) -> V {
        self.abandon = None;
        let value = entry.value.clone();
        let pending = self.state.l1.insert_now(self.key.clone(), entry);
        self.flight.finish(Phase::Done(Ok(value.clone())));
        self.state
            .settle(&self.key, &self.flight, pending.into_iter().collect());
        value
    }

    /// Ends the lead with an entry found in L1 after all (a flight for the
    /// key ended in between): nothing to store.
    pub(crate) fn found_in_l1(mut self, entry: &SharedEntry<V>) -> V {
        self.abandon = None;
        let value = entry.value.clone();
        self.flight.finish(Phase::Done(Ok(value.clone())));
        self.state.flights.remove(&self.key, &self.flight);
        value
    }

    #[cfg(feature = "http")]
    /// Ends the lead with `phase` (HTTP: `Pass` when the response cannot be
    /// shared, or `Done` with a stale fallback), without storing anything.
    pub(crate) fn finish_phase(mut self, phase: Phase<V>) {
        self.abandon = None;
        self.state.flights.remove(&self.key, &self.flight);
        self.flight.finish(phase);
    }

    #[cfg(feature = "http")]
    /// Ends the lead with `value`, stored in L1 by the caller (`pending`:
    /// the inserts that did not complete at once).
    pub(crate) fn finish_stored(mut self, value: V, pending: Vec<crate::l1::PendingInsert>) {
        self.abandon = None;
        self.flight.finish(Phase::Done(Ok(value)));
        self.state.settle(&self.key, &self.flight, pending);
    }
}

impl<K, V> Drop for LeadGuard<K, V> {
    fn drop(&mut self) {
        if let Some(end) = self.abandon.take() {
            end(self);
        }
    }
}

/// Runs `poll` (a step of the leader's call: polling its future or body).
/// If it panics, the flight's waiters get [`CallPanicked`] at once and the
/// panic goes on to the leading request, as it would without the cache.
/// (The waiters could not learn it otherwise: a future caught by
/// `catch_unwind` further out is dropped after the unwinding ended, which
/// would look like a cancelled leader and start the call again.)
#[inline]
pub(crate) fn guarded<K, V, T>(guard: &mut Option<LeadGuard<K, V>>, poll: impl FnOnce() -> T) -> T
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    match std::panic::catch_unwind(AssertUnwindSafe(poll)) {
        Ok(out) => out,
        Err(payload) => {
            if let Some(guard) = guard.take() {
                guard.panicked(Some(&*payload));
            }
            std::panic::resume_unwind(payload)
        }
    }
}
