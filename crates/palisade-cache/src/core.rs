//! The state shared by every service of one cache: L1, flights, policy,
//! counters and the optional L2. Used by both `Cache` and `HttpCache`.

use std::{
    any::Any,
    hash::Hash,
    panic::AssertUnwindSafe,
    sync::{Arc, Weak},
    time::{Duration, SystemTime},
};

use bytes::Bytes;
use palisade_core::BoxError;
use tokio::time::Instant;

use crate::{
    entry::{Entry, Freshness, Lifetime, SharedEntry},
    error::CallPanicked,
    flight::{Flight, Flights, Phase},
    l1::{L1, PendingInsert},
    stats::{Event, Recorder, Stats},
    store::{L2Entry, L2Payload, L2Store, Purge, PurgeSink, PurgeTarget},
    telemetry,
};

/// How values become L2 payloads and keys become L2 keys (chosen where the
/// bounds are known: `.l2()` on a builder).
pub(crate) struct L2Hook<K, V> {
    pub(crate) store: Arc<dyn L2Store>,
    pub(crate) encode_key: fn(&K) -> Option<Bytes>,
    pub(crate) decode_key: fn(&[u8]) -> Option<K>,
    pub(crate) encode_value: fn(&V) -> Option<L2Payload>,
    pub(crate) decode_value: fn(L2Payload) -> Option<V>,
}

impl<K, V> std::fmt::Debug for L2Hook<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("L2Hook")
            .field("store", &self.store)
            .finish()
    }
}

/// An L2 operation the cache is about to make.
#[derive(Debug, Clone, Copy)]
pub(crate) enum L2Op {
    Get,
    Put,
}

/// What is stored and for how long, decided per value.
pub(crate) struct Decision {
    pub(crate) lifetime: Lifetime,
    pub(crate) tags: Box<[Box<str>]>,
    pub(crate) weight: u32,
}

/// Per-cache rules turning a value into a [`Decision`] (or not storing it).
pub(crate) trait Policy<V>: Send + Sync + 'static {
    fn decide(&self, value: &V) -> Option<Decision>;
}

/// The result of looking a key up in L1.
pub(crate) enum Lookup<V> {
    Fresh(SharedEntry<V>),
    /// Within stale-while-revalidate: serve, refresh in the background.
    Stale(SharedEntry<V>),
    /// Nothing servable; `Some` is a stale-if-error fallback.
    Miss(Option<SharedEntry<V>>),
    /// moka was busy and did not answer at once (`None`: no stale fallback
    /// known); a request that leads looks again.
    Busy(Option<SharedEntry<V>>),
}

pub(crate) struct Core<K, V> {
    pub(crate) name: Arc<str>,
    pub(crate) l1: L1<K, V>,
    pub(crate) flights: Flights<K, V>,
    pub(crate) policy: Box<dyn Policy<V>>,
    pub(crate) recorder: Arc<Recorder>,
    pub(crate) l2: Option<L2Hook<K, V>>,
}

impl<K, V> std::fmt::Debug for Core<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("name", &self.name)
            .field("l1", &self.l1)
            .field("flights", &self.flights)
            .field("l2", &self.l2)
            .finish_non_exhaustive()
    }
}

