//! The state of a keyed breaker: its per-key breakers in two concurrent
//! caches (the closed ones, evicted least recently used first, and the ones
//! that are not closed, kept apart), and how a new key's breaker is made.

use crate::{
    breaker::CircuitBreaker,
    machine::Callback,
    settings::Settings,
    status::{State, Transition},
};
use moka::sync::Cache;
use std::{
    fmt,
    hash::Hash,
    sync::{
        Arc, Mutex, PoisonError, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::time::Instant;

pub(super) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// One key's breaker and when it was last used.
pub(super) struct Entry<C> {
    pub(super) breaker: CircuitBreaker<C>,
    /// Nanoseconds since the keyed breaker's base (tokio's clock).
    last_used: AtomicU64,
}

impl<C> Entry<C> {
    pub(super) fn idle(&self, now: u64, idle: u64) -> bool {
        now.saturating_sub(self.last_used.load(Ordering::Relaxed)) >= idle
    }

    /// Marks a use, writing only when the stamp moved by a 64th of the idle
    /// time (a hot key's line is not written on every call).
    #[inline]
    fn touch(&self, now: u64, idle: u64) {
        let last = self.last_used.load(Ordering::Relaxed);
        if now.saturating_sub(last) > idle / 64 {
            self.last_used.store(now, Ordering::Relaxed);
        }
    }
}

/// A map of breakers by key.
pub(super) type Map<K, C> = Cache<K, Arc<Entry<C>>>;

/// The breakers of one keyed breaker, by key, and how to make new ones.
pub(super) struct KeyedBreakers<K, F, C> {
    pub(super) config: Settings,
    pub(super) classify: C,
    pub(super) key: F,
    pub(super) max_keys: usize,
    pub(super) idle_nanos: u64,
    pub(super) base: Instant,
    /// The closed breakers, the least recently used dropped past `max_keys`.
    pub(super) live: Arc<Map<K, C>>,
    /// The breakers that are not closed, which must not be dropped to make
    /// room: moved here from `live` when they leave `Closed`, moved back
    /// when they return to it (or dropped when idle).
    pub(super) held: Arc<Map<K, C>>,
    /// When `held` was last swept for idle keys.
    pub(super) last_sweep: AtomicU64,
    pub(super) callbacks: Mutex<Vec<Callback>>,
}

impl<K, F, C> KeyedBreakers<K, F, C>
where
    K: Hash + Eq + Clone + fmt::Display + Send + Sync + 'static,
    C: Clone + Send + Sync + 'static,
{
    pub(super) fn now(&self) -> u64 {
        nanos(Instant::now().saturating_duration_since(self.base))
    }

    /// The entry of `key` if it is alive (not idle past the expiry).
    #[inline]
    pub(super) fn live_entry(&self, key: &K, now: u64) -> Option<Arc<Entry<C>>> {
        let shared = self;
        let entry = match shared.live.get(key) {
            Some(entry) => entry,
            None => self.held_entry(key)?,
        };
        if entry.idle(now, shared.idle_nanos) {
            shared.live.invalidate(key);
            shared.held.invalidate(key);
            return None;
        }
        Some(entry)
    }

    /// A breaker that is not closed.
    #[cold]
    fn held_entry(&self, key: &K) -> Option<Arc<Entry<C>>> {
        self.held.get(key)
    }

    /// Runs `f` on the breaker of `key`, made if needed: O(1), no global lock.
    #[inline]
    pub(super) fn with_breaker<R>(&self, key: K, f: impl FnOnce(&CircuitBreaker<C>) -> R) -> R {
        let now = self.now();
        if let Some(entry) = self.live_entry(&key, now) {
            entry.touch(now, self.idle_nanos);
            return f(&entry.breaker);
        }
        self.sweep_held(now);
        let entry = self.live.get_with(key.clone(), || self.make(key, now));
        entry.touch(now, self.idle_nanos);
        f(&entry.breaker)
    }

    /// Drops idle breakers from `held` (which nothing else bounds), at most
    /// once a quarter of the idle expiry, when a new key arrives.
    #[cold]
    fn sweep_held(&self, now: u64) {
        let shared = self;
        let last = shared.last_sweep.load(Ordering::Relaxed);
        if now.saturating_sub(last) < shared.idle_nanos / 4
            || shared
                .last_sweep
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        for (key, entry) in shared.held.iter() {
            if entry.idle(now, shared.idle_nanos) {
                shared.held.invalidate(&*key);
            }
        }
    }

    #[cold]
    fn make(&self, key: K, now: u64) -> Arc<Entry<C>> {
        let shared = self;
        let mut config = shared.config.clone();
        config.name = format!("{}/{key}", shared.config.name).into();
        // One lane: per-key breakers are many.
        let breaker = CircuitBreaker::with_lanes(config, shared.classify.clone(), 1);
        let entry = Arc::new(Entry {
            breaker: breaker.clone(),
            last_used: AtomicU64::new(now),
        });
        // A breaker that leaves `Closed` moves out of `live`'s eviction.
        let live: Weak<Map<K, C>> = Arc::downgrade(&shared.live);
        let held: Weak<Map<K, C>> = Arc::downgrade(&shared.held);
        let weak_entry = Arc::downgrade(&entry);
        breaker
            .machine()
            .add_callback(Arc::new(move |t: &Transition| {
                let (Some(live), Some(held), Some(entry)) =
                    (live.upgrade(), held.upgrade(), weak_entry.upgrade())
                else {
                    return;
                };
                if t.to() == State::Closed {
                    live.insert(key.clone(), entry);
                    held.invalidate(&key);
                } else {
                    held.insert(key.clone(), entry);
                    live.invalidate(&key);
                }
            }));
        for callback in shared
            .callbacks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            breaker.machine().add_callback(callback.clone());
        }
        entry
    }
}
