//! [`MemoryStore`]: an in-process [`L2Store`] on `moka`'s cache.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use moka::{Expiry, sync::Cache as MokaCache};

use super::{L2Entry, L2Future, L2Store, Purge, PurgeSink};

/// An [`L2Store`] that lives in this process, on a `moka` cache.
///
/// Several caches given clones of one `MemoryStore` behave like replicas
/// sharing a Redis namespace: a fill by one is found by the others, and
/// `invalidate` / `invalidate_tag` on one reaches the L1 of all. Use it in
/// tests and demos of multi-tier setups, or as a larger second tier behind
/// a small L1.
///
/// Cheap to clone (an `Arc` inside). `put` writes at once (there is no
/// network to wait for), entries expire after [`L2Entry::expires_after`].
///
/// ```
/// use palisade_cache::store::{L2Store, MemoryStore};
///
/// let store = MemoryStore::new(1_000);
/// assert_eq!(store.get_count(), 0);
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    entries: MokaCache<Bytes, Arc<L2Entry>>,
    sinks: Mutex<Vec<PurgeSink>>,
    gets: AtomicU64,
    puts: AtomicU64,
}

struct ExpireWithEntry;

impl Expiry<Bytes, Arc<L2Entry>> for ExpireWithEntry {
    fn expire_after_create(
        &self,
        _key: &Bytes,
        value: &Arc<L2Entry>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.expires_after().saturating_sub(value.age()))
    }

    fn expire_after_update(
        &self,
        key: &Bytes,
        value: &Arc<L2Entry>,
        updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        self.expire_after_create(key, value, updated_at)
    }
}

impl MemoryStore {
    /// A store holding at most `max_entries` entries (TinyLFU admission and
    /// eviction, as moka does).
    #[must_use]
    pub fn new(max_entries: u64) -> Self {
        let entries = MokaCache::builder()
            .max_capacity(max_entries)
            .expire_after(ExpireWithEntry)
            .support_invalidation_closures()
            .build();
        Self {
            inner: Arc::new(Inner {
                entries,
                sinks: Mutex::new(Vec::new()),
                gets: AtomicU64::new(0),
                puts: AtomicU64::new(0),
            }),
        }
    }

    /// How many `get`s this store has answered (hits and misses): lets a test
    /// check that concurrent misses were coalesced before reaching the tier.
    #[must_use]
    pub fn get_count(&self) -> u64 {
        self.inner.gets.load(Ordering::Relaxed)
    }

    /// How many `put`s this store has received.
    #[must_use]
    pub fn put_count(&self) -> u64 {
        self.inner.puts.load(Ordering::Relaxed)
    }

    /// The number of entries held (approximate until moka's pending work ran).
    #[must_use]
    pub fn entry_count(&self) -> u64 {
        self.inner.entries.entry_count()
    }

    fn announce(&self, purge: &Purge) {
        // Purges are delivered outside the lock: a sink calls into a cache.
        let sinks: Vec<PurgeSink> = {
            let mut sinks = self
                .inner
                .sinks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            sinks.retain(PurgeSink::is_alive);
            sinks.clone()
        };
        for sink in sinks {
            sink.purge(purge);
        }
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("entries", &self.inner.entries.entry_count())
            .field("gets", &self.get_count())
            .field("puts", &self.put_count())
            .finish_non_exhaustive()
    }
}

impl L2Store for MemoryStore {
    fn get<'a>(&'a self, key: &'a [u8]) -> L2Future<'a, Option<L2Entry>> {
        Box::pin(async move {
            self.inner.gets.fetch_add(1, Ordering::Relaxed);
            let entry = self.inner.entries.get(key)?;
            if entry.is_expired() {
                return None;
            }
            Some(L2Entry::clone(&entry))
        })
    }

    fn put(&self, key: Bytes, entry: L2Entry) {
        self.inner.puts.fetch_add(1, Ordering::Relaxed);
        if entry.is_expired() {
            return;
        }
        // No network to wait for: the entry is visible when `put` returns.
        self.inner.entries.insert(key, Arc::new(entry));
    }

    fn invalidate<'a>(&'a self, key: &'a [u8]) -> L2Future<'a, ()> {
        Box::pin(async move {
            self.inner.entries.invalidate(key);
            self.announce(&Purge::Key(Bytes::copy_from_slice(key)));
        })
    }

    fn invalidate_tag<'a>(&'a self, tag: &'a str) -> L2Future<'a, ()> {
        Box::pin(async move {
            let owned = tag.to_owned();
            // Cannot fail: the cache was built with invalidation closures.
            let _ = self
                .inner
                .entries
                .invalidate_entries_if(move |_, e| e.tags.contains(&owned));
            self.announce(&Purge::Tag(tag.to_owned()));
        })
    }

    fn subscribe(&self, sink: PurgeSink) {
        self.inner
            .sinks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(sink);
    }
}
