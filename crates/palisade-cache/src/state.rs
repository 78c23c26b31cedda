//! [`CacheState`]: what every service of one cache shares — L1, flights,
//! policy, counters and the optional L2. Used by both `Cache` and
//! `HttpCache`; it sits at the bottom of the crate and imports none of the
//! modules that use it.

use std::{
    hash::Hash,
    sync::{Arc, Weak},
    time::SystemTime,
};

use palisade_core::BoxError;
use tokio::time::Instant;

use crate::{
    entry::{Entry, Freshness, Lifetime, SharedEntry},
    flight::{Flight, Flights, Phase},
    l1::{L1, MAINTAIN_EVERY, PendingInsert},
    l2::{L2Hook, L2Op},
    policy::{Decision, Policy},
    stats::Stats,
    store::{L2Entry, Purge, PurgeSink, PurgeTarget},
    telemetry::{self, Event, Recorder},
};

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

/// The state shared by every service of one cache (built once, by the
/// builder; services hold it in an `Arc`).
pub(crate) struct CacheState<K, V> {
    pub(crate) name: Arc<str>,
    pub(crate) l1: L1<K, V>,
    pub(crate) flights: Flights<K, V>,
    pub(crate) policy: Box<dyn Policy<V>>,
    pub(crate) recorder: Arc<Recorder>,
    pub(crate) l2: Option<L2Hook<K, V>>,
}

impl<K, V> CacheState<K, V> {
    /// Records a request answered from the cache; every
    /// [`MAINTAIN_EVERY`] hits, has moka's read log applied off the request
    /// path (see `l1.rs`).
    #[inline]
    pub(crate) fn record_hit(&self)
    where
        K: Hash + Eq + Send + Sync + 'static,
        V: Send + Sync + 'static,
    {
        if self.recorder.record_hit() % MAINTAIN_EVERY == MAINTAIN_EVERY - 1 {
            self.l1.maintain_soon();
        }
    }
}

impl<K, V> std::fmt::Debug for CacheState<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheState")
            .field("name", &self.name)
            .field("l1", &self.l1)
            .field("flights", &self.flights)
            .field("l2", &self.l2)
            .finish_non_exhaustive()
    }
}

impl<K, V> CacheState<K, V>
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
        let state = Arc::new(Self {
            l1: L1::new(capacity, Arc::clone(&recorder)),
            name,
            flights: Flights::new(),
            policy,
            recorder,
            l2,
        });
        if let Some(l2) = &state.l2 {
            let weak: Weak<dyn PurgeTarget> = Arc::downgrade(&state) as Weak<dyn PurgeTarget>;
            l2.store.subscribe(PurgeSink::new(weak));
        }
        state
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

impl<K, V> PurgeTarget for CacheState<K, V>
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
