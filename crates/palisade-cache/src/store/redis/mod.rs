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
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use bytes::Bytes;
use palisade_breaker::{CircuitBreaker, State};
use palisade_core::{Outcome, Rejected};
use redis::aio::ConnectionManager;
use redis::{FromRedisValue, RedisError};
use tokio::task::AbortHandle;
use tokio::time::Instant;

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
/// [`ConnectionManager`]. Give it (or clones of it) to
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
    conn: ConnectionManager,
    timeout: Duration,
    breaker: CircuitBreaker,
    keys: Keys,
    /// This store's id in purge announcements, to ignore its own echo.
    origin: u64,
    sinks: Arc<Sinks>,
    counters: Arc<Counters>,
    /// Background writes not finished yet (bounded by [`MAX_WRITES_IN_FLIGHT`]).
    writes_in_flight: AtomicUsize,
    /// Remembers how long the open breaker will refuse, to skip at once.
    gate: Gate,
    /// Set once Redis first answered (by the connector task).
    connection: Arc<Connection>,
    subscriber: AbortHandle,
    connector: AbortHandle,
}

/// Whether Redis answered since the store was built. Until it does the
/// store reports itself unavailable, so caches skip it without waiting.
#[derive(Debug, Default)]
pub(super) struct Connection {
    up: AtomicBool,
    changed: tokio::sync::Notify,
}

impl Connection {
    fn is_up(&self) -> bool {
        self.up.load(Relaxed)
    }

    fn set_up(&self) {
        self.up.store(true, Relaxed);
        self.changed.notify_waiters();
    }

    async fn wait_up(&self) {
        loop {
            let mut changed = std::pin::pin!(self.changed.notified());
            changed.as_mut().enable();
            if self.is_up() {
                return;
            }
            changed.await;
        }
    }
}

/// Pings Redis until it first answers (backing off from 50 ms to 1 s between
/// attempts), then marks the store connected. Later outages are the
/// breaker's business.
pub(super) async fn connect(
    conn: ConnectionManager,
    connection: Arc<Connection>,
    namespace: Arc<str>,
    connect_timeout: Duration,
) {
    let mut wait = Duration::from_millis(50);
    let mut warned = false;
    loop {
        let mut probe = conn.clone();
        let ping = redis::cmd("PING");
        let failure =
            match tokio::time::timeout(connect_timeout, ping.query_async::<()>(&mut probe)).await {
                Ok(Ok(())) => {
                    connection.set_up();
                    if warned {
                        events::connected(&namespace);
                    }
                    return;
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => "connection timed out".to_owned(),
            };
        if !warned {
            events::unreachable_at_build(&namespace, &failure);
            warned = true;
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(1));
    }
}

/// More background writes than this at once (a slow Redis under a burst of
/// misses) are dropped rather than piling up tasks.
const MAX_WRITES_IN_FLIGHT: usize = 1024;

/// The longest expiry given to Redis, in milliseconds (2^40 ms, ~34 years).
const MAX_EXPIRY_MS: u64 = 1 << 40;

impl Drop for Shared {
    fn drop(&mut self) {
        self.subscriber.abort();
        self.connector.abort();
    }
}

/// While the breaker is open, its `retry_after` says how long it will keep
/// refusing: until then, skip Redis with one atomic load and a clock read
/// instead of asking the breaker (which builds a rejection every time).
///
/// The same refusal also lowers `up`, the flag behind
/// [`L2Store::available`], and starts a timer that raises it again when the
/// wait is over, so callers that check `available` read one atomic and no
/// clock, and the breaker still gets its probe once it is due.
#[derive(Debug)]
struct Gate {
    base: Instant,
    /// Nanoseconds after `base` until which Redis is skipped (0: not skipping).
    until: AtomicU64,
    /// `false` from a refusal by the open breaker until its wait has passed.
    up: Arc<AtomicBool>,
}

impl Gate {
    fn new() -> Self {
        Self {
            base: Instant::now(),
            until: AtomicU64::new(0),
            up: Arc::new(AtomicBool::new(true)),
        }
    }

    fn elapsed_nanos(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether Redis is known to be refused right now.
    fn shut(&self) -> bool {
        let until = self.until.load(Relaxed);
        until != 0 && self.elapsed_nanos() < until
    }

    /// Only an open breaker's `retry_after` is the time until it probes
    /// again (half-open rejections say something else): only that shuts the
    /// gate.
    fn refused(&self, rejected: &Rejected, breaker: &CircuitBreaker) {
        if breaker.state() != State::Open {
            return;
        }
        if let Some(wait) = rejected.retry_after() {
            let nanos = u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX);
            let until = self.elapsed_nanos().saturating_add(nanos).max(1);
            self.until.store(until, Relaxed);
            self.lower_until(wait);
        }
    }

    /// Reports the tier unavailable for `wait`. Needs a runtime for the
    /// timer that raises the flag again; without one the flag stays up and
    /// only the clock-checked gate skips.
    fn lower_until(&self, wait: Duration) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self
            .up
            .compare_exchange(true, false, Relaxed, Relaxed)
            .is_err()
        {
            return; // a timer is already running
        }
        let up = Arc::clone(&self.up);
        runtime.spawn(async move {
            tokio::time::sleep(wait).await;
            up.store(true, Relaxed);
        });
    }

    /// Whether callers should bother asking: one atomic load (two while the
    /// breaker is open). A breaker forced open, or opened and not yet due
    /// for a probe, makes the tier unavailable; one moved out of `Open` by
    /// hand (reset, disable) makes it available at once.
    fn available(&self, breaker: &CircuitBreaker) -> bool {
        match breaker.state() {
            State::Open => self.up.load(Relaxed),
            State::ForcedOpen => false,
            _ => true,
        }
    }

    /// A permit from the breaker, unless Redis is to be skipped.
    fn admit(&self, breaker: &CircuitBreaker) -> Option<palisade_breaker::Permit> {
        if self.shut() {
            return None;
        }
        breaker
            .try_acquire()
            .map_err(|r| self.refused(&r, breaker))
            .ok()
    }
}

