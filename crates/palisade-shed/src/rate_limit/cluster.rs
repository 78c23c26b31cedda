//! Cluster mode: the same GCRA kept in Redis, one atomic script per check.
//!
//! Imports nothing from the files above it but [`ClusterKey`](super::cluster_key).

use std::time::Duration;

use palisade_redis::{Permit, RedisConnection, RedisFailure, redis};

use super::cluster_key::ClusterKey;

/// The GCRA of one bucket in one round trip (the redis-cell / Stripe
/// pattern). `KEYS[1]`: the bucket; `ARGV[1]`: the emission interval and
/// `ARGV[2]`: the burst tolerance (`interval * burst`), in microseconds.
/// Returns `{1, 0}` when admitted, `{0, wait}` (microseconds) when not.
///
/// The time is Redis's own (`TIME`): every replica measures against the one
/// clock that keeps the bucket, so clock skew between hosts can neither
/// grant nor refuse extra requests, and it costs no extra round trip. The
/// theoretical arrival time is stored in whole microseconds (`%.0f`: Lua's
/// `tostring` would round 16 digits) and expires when the bucket is full
/// again, so Redis holds only buckets that are in use.
pub(crate) const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - tolerance - now
if wait > 0 then return {0, wait} end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, 0}
";

/// The Redis side of a cluster-wide limit: the shared connection, the
/// script and the bucket parameters.
pub(crate) struct ClusterLimiter<K> {
    redis: RedisConnection,
    script: redis::Script,
    /// `<prefix><name>:`, the start of every bucket's key.
    key_prefix: Box<[u8]>,
    interval_us: u64,
    tolerance_us: u64,
    encode: fn(&K, &mut Vec<u8>),
}

/// A check admitted by the breaker, ready to be sent.
pub(crate) struct PendingCheck {
    permit: Permit,
    key: Vec<u8>,
}

impl<K> ClusterLimiter<K> {
    /// `interval` is `period / rate`, at least 1 µs (validated by the builder).
    pub(crate) fn new(
        redis: RedisConnection,
        prefix: &str,
        name: &str,
        interval: Duration,
        burst: u32,
    ) -> Self
    where
        K: ClusterKey,
    {
        let interval_us = u64::try_from(interval.as_micros()).unwrap_or(u64::MAX);
        let mut key_prefix = Vec::with_capacity(prefix.len() + name.len() + 1);
        key_prefix.extend_from_slice(prefix.as_bytes());
        key_prefix.extend_from_slice(name.as_bytes());
        key_prefix.push(b':');
        Self {
            redis,
            script: redis::Script::new(GCRA),
            key_prefix: key_prefix.into(),
            interval_us,
            tolerance_us: interval_us.saturating_mul(u64::from(burst)),
            encode: |key, out| key.write_cluster_key(out),
        }
    }

    /// The connection.
    pub(crate) fn redis(&self) -> &RedisConnection {
        &self.redis
    }

    /// A check to send, or `None` when Redis is to be skipped (not
    /// connected yet, or the breaker open): then the local limiter decides.
    #[inline]
    pub(crate) fn begin(&self, key: &K) -> Option<PendingCheck> {
        if !self.redis.available() {
            return None;
        }
        let permit = self.redis.admit()?;
        let mut bytes = Vec::with_capacity(self.key_prefix.len() + 32);
        bytes.extend_from_slice(&self.key_prefix);
        (self.encode)(key, &mut bytes);
        Some(PendingCheck { permit, key: bytes })
    }

    /// Runs the script: `Ok(None)` admitted, `Ok(Some(wait))` refused.
    ///
    /// # Errors
    ///
    /// Redis timed out or failed (the breaker has been told).
    pub(crate) async fn check(
        &self,
        pending: PendingCheck,
    ) -> Result<Option<Duration>, RedisFailure> {
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(pending.key)
            .arg(self.interval_us)
            .arg(self.tolerance_us);
        match self
            .redis
            .run::<(i64, i64)>(pending.permit, &invocation)
            .await
        {
            Ok((1, _)) => Ok(None),
            Ok((_, wait)) => Ok(Some(Duration::from_micros(
                u64::try_from(wait).unwrap_or(0).max(1),
            ))),
            Err(failure) => Err(failure),
        }
    }
}

impl<K> std::fmt::Debug for ClusterLimiter<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterLimiter")
            .field("redis", &self.redis)
            .field("key_prefix", &String::from_utf8_lossy(&self.key_prefix))
            .field("interval_us", &self.interval_us)
            .field("tolerance_us", &self.tolerance_us)
            .finish_non_exhaustive()
    }
}