impl<K, V> Core<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub(crate) fn new(
        name: Arc<str>,
        capacity: u64,
        policy: Box<dyn Policy<V>>,
        l2: Option<L2Hook<K, V>>,
    ) -> Arc<Self> {
        let recorder = Arc::new(Recorder::new(&name));
        let core = Arc::new(Self {
            l1: L1::new(capacity, Arc::clone(&recorder)),
            name,
            flights: Flights::new(),
            policy,
            recorder,
            l2,
        });
        if let Some(l2) = &core.l2 {
            let weak: Weak<dyn PurgeTarget> = Arc::downgrade(&core) as Weak<dyn PurgeTarget>;
            l2.store.subscribe(PurgeSink::new(weak));
        }
        core
    }

    #[inline]
    pub(crate) fn lookup(&self, key: &K, now: Instant) -> Lookup<V> {
        let Some(entry) = self.l1.try_get_now(key) else {
            return Lookup::Busy(None);
        };
        let Some(entry) = entry else {
            return Lookup::Miss(None);
        };
        match entry.freshness(now) {
            Freshness::Fresh => Lookup::Fresh(entry),
            Freshness::StaleRevalidate => Lookup::Stale(entry),
            Freshness::StaleIfError => Lookup::Miss(Some(entry)),
            Freshness::Expired => {
                self.l1.remove_if_same(key, &entry);
                Lookup::Miss(None)
            }
        }
    }

    /// Stores `value` per the policy (L1 now, L2 in the background).
    /// Returns the L1 insert if it did not complete at once.
    #[must_use]
    pub(crate) fn store(&self, key: &K, value: &V, now: Instant) -> Option<PendingInsert> {
        let decision = self.policy.decide(value)?;
        self.store_decided(key, value.clone(), decision, now, true)
    }

    /// Stores `value` as decided. Returns the L1 insert if it did not
    /// complete at once (moka busy): hand it to [`settle`](Self::settle).
    #[must_use]
    pub(crate) fn store_decided(
        &self,
        key: &K,
        value: V,
        decision: Decision,
        stored_at: Instant,
        to_l2: bool,
    ) -> Option<PendingInsert> {
        if decision.lifetime.total().is_zero() {
            return None;
        }
        if to_l2
            && let Some(l2) = self.l2_if_available(L2Op::Put)
            && let (Some(k), Some(payload)) = ((l2.encode_key)(key), (l2.encode_value)(&value))
        {
            let l = decision.lifetime;
            l2.store.put(
                k,
                L2Entry {
                    payload,
                    stored_at: SystemTime::now(),
                    ttl: l.ttl,
                    stale_while_revalidate: l.stale_while_revalidate,
                    stale_if_error: l.stale_if_error,
                    tags: decision.tags.iter().map(|t| t.to_string()).collect(),
                },
            );
        }
        let entry = Arc::new(Entry {
            value,
            stored_at,
            lifetime: decision.lifetime,
            tags: decision.tags,
            weight: decision.weight,
        });
        let pending = self.l1.insert_now(key.clone(), entry);
        self.recorder
            .set_size(self.l1.entry_count(), self.l1.weighed_size());
        pending
    }

    /// Removes a flight that ended with a value once that value is visible
    /// in L1: at once when every insert completed, else from a task that
    /// finishes them first. Until then, late arrivals join the finished
    /// flight and take its value (see [`Flights`]).
    pub(crate) fn settle(&self, key: &K, flight: &Arc<Flight<V>>, pending: Vec<PendingInsert>) {
        if pending.is_empty() {
            self.flights.remove(key, flight);
            return;
        }
        let remover = self.flights.remover(key.clone(), Arc::clone(flight));
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    for insert in pending {
                        insert.await;
                    }
                    drop(remover);
                });
            }
            // Nowhere to finish the inserts: the flight goes now.
            Err(_) => drop((pending, remover)),
        }
    }

    /// The L2, unless there is none or it reports itself unavailable (then
    /// it is told the `op` was skipped).
    #[inline]
    pub(crate) fn l2_if_available(&self, op: L2Op) -> Option<&L2Hook<K, V>> {
        let l2 = self.l2.as_ref()?;
        if l2.store.available() {
            return Some(l2);
        }
        match op {
            L2Op::Get => l2.store.skipped_get(),
            L2Op::Put => l2.store.skipped_put(),
        }
        None
    }

    /// Turns an L2 entry into an L1 entry on tokio's clock; `None` if it
    /// does not decode or is past every window.
    pub(crate) fn entry_from_l2(&self, entry: L2Entry, now: Instant) -> Option<SharedEntry<V>> {
        let l2 = self.l2.as_ref()?;
        if entry.is_expired() {
            return None;
        }
        let age = entry.age();
        let lifetime = Lifetime {
            ttl: entry.ttl,
            stale_while_revalidate: entry.stale_while_revalidate,
            stale_if_error: entry.stale_if_error,
        };
        let tags = entry.tags.into_iter().map(String::into_boxed_str).collect();
        let value = (l2.decode_value)(entry.payload)?;
        let weight = self.policy.decide(&value).map_or(1, |d| d.weight);
        Some(Arc::new(Entry {
            value,
            stored_at: now.checked_sub(age).unwrap_or(now),
            lifetime,
            tags,
            weight,
        }))
    }

    /// Finishes the call a leader made: stores a value, hands it to the
    /// waiters, or on error serves the stale fallback / shares the error.
    pub(crate) fn complete(
        &self,
        key: &K,
        flight: &Arc<Flight<V>>,
        stale: Option<&SharedEntry<V>>,
        result: Result<V, BoxError>,
        background: bool,
    ) -> Result<V, BoxError> {
        let now = Instant::now();
        match result {
            Ok(value) => {
                let pending = self.store(key, &value, now);
                flight.finish(Phase::Done(Ok(value.clone())));
                self.settle(key, flight, pending.into_iter().collect());
                Ok(value)
            }
            Err(err) => {
                self.flights.remove(key, flight);
                telemetry::fetch_failed(&self.name, &*err);
                if background {
                    self.recorder.record(Event::RefreshFailure);
                }
                if let Some(stale) = stale.filter(|s| s.usable_on_error(now)) {
                    self.recorder.record(Event::StaleIfError);
                    flight.finish(Phase::Done(Ok(stale.value.clone())));
                    return Ok(stale.value.clone());
                }
                Err(flight.finish_err(err))
            }
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        self.recorder
            .snapshot(self.l1.entry_count(), self.l1.weighed_size())
    }

    pub(crate) async fn invalidate(&self, key: &K) {
        self.l1.invalidate(key).await;
        if let Some(l2) = &self.l2
            && let Some(k) = (l2.encode_key)(key)
        {
            l2.store.invalidate(&k).await;
        }
    }

    pub(crate) async fn invalidate_tag(&self, tag: &str) {
        self.l1.invalidate_tag(tag);
        if let Some(l2) = &self.l2 {
            l2.store.invalidate_tag(tag).await;
        }
    }
}

