//! The seam between the cache logic and a second, shared tier (L2).
//!
//! The in-memory L1 of every [`Cache`](crate::Cache) and
//! [`HttpCache`](crate::HttpCache) is `moka`. A second tier, shared by the
//! replicas of a service (Redis, or the in-process [`MemoryStore`]), plugs in
//! through [`L2Store`] with `.l2(store)` on either builder.
//!
//! # Contract
//!
//! - **Keys are bytes.** The cache turns its keys into bytes before they reach
//!   the store, with a one-byte-plus-colon prefix so generic and HTTP entries
//!   never collide in one namespace:
//!   - generic [`Cache`](crate::Cache) keys: `b"v:"` followed by the key's
//!     `postcard` encoding (`.l2()` needs `K: Serialize + DeserializeOwned`);
//!   - [`HttpCache`](crate::HttpCache) keys: `b"h:"` followed by the UTF-8
//!     cache key (`"{authority}{path}?{query}"`, plus `"\n{name}: {value}"`
//!     per header named by the response's `Vary`).
//!
//!   The store adds its own namespace prefix; it never interprets keys.
//! - **Values are [`L2Entry`]s**: a [`L2Payload`] plus the freshness that must
//!   survive the trip between replicas (when it was stored, as wall-clock
//!   [`SystemTime`], since replicas share no `tokio` clock; its TTL and stale
//!   windows) and its tags. A generic value arrives as
//!   [`L2Payload::Value`] (the `postcard` encoding of `V`, done by the cache);
//!   an HTTP response as [`L2Payload::Response`] (status, headers, body), and a
//!   URL whose responses vary as an [`L2Payload::Vary`] marker. The store
//!   encodes the whole entry in its own versioned envelope.
//! - **`get` never fails.** Every error, timeout, or stored value that does not
//!   decode is `None` (a miss), counted by the store, never an error to the
//!   caller. A store must also return `None` for an entry past
//!   [`L2Entry::expires_after`]; the cache checks freshness again anyway.
//! - **`put` never makes the request wait.** It returns at once; the store
//!   writes in the background (for Redis: `SET` with an expiry of
//!   [`L2Entry::expires_after`], and the key added to one set per tag).
//! - **Invalidation reaches every replica.** [`L2Store::invalidate`] and
//!   [`L2Store::invalidate_tag`] delete in the shared tier and announce the
//!   purge to every replica; each replica's [`PurgeSink`]s (registered with
//!   [`L2Store::subscribe`] when a cache is built) then receive a [`Purge`].
//!   A store that may have missed announcements (a subscription that
//!   reconnected) sends [`Purge::All`]. The cache that called `invalidate`
//!   has already dropped the entry from its own L1, so hearing its own purge
//!   back is harmless.
//! - **A tier known to be down costs nothing.** A store that knows it is
//!   down (Redis behind an open breaker) says so through
//!   [`L2Store::available`]; the cache then skips all L2 work for the
//!   request (it reports the skip with [`L2Store::skipped_get`] /
//!   [`L2Store::skipped_put`]), and asks again on the next request.
//! - **One store, many caches.** A store is cheap to clone and may be given to
//!   several caches (a `Cache` and an `HttpCache`, say): `subscribe` is then
//!   called once per cache.
//!
//! # Example
//!
//! ```
//! use palisade_cache::store::{L2Store, MemoryStore};
//!
//! // The in-process store: replicas in one process sharing a tier (tests,
//! // demos). Give a clone to each cache with `.l2(store.clone())`.
//! let l2 = MemoryStore::new(10_000);
//! assert_eq!(l2.entry_count(), 0);
//! ```

#[cfg(any(feature = "redis", fuzzing))]
pub(crate) mod codec;
mod memory;

pub use memory::MemoryStore;

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::{Arc, Weak},
    time::{Duration, SystemTime},
};

use bytes::Bytes;

