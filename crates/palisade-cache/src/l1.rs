//! The L1: moka's future cache used for storage, bounds and eviction only.
//! Freshness is decided by this crate on tokio's clock (see `entry.rs`).
//! moka's per-entry expiry is not used: it costs a clock read and a timer
//! wheel update on every hit (~90 ns per hit measured here). Entries past
//! every window are dropped when a lookup finds them, and otherwise give way
//! to the size bound like any cold entry.
//!
//! moka records every read in a log and applies the log (frequency sketch,
//! LRU order, evictions, the eviction listener) in its maintenance, which it
//! runs inline in the `get` that finds 64 or more reads pending (or 300 ms
//! after the last run). That one request then pays for up to 384 reads of
//! bookkeeping — the tail latency of a cache whose every request is a hit.
//! So the cache runs the maintenance itself, ahead of that threshold: every
//! [`MAINTAIN_EVERY`] hits it wakes a [`Maintainer`] task, which applies the
//! log off the request path. A `get` that still finds the threshold reached
//! while the task runs does not wait (moka only tries its lock).

use std::{
    borrow::Borrow,
    future::Future,
    hash::Hash,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, Waker},
};

use tokio::sync::Notify;

use moka::{future::Cache as MokaCache, notification::RemovalCause};

use crate::{
    entry::SharedEntry,
    telemetry::{Event, Recorder},
};

/// An L1 insert that did not complete on its first poll.
pub(crate) type PendingInsert = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// Hits between two wake-ups of the [`Maintainer`]: half of moka's own
/// threshold (64 reads), so the log is applied before a request would.
pub(crate) const MAINTAIN_EVERY: u64 = 32;

/// Wakes the task applying moka's read log off the request path (see the
/// module docs). The task is spawned on the first wake-up made inside a
/// tokio runtime and ends when its L1 is dropped.
#[derive(Debug, Default)]
pub(crate) struct Maintainer {
    notify: Notify,
    started: AtomicBool,
    closed: AtomicBool,
}

/// The hasher of the L1's keys: foldhash's quality variant with a random
/// seed per cache. moka's default, SipHash-1-3, cost about 260 instructions
/// of a hit's ~1,500 in moka (a 30-byte URL key); this one a fraction of
/// that. Keys come from requests, so the seed stays random (an attacker
/// cannot aim keys at one bucket without knowing it).
type KeyHasher = foldhash::quality::RandomState;

pub(crate) struct L1<K, V> {
    moka: MokaCache<K, SharedEntry<V>, KeyHasher>,
    maintainer: Arc<Maintainer>,
}

impl<K, V> Drop for L1<K, V> {
    fn drop(&mut self) {
        self.maintainer.closed.store(true, Ordering::Release);
        self.maintainer.notify.notify_one();
    }
}

impl<K, V> std::fmt::Debug for L1<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("L1")
            .field("entries", &self.moka.entry_count())
            .field("weighed_size", &self.moka.weighted_size())
            .finish()
    }
}

/// Polls a future once, without a runtime or a real waker. moka's operations
/// complete on their first poll unless moka's housekeeping is contended;
/// then this returns `None` and the caller takes its slow path.
pub(crate) fn poll_now<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

