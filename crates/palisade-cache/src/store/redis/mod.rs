//! The Redis L2 (feature `redis`): see [`RedisStore`].

mod builder;
mod events;
mod keys;
mod stats;
mod subscriber;
#[cfg(test)]
mod tests;

pub use builder::RedisStoreBuilder;
pub use stats::RedisStats;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use bytes::Bytes;
use palisade_breaker::CircuitBreaker;
use palisade_redis::{RedisConnection, RedisFailure, RedisRequest};
use tokio::task::AbortHandle;

use crate::store::codec;
use crate::store::{L2Entry, L2Future, L2Store, Purge, PurgeSink};
use keys::{Keys, encode_purge};
use stats::{Counters, Lookup};
use subscriber::Sinks;

/// Deletes every entry of a tag, the tag's set, and announces the purge, in
/// one atomic step. `KEYS[1]`: the tag set; `ARGV[1]`: the channel;
/// `ARGV[2]`: the announcement.
const INVALIDATE_TAG: &str = r"
local members = redis.call('SMEMBERS', KEYS[1])
for i = 1, #members, 500 do
  redis.call('DEL', unpack(members, i, math.min(i + 499, #members)))
end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return #members
";

/// A Redis-backed [`L2Store`]: a second cache tier shared by every replica
/// that uses the same namespace. Cheap to clone: clones share one connection,
/// one breaker and one purge subscriber (which stops when the last clone is
/// dropped). Built with [`RedisStore::builder`].
///
/// It runs on redis-rs's multiplexed, self-reconnecting
/// [`ConnectionManager`](redis::aio::ConnectionManager), through
/// [`palisade_redis::RedisConnection`]. Give it (or clones of it) to
/// [`CacheBuilder::l2`](crate::CacheBuilder::l2) and to
/// `HttpCacheBuilder::l2`; one store may serve several caches:
///
/// ```no_run
/// # async fn run() -> Result<(), palisade_core::ConfigError> {
/// use std::time::Duration;
/// use palisade_cache::{Cache, RedisStore};
///
/// let l2 = RedisStore::builder("redis://127.0.0.1:6379")
///     .namespace("users")                 // key prefix and purge channel
///     .timeout(Duration::from_millis(50)) // per operation
///     .build()
///     .await?;                            // Redis down? Still Ok: fails open
/// let cache: Cache<u64, String> = Cache::builder("users")
///     .ttl(Duration::from_secs(60))
///     .l2(l2.clone())
///     .build()?;
/// # drop(cache);
/// # Ok(())
/// # }
/// ```
///
/// # Behaviour
///
/// - **Reads**: one `GET` per L1 miss (the cache coalesces concurrent misses
///   before asking the L2). The value is a versioned binary envelope carrying
///   the entry's freshness (when it was stored, TTL, stale windows), so a
///   replica never serves something staler than the rules allow.
/// - **Writes** run in a background task: `SET` with an expiry of the entry's
///   remaining lifetime (TTL plus stale window), and the key added to one
///   set per tag, whose expiry is extended to cover its longest-lived entry.
///   The request never waits for them.
/// - **Failing open**: every operation has the configured timeout; an error or
///   timeout is a miss (counted), never an error to the caller. A
///   [`palisade_breaker::CircuitBreaker`] watches the outcomes: after repeated
///   failures Redis is skipped (lookups cost nothing, count as `skipped`) and
///   probed again later. While it is skipped,
///   [`available`](L2Store::available) is `false` (one atomic load, no clock
///   read), so caches do no L2 work at all, not even encoding; it turns
///   `true` again when the breaker is due for a probe. Values that do not decode are a miss, counted as
///   `undecodable`, never served; the next fill overwrites them.
/// - **Purge everywhere**: [`invalidate`](L2Store::invalidate) deletes the key,
///   [`invalidate_tag`](L2Store::invalidate_tag) deletes every key of the tag
///   (atomically, in a script), and both publish on the namespace's channel.
///   Each store runs one background subscriber (reconnecting on its own) that
///   hands purges from other replicas to its caches' L1s; after a lost
///   subscription it clears them entirely, since it cannot know what it
///   missed. Local caches sharing the store are purged directly. Invalidations
///   are attempted even while the breaker is open.
///
/// Tagged entries need Redis 7.0 or later (`PEXPIRE .. NX` / `GT`); on an
/// older server their writes fail (counted) and they are simply not shared.
/// Only keys under `palisade:<namespace>:` are ever touched.
///
/// # Metrics
///
/// With the `name` label set to the namespace:
/// `palisade_cache_l2_requests_total{name,result}` (`hit`, `miss`, `error`,
/// `timeout`, `skipped`, `undecodable`) and
/// `palisade_cache_invalidations_total{name,direction}` (`sent`, `received`).
/// The same counts, and writes, are in [`RedisStore::stats`].
#[derive(Clone)]
pub struct RedisStore {
    shared: Arc<Shared>,
}

struct Shared {
    namespace: Arc<str>,
    /// The guarded connection (timeout, breaker, background connect),
    /// shared with every other Palisade user of `palisade-redis`.
    redis: RedisConnection,
    keys: Keys,
    /// This store's id in purge announcements, to ignore its own echo.
    origin: u64,
    sinks: Arc<Sinks>,
    counters: Arc<Counters>,
    /// Background writes not finished yet (bounded by [`MAX_WRITES_IN_FLIGHT`]).
    writes_in_flight: AtomicUsize,
    subscriber: AbortHandle,
}

/// More background writes than this at once (a slow Redis under a burst of
/// misses) are dropped rather than piling up tasks.
const MAX_WRITES_IN_FLIGHT: usize = 1024;

/// The longest expiry given to Redis, in milliseconds (2^40 ms, ~34 years).
const MAX_EXPIRY_MS: u64 = 1 << 40;

impl Drop for Shared {
    fn drop(&mut self) {
        self.subscriber.abort();
    }
}

impl RedisStore {
    /// Starts configuring a store for the Redis at `url`
    /// (`redis://[user:password@]host:port[/db]`).
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder::new(url.into())
    }

    /// The namespace: key prefix, purge channel and `name` label of the metrics.
    #[must_use]
    pub fn namespace(&self) -> &str {
        &self.shared.namespace
    }

    /// What the store did so far.
    #[must_use]
    pub fn stats(&self) -> RedisStats {
        self.shared.counters.snapshot()
    }

    /// The breaker that decides when Redis is skipped (for its state and
    /// snapshot; forcing it open turns the L2 off).
    #[must_use]
    pub fn breaker(&self) -> &CircuitBreaker {
        self.shared.redis.breaker()
    }

    /// Whether Redis has answered since the store was built. Until then the
    /// store is [unavailable](L2Store::available) and caches skip it.
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.shared.redis.is_connected()
    }

    /// Waits until Redis first answers, for at most `within`; returns
    /// whether it did. [`build`](RedisStoreBuilder::build) never waits: an
    /// application that wants the L2 from its very first request awaits
    /// this at start-up (and decides what to do if Redis is down).
    pub async fn connected(&self, within: Duration) -> bool {
        self.shared.redis.connected(within).await
    }
}

impl Shared {
    async fn get(&self, key: &[u8]) -> Option<L2Entry> {
        let Some(permit) = self.redis.admit() else {
            self.counters.lookup(Lookup::Skipped);
            return None;
        };
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.keys.entry(key));
        let found: Option<Bytes> = match self.redis.run(permit, &cmd).await {
            Ok(found) => found,
            Err(failed) => {
                self.counters.lookup(match failed {
                    RedisFailure::Timeout => Lookup::Timeout,
                    RedisFailure::Error(_) => Lookup::Error,
                });
                return None;
            }
        };
        let Some(bytes) = found else {
            self.counters.lookup(Lookup::Miss);
            return None;
        };
        match codec::decode(&bytes) {
            Ok(entry) if entry.is_expired() => {
                self.counters.lookup(Lookup::Miss);
                None
            }
            Ok(entry) => {
                self.counters.lookup(Lookup::Hit);
                Some(entry)
            }
            Err(e) => {
                events::undecodable(&self.namespace, &e);
                self.counters.lookup(Lookup::Undecodable);
                None
            }
        }
    }

    async fn write(&self, permit: palisade_redis::Permit, key: Bytes, entry: L2Entry, millis: u64) {
        let entry_key = self.keys.entry(&key);
        let value = match codec::encode(&entry) {
            Ok(value) => value,
            Err(e) => {
                events::not_encodable(&self.namespace, &e);
                self.counters.write(false);
                return;
            }
        };
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("SET")
            .arg(&entry_key)
            .arg(value)
            .arg("PX")
            .arg(millis)
            .ignore();
        for tag in &entry.tags {
            let tag_key = self.keys.tag(tag);
            pipe.cmd("SADD").arg(&tag_key).arg(&entry_key).ignore();
            // A new set gets the entry's expiry; an existing one is only ever
            // extended, so it outlives each of its entries.
            pipe.cmd("PEXPIRE")
                .arg(&tag_key)
                .arg(millis)
                .arg("NX")
                .ignore();
            pipe.cmd("PEXPIRE")
                .arg(&tag_key)
                .arg(millis)
                .arg("GT")
                .ignore();
        }
        let ok = self.redis.run::<()>(permit, &pipe).await.is_ok();
        self.counters.write(ok);
    }

    async fn announce(&self, request: &(impl RedisRequest + ?Sized), purge: &Purge) {
        match self.redis.run_unguarded(request).await {
            Ok(()) => self.counters.sent(),
            Err(RedisFailure::Error(e)) => events::invalidation_failed(&self.namespace, &e),
            Err(RedisFailure::Timeout) => {
                events::invalidation_failed(&self.namespace, &"timed out");
            }
        }
        // Caches sharing this store in this process hear it directly (their
        // own echo from Redis is ignored), even when Redis is unreachable.
        self.sinks.deliver(purge);
    }
}