/// Why an operation did not complete.
enum Failed {
    Timeout,
    Error(RedisError),
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
        &self.shared.breaker
    }

    /// Whether Redis has answered since the store was built. Until then the
    /// store is [unavailable](L2Store::available) and caches skip it.
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.shared.connection.is_up()
    }

    /// Waits until Redis first answers, for at most `within`; returns
    /// whether it did. [`build`](RedisStoreBuilder::build) never waits: an
    /// application that wants the L2 from its very first request awaits
    /// this at start-up (and decides what to do if Redis is down).
    pub async fn connected(&self, within: Duration) -> bool {
        tokio::time::timeout(within, self.shared.connection.wait_up())
            .await
            .is_ok()
    }
}

impl Shared {
    /// Runs one Redis command or pipeline under the breaker and the timeout.
    async fn run<T: FromRedisValue>(
        &self,
        permit: palisade_breaker::Permit,
        request: &(impl Request + ?Sized),
    ) -> Result<T, Failed> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.timeout, request.send(&mut conn)).await {
            Ok(Ok(value)) => match T::from_redis_value(value) {
                Ok(v) => {
                    permit.record(Outcome::Success);
                    Ok(v)
                }
                Err(e) => {
                    // Redis answered: it is alive, the reply was unexpected.
                    permit.record(Outcome::Ignored);
                    Err(Failed::Error(e.into()))
                }
            },
            Ok(Err(e)) => {
                permit.record(if is_server_reply(&e) {
                    Outcome::Ignored
                } else {
                    Outcome::Failure
                });
                Err(Failed::Error(e))
            }
            Err(_) => {
                permit.record(Outcome::Failure);
                Err(Failed::Timeout)
            }
        }
    }

    /// Like [`run`](Self::run), without a breaker permit: for invalidations,
    /// which are rare and worth attempting even when Redis looked dead.
    async fn run_unguarded(&self, request: &(impl Request + ?Sized)) -> Result<(), Failed> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.timeout, request.send(&mut conn)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Failed::Error(e)),
            Err(_) => Err(Failed::Timeout),
        }
    }

    async fn get(&self, key: &[u8]) -> Option<L2Entry> {
        let Some(permit) = self.gate.admit(&self.breaker) else {
            self.counters.lookup(Lookup::Skipped);
            return None;
        };
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.keys.entry(key));
        let found: Option<Bytes> = match self.run(permit, &cmd).await {
            Ok(found) => found,
            Err(failed) => {
                self.counters.lookup(match failed {
                    Failed::Timeout => Lookup::Timeout,
                    Failed::Error(_) => Lookup::Error,
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

    async fn write(
        &self,
        permit: palisade_breaker::Permit,
        key: Bytes,
        entry: L2Entry,
        millis: u64,
    ) {
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
        let ok = self.run::<()>(permit, &pipe).await.is_ok();
        self.counters.write(ok);
    }

    async fn announce(&self, request: &(impl Request + ?Sized), purge: &Purge) {
        match self.run_unguarded(request).await {
            Ok(()) => self.counters.sent(),
            Err(Failed::Error(e)) => events::invalidation_failed(&self.namespace, &e),
            Err(Failed::Timeout) => {
                events::invalidation_failed(&self.namespace, &"timed out");
            }
        }
        // Caches sharing this store in this process hear it directly (their
        // own echo from Redis is ignored), even when Redis is unreachable.
        self.sinks.deliver(purge);
    }
}

/// A Redis command or pipeline, sent on the multiplexed connection.
trait Request: Sync {
    fn send<'a>(
        &'a self,
        conn: &'a mut ConnectionManager,
    ) -> impl Future<Output = redis::RedisResult<redis::Value>> + Send + 'a;
}

impl Request for redis::Cmd {
    fn send<'a>(
        &'a self,
        conn: &'a mut ConnectionManager,
    ) -> impl Future<Output = redis::RedisResult<redis::Value>> + Send + 'a {
        self.query_async(conn)
    }
}

impl Request for redis::Pipeline {
    fn send<'a>(
        &'a self,
        conn: &'a mut ConnectionManager,
    ) -> impl Future<Output = redis::RedisResult<redis::Value>> + Send + 'a {
        self.query_async(conn)
    }
}

/// An error reply from a live server, as opposed to a connection problem.
fn is_server_reply(e: &RedisError) -> bool {
    !(e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error())
}

impl L2Store for RedisStore {
    fn get<'a>(&'a self, key: &'a [u8]) -> L2Future<'a, Option<L2Entry>> {
        Box::pin(self.shared.get(key))
    }

    fn put(&self, key: Bytes, entry: L2Entry) {
        let Some(permit) = self.shared.gate.admit(&self.shared.breaker) else {
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
        self.shared.connection.is_up() && self.shared.gate.available(&self.shared.breaker)
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
            .field("timeout", &self.shared.timeout)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}