/// The future returned by the methods of [`L2Store`] (boxed: the L2 sits on
/// the miss path, behind a network round trip, where a box costs nothing).
pub type L2Future<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A second cache tier shared by replicas. See the [module docs](self) for the
/// full contract.
///
/// Implementations: [`MemoryStore`] (in-process), and with the `redis` feature
/// a Redis-backed store.
pub trait L2Store: fmt::Debug + Send + Sync + 'static {
    /// Looks `key` up. Never fails: an error, a timeout or an undecodable
    /// value is `None`, counted by the store.
    fn get<'a>(&'a self, key: &'a [u8]) -> L2Future<'a, Option<L2Entry>>;

    /// Stores `entry` under `key` without making the caller wait: the write
    /// runs in the background, and its failure is only counted.
    fn put(&self, key: Bytes, entry: L2Entry);

    /// Deletes `key` from the shared tier and announces [`Purge::Key`] to
    /// every replica. Completes when the delete and the announcement were
    /// attempted (failures are counted, not returned).
    fn invalidate<'a>(&'a self, key: &'a [u8]) -> L2Future<'a, ()>;

    /// Deletes every entry carrying `tag` from the shared tier and announces
    /// [`Purge::Tag`] to every replica.
    fn invalidate_tag<'a>(&'a self, tag: &'a str) -> L2Future<'a, ()>;

    /// Registers a cache's L1 to receive purges announced by any replica.
    /// Called once per cache built with this store. The store drops a sink
    /// once [`PurgeSink::purge`] returns `false` (its cache is gone).
    fn subscribe(&self, sink: PurgeSink);

    /// Whether the tier is worth asking right now: `false` while it is known
    /// to be down (for Redis: while its breaker is open and not yet due for
    /// a probe). The cache asks before every lookup and every write and,
    /// on `false`, does no L2 work at all (no key or value encoding, no
    /// [`get`](Self::get) or [`put`](Self::put) call; it calls
    /// [`skipped_get`](Self::skipped_get) or
    /// [`skipped_put`](Self::skipped_put) instead): the request costs about
    /// what it would with no L2. Invalidations are sent regardless.
    ///
    /// Must be cheap (it is on every L1 miss and every fill) and must turn
    /// `true` again on its own once the tier is worth a try, since the cache
    /// makes no call that could tell the store. Default: always `true`.
    fn available(&self) -> bool {
        true
    }

    /// Called in place of [`get`](Self::get) when the cache skipped a lookup
    /// because [`available`](Self::available) was `false`, so the store can
    /// count it as a lookup it skipped itself. Default: nothing.
    fn skipped_get(&self) {}

    /// Called in place of [`put`](Self::put) when the cache skipped a write
    /// because [`available`](Self::available) was `false`. Default: nothing.
    fn skipped_put(&self) {}
}

impl<T: L2Store + ?Sized> L2Store for Arc<T> {
    fn get<'a>(&'a self, key: &'a [u8]) -> L2Future<'a, Option<L2Entry>> {
        (**self).get(key)
    }
    fn put(&self, key: Bytes, entry: L2Entry) {
        (**self).put(key, entry);
    }
    fn invalidate<'a>(&'a self, key: &'a [u8]) -> L2Future<'a, ()> {
        (**self).invalidate(key)
    }
    fn invalidate_tag<'a>(&'a self, tag: &'a str) -> L2Future<'a, ()> {
        (**self).invalidate_tag(tag)
    }
    fn subscribe(&self, sink: PurgeSink) {
        (**self).subscribe(sink);
    }
    fn available(&self) -> bool {
        (**self).available()
    }
    fn skipped_get(&self) {
        (**self).skipped_get();
    }
    fn skipped_put(&self) {
        (**self).skipped_put();
    }
}