impl<K, V> PurgeTarget for Core<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn purge(&self, purge: &Purge) {
        match purge {
            Purge::Key(bytes) => {
                let Some(key) = self.l2.as_ref().and_then(|l2| (l2.decode_key)(bytes)) else {
                    return;
                };
                self.l1.remove_now(&key);
            }
            Purge::Tag(tag) => self.l1.invalidate_tag(tag),
            Purge::All => self.l1.invalidate_all(),
        }
        telemetry::purged(&self.name, purge);
    }
}

type EndFn<K, V> = fn(&mut LeadGuard<K, V>);

/// The lead of one flight. Dropping it before [`complete`](Self::complete)
/// marks the flight abandoned so a waiter takes over (the leading request
/// went away) — unless it is dropped while its thread unwinds from a panic:
/// then the call panicked, and the waiters get [`CallPanicked`] instead of
/// making it again.
pub(crate) struct LeadGuard<K, V> {
    pub(crate) core: Arc<Core<K, V>>,
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
        core: Arc<Core<K, V>>,
        key: K,
        flight: Arc<Flight<V>>,
        stale: Option<SharedEntry<V>>,
        background: bool,
    ) -> Self {
        Self {
            core,
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
                    guard.core.flights.abandon(&guard.key, &guard.flight);
                }
            }),
        }
    }

    /// Ends the lead because the call panicked: the waiters get
    /// [`CallPanicked`] (or the stale-if-error fallback) at once.
    pub(crate) fn panicked(mut self, payload: Option<&(dyn Any + Send)>) {
        self.abandon = None;
        self.fail_panicked(payload);
    }

    fn fail_panicked(&mut self, payload: Option<&(dyn Any + Send)>) {
        let err: BoxError = Box::new(CallPanicked::new(payload));
        let _ = self.core.complete(
            &self.key,
            &self.flight,
            self.stale.as_ref(),
            Err(err),
            self.background,
        );
    }

    pub(crate) fn complete(mut self, result: Result<V, BoxError>) -> Result<V, BoxError> {
        self.abandon = None;
        self.core.complete(
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
        let pending = self.core.l1.insert_now(self.key.clone(), entry);
        self.flight.finish(Phase::Done(Ok(value.clone())));
        self.core
            .settle(&self.key, &self.flight, pending.into_iter().collect());
        value
    }

    /// Ends the lead with an entry found in L1 after all (a flight for the
    /// key ended in between): nothing to store.
    pub(crate) fn found_in_l1(mut self, entry: &SharedEntry<V>) -> V {
        self.abandon = None;
        let value = entry.value.clone();
        self.flight.finish(Phase::Done(Ok(value.clone())));
        self.core.flights.remove(&self.key, &self.flight);
        value
    }

    #[cfg(feature = "http")]
    /// Ends the lead with `phase` (HTTP: `Pass` when the response cannot be
    /// shared, or `Done` with a stale fallback), without storing anything.
    pub(crate) fn finish_phase(mut self, phase: Phase<V>) {
        self.abandon = None;
        self.core.flights.remove(&self.key, &self.flight);
        self.flight.finish(phase);
    }

    #[cfg(feature = "http")]
    /// Ends the lead with `value`, stored in L1 by the caller (`pending`:
    /// the inserts that did not complete at once).
    pub(crate) fn finish_stored(mut self, value: V, pending: Vec<PendingInsert>) {
        self.abandon = None;
        self.flight.finish(Phase::Done(Ok(value)));
        self.core.settle(&self.key, &self.flight, pending);
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

/// A default lifetime used when a policy has no per-value TTL.
pub(crate) fn lifetime(ttl: Duration, swr: Duration, sie: Duration) -> Lifetime {
    Lifetime {
        ttl,
        stale_while_revalidate: swr,
        stale_if_error: sie,
    }
}