impl L2Store for RedisStore {
    fn get<'a>(&'a self, key: &'a [u8]) -> L2Future<'a, Option<L2Entry>> {
        Box::pin(self.shared.get(key))
    }

    fn put(&self, key: Bytes, entry: L2Entry) {
        let Some(permit) = self.shared.redis.admit() else {
            self.shared.counters.write(false);
            return;
        };
        // The Redis expiry: what is left of the entry's lifetime, in whole
        // milliseconds. Nothing left, nothing to write.
        let left = entry.expires_after().saturating_sub(entry.age());
        // Redis refuses expiries past its clock's range: cap them (at about
        // 34 years, far beyond any entry's useful life).
        let millis = u64::try_from(left.as_millis())
            .unwrap_or(u64::MAX)
            .min(MAX_EXPIRY_MS);
        if millis == 0 {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Outside a runtime there is nowhere to write from: skip it.
            self.shared.counters.write(false);
            return;
        };
        let shared = self.shared.clone();
        if shared.writes_in_flight.fetch_add(1, Relaxed) >= MAX_WRITES_IN_FLIGHT {
            shared.writes_in_flight.fetch_sub(1, Relaxed);
            shared.counters.write(false);
            return;
        }
        runtime.spawn(async move {
            shared.write(permit, key, entry, millis).await;
            shared.writes_in_flight.fetch_sub(1, Relaxed);
        });
    }