/// One cached entry as it travels to and from the shared tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L2Entry {
    /// What is cached.
    pub payload: L2Payload,
    /// When the entry was stored (wall clock: replicas share no monotonic clock).
    pub stored_at: SystemTime,
    /// How long after `stored_at` the entry is fresh.
    pub ttl: Duration,
    /// After the TTL, how long a stale entry may be served while one
    /// background refresh runs (zero: never; also zero for `must-revalidate`).
    pub stale_while_revalidate: Duration,
    /// After the TTL, how long a stale entry may be served when the backend
    /// fails (zero: never; also zero for `must-revalidate`).
    pub stale_if_error: Duration,
    /// The tags the entry carries, for [`L2Store::invalidate_tag`].
    pub tags: Vec<String>,
}

impl L2Entry {
    /// How long after `stored_at` the entry is of no more use: the TTL plus
    /// the longer stale window. Use it as the shared tier's expiry.
    #[must_use]
    pub fn expires_after(&self) -> Duration {
        self.ttl
            .saturating_add(self.stale_while_revalidate.max(self.stale_if_error))
    }

    /// How long ago the entry was stored, by this machine's wall clock (zero
    /// if `stored_at` is in the future, as with clock skew between replicas).
    #[must_use]
    pub fn age(&self) -> Duration {
        SystemTime::now()
            .duration_since(self.stored_at)
            .unwrap_or(Duration::ZERO)
    }

    /// Whether the entry is past [`expires_after`](Self::expires_after).
    #[must_use]
    pub fn is_expired(&self) -> bool {
        self.age() >= self.expires_after()
    }
}

/// What an [`L2Entry`] holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum L2Payload {
    /// A generic cache value: the `postcard` encoding of the value, made and
    /// read by the cache. The store carries these bytes as they are.
    Value(Bytes),
    /// A cached HTTP response (the cache strips hop-by-hop headers, `Age` and
    /// `x-cache` before it stores one).
    Response {
        /// The response status.
        status: http::StatusCode,
        /// The response headers.
        headers: http::HeaderMap,
        /// The whole response body.
        body: Bytes,
    },
    /// A marker stored under a URL's base key when its responses carry
    /// `Vary`: the lower-case names of the request headers that select a
    /// variant. The variants themselves are stored under the keys that
    /// include those headers' values.
    Vary(Vec<String>),
}

impl L2Payload {
    /// The number of payload bytes (value, or body plus headers), for
    /// metrics and size limits.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            L2Payload::Value(b) => b.len(),
            L2Payload::Response { headers, body, .. } => {
                body.len()
                    + headers
                        .iter()
                        .map(|(n, v)| n.as_str().len() + v.len())
                        .sum::<usize>()
            }
            L2Payload::Vary(names) => names.iter().map(String::len).sum(),
        }
    }

    /// Whether the payload holds no bytes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A purge announced by some replica, to be applied to every L1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purge {
    /// Drop the entry stored under this key (as given to [`L2Store::invalidate`]).
    Key(Bytes),
    /// Drop every entry carrying this tag.
    Tag(String),
    /// Drop everything (the store may have missed announcements).
    All,
}

/// Where a store delivers purges for one cache's L1. Cheap to clone; it holds
/// the cache only weakly, so a store never keeps a dropped cache alive.
#[derive(Clone)]
pub struct PurgeSink {
    target: Weak<dyn PurgeTarget>,
}

/// What a cache implements to receive purges (crate-private).
pub(crate) trait PurgeTarget: Send + Sync + 'static {
    fn purge(&self, purge: &Purge);
}

impl PurgeSink {
    pub(crate) fn new(target: Weak<dyn PurgeTarget>) -> Self {
        Self { target }
    }

    /// Applies `purge` to the cache's L1. Returns `false` when the cache has
    /// been dropped: the store should then forget this sink.
    pub fn purge(&self, purge: &Purge) -> bool {
        match self.target.upgrade() {
            Some(target) => {
                target.purge(purge);
                true
            }
            None => false,
        }
    }

    /// Whether the cache behind this sink still exists.
    #[must_use]
    pub fn is_alive(&self) -> bool {
        self.target.strong_count() > 0
    }
}

impl fmt::Debug for PurgeSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PurgeSink")
            .field("alive", &self.is_alive())
            .finish()
    }
}

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::{RedisStats, RedisStore, RedisStoreBuilder};