impl<K, V> L1<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    /// `capacity` is in weight units: entries (each weighs 1) or bytes.
    pub(crate) fn new(capacity: u64, recorder: Arc<Recorder>) -> Self {
        let moka = MokaCache::builder()
            .max_capacity(capacity)
            .weigher(|_k, e: &SharedEntry<V>| e.weight)
            .support_invalidation_closures()
            .eviction_listener(move |_k, _v, cause| {
                if cause == RemovalCause::Size {
                    recorder.record(Event::Eviction);
                }
            })
            .build_with_hasher(KeyHasher::default());
        Self {
            moka,
            maintainer: Arc::default(),
        }
    }

    /// Has moka's pending bookkeeping applied soon, by the maintainer task
    /// (spawned now if need be; without a runtime, moka goes on doing it
    /// inline).
    #[cold]
    pub(crate) fn maintain_soon(&self) {
        let m = &self.maintainer;
        if !m.started.load(Ordering::Relaxed)
            && let Ok(handle) = tokio::runtime::Handle::try_current()
            && !m.started.swap(true, Ordering::AcqRel)
        {
            let moka = self.moka.clone();
            let m = Arc::clone(m);
            handle.spawn(async move {
                loop {
                    m.notify.notified().await;
                    if m.closed.load(Ordering::Acquire) {
                        break;
                    }
                    moka.run_pending_tasks().await;
                }
            });
        }
        m.notify.notify_one();
    }

    /// Looks `key` up at once. `None` when absent, or (rarely) when moka's
    /// housekeeping is busy: the caller then treats the request as a miss.
    #[inline]
    pub(crate) fn get_now<Q>(&self, key: &Q) -> Option<SharedEntry<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        poll_now(self.moka.get(key)).flatten()
    }

    /// Looks `key` up at once: `Some(found)`, or `None` when moka's
    /// housekeeping is busy and the answer is not known yet (then await
    /// [`get`](Self::get)).
    #[inline]
    pub(crate) fn try_get_now(&self, key: &K) -> Option<Option<SharedEntry<V>>> {
        poll_now(self.moka.get(key))
    }

    /// Looks `key` up, waiting for moka if it is busy.
    pub(crate) async fn get(&self, key: &K) -> Option<SharedEntry<V>> {
        self.moka.get(key).await
    }

    /// Stores `entry`. Completes at once in practice; when moka is busy the
    /// insert finishes on a spawned task (or is dropped without a runtime).
    #[cfg(feature = "http")]
    pub(crate) fn insert(&self, key: K, entry: SharedEntry<V>) {
        if let Some(pending) = self.insert_now(key, entry)
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            handle.spawn(pending);
        }
    }

    /// Stores `entry`, returning the rest of the insert when moka is busy
    /// and it did not complete at once (`None`: the entry is visible now).
    /// The caller must drive it (see `CacheState::settle`).
    #[must_use]
    pub(crate) fn insert_now(&self, key: K, entry: SharedEntry<V>) -> Option<PendingInsert> {
        let moka = self.moka.clone();
        let mut fut: PendingInsert = Box::pin(async move { moka.insert(key, entry).await });
        let mut cx = Context::from_waker(Waker::noop());
        fut.as_mut().poll(&mut cx).is_pending().then_some(fut)
    }

    pub(crate) async fn invalidate(&self, key: &K) {
        self.moka.invalidate(key).await;
    }

    /// Drops the entry for `key` if it is still `entry` (so a newer entry
    /// stored meanwhile survives).
    pub(crate) fn remove_if_same<Q>(&self, key: &Q, entry: &SharedEntry<V>)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let current = self.get_now(key);
        if current.is_some_and(|c| Arc::ptr_eq(&c, entry)) {
            let moka = self.moka.clone();
            let _ = poll_now(async move { moka.invalidate(key).await });
        }
    }

    /// Drops the entry for `key` without waiting (a purge from another replica).
    pub(crate) fn remove_now(&self, key: &K) {
        let moka = self.moka.clone();
        let _ = poll_now(async move { moka.invalidate(key).await });
    }

    pub(crate) fn invalidate_tag(&self, tag: &str) {
        let tag: Box<str> = tag.into();
        // Cannot fail: invalidation closures are enabled at build time.
        let _ = self
            .moka
            .invalidate_entries_if(move |_k, e| e.has_tag(&tag));
    }

    pub(crate) fn invalidate_all(&self) {
        self.moka.invalidate_all();
    }

    pub(crate) async fn run_pending_tasks(&self) {
        self.moka.run_pending_tasks().await;
    }

    pub(crate) fn entry_count(&self) -> u64 {
        self.moka.entry_count()
    }

    pub(crate) fn weighed_size(&self) -> u64 {
        self.moka.weighted_size()
    }
}