    fn invalidate<'a>(&'a self, key: &'a [u8]) -> L2Future<'a, ()> {
        Box::pin(async move {
            let shared = &self.shared;
            let purge = Purge::Key(Bytes::copy_from_slice(key));
            let mut pipe = redis::pipe();
            pipe.atomic();
            pipe.cmd("DEL").arg(shared.keys.entry(key)).ignore();
            if let Some(message) = encode_purge(shared.origin, &purge) {
                pipe.cmd("PUBLISH")
                    .arg(shared.keys.channel())
                    .arg(message)
                    .ignore();
            }
            shared.announce(&pipe, &purge).await;
        })
    }

    fn invalidate_tag<'a>(&'a self, tag: &'a str) -> L2Future<'a, ()> {
        Box::pin(async move {
            let shared = &self.shared;
            let purge = Purge::Tag(tag.to_owned());
            let message = encode_purge(shared.origin, &purge).unwrap_or_default();
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(INVALIDATE_TAG)
                .arg(1)
                .arg(shared.keys.tag(tag))
                .arg(shared.keys.channel())
                .arg(message);
            shared.announce(&cmd, &purge).await;
        })
    }

    fn subscribe(&self, sink: PurgeSink) {
        self.shared.sinks.add(sink);
    }

    /// `false` until Redis first answered (see
    /// [`RedisStore::connected`]), and while the breaker is forced open, or
    /// open and not yet due for a probe (two atomic loads when closed, no
    /// clock read).
    fn available(&self) -> bool {
        self.shared.redis.available()
    }

    /// Counted as a `skipped` lookup, like one the store skips itself.
    fn skipped_get(&self) {
        self.shared.counters.lookup(Lookup::Skipped);
    }

    /// Counted as a write failure, like one the store skips itself.
    fn skipped_put(&self) {
        self.shared.counters.write(false);
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("namespace", &self.shared.namespace)
            .field("timeout", &self.shared.redis.timeout())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}
