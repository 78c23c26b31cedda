//! Counters of what the Redis tier did, exposed as [`RedisStats`] and through
//! the `metrics` facade.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[cfg(feature = "metrics")]
use metrics::Counter;

/// What happened to one L2 lookup (the `result` label of
/// `palisade_cache_l2_requests_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    Hit,
    Miss,
    Error,
    Timeout,
    Skipped,
    Undecodable,
}

#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
impl Lookup {
    const ALL: [Lookup; 6] = [
        Lookup::Hit,
        Lookup::Miss,
        Lookup::Error,
        Lookup::Timeout,
        Lookup::Skipped,
        Lookup::Undecodable,
    ];

    fn label(self) -> &'static str {
        match self {
            Lookup::Hit => "hit",
            Lookup::Miss => "miss",
            Lookup::Error => "error",
            Lookup::Timeout => "timeout",
            Lookup::Skipped => "skipped",
            Lookup::Undecodable => "undecodable",
        }
    }
}

/// A snapshot of a [`RedisStore`](super::RedisStore)'s counters, from
/// [`RedisStore::stats`](super::RedisStore::stats). Counters only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisStats {
    /// Lookups answered with an entry.
    pub hits: u64,
    /// Lookups that found nothing (or an entry already past its lifetime).
    pub misses: u64,
    /// Lookups that failed with a Redis or connection error (a miss to the cache).
    pub errors: u64,
    /// Lookups that took longer than the configured timeout (a miss to the cache).
    pub timeouts: u64,
    /// Lookups not sent because the breaker was open (a miss to the cache).
    pub skipped: u64,
    /// Values that did not decode: foreign, corrupted or from another
    /// version (a miss to the cache; the next fill overwrites them).
    pub undecodable: u64,
    /// Writes that Redis acknowledged.
    pub writes: u64,
    /// Writes that failed, timed out, or were not sent (breaker open, too many
    /// writes in flight).
    pub write_failures: u64,
    /// Purges this store announced to the other replicas.
    pub invalidations_sent: u64,
    /// Purges received from other replicas, including the "clear everything"
    /// sent to the local caches after the subscription reconnected.
    pub invalidations_received: u64,
    /// Times the purge subscription was (re)established after a loss.
    pub resubscriptions: u64,
}

impl RedisStats {
    /// The number of `GET`s actually sent to Redis (every lookup except the
    /// skipped ones).
    #[must_use]
    pub fn gets(&self) -> u64 {
        self.hits + self.misses + self.errors + self.timeouts + self.undecodable
    }
}

/// The live counters, shared by the store, its writes and its subscriber.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    lookups: [AtomicU64; 6],
    writes: AtomicU64,
    write_failures: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
    resubscriptions: AtomicU64,
    #[cfg(feature = "metrics")]
    metrics: Option<Metrics>,
}

#[cfg(feature = "metrics")]
#[derive(Debug)]
struct Metrics {
    lookups: [Counter; 6],
    sent: Counter,
    received: Counter,
}

impl Counters {
    /// Counters whose metrics carry `name` as their `name` label.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn new(name: &str) -> Self {
        Self {
            #[cfg(feature = "metrics")]
            metrics: Some(Metrics {
                lookups: Lookup::ALL.map(|result| {
                    metrics::counter!(
                        "palisade_cache_l2_requests_total",
                        "name" => name.to_owned(),
                        "result" => result.label(),
                    )
                }),
                sent: metrics::counter!(
                    "palisade_cache_invalidations_total",
                    "name" => name.to_owned(),
                    "direction" => "sent",
                ),
                received: metrics::counter!(
                    "palisade_cache_invalidations_total",
                    "name" => name.to_owned(),
                    "direction" => "received",
                ),
            }),
            ..Self::default()
        }
    }

    pub(crate) fn lookup(&self, result: Lookup) {
        let i = result as usize;
        self.lookups[i].fetch_add(1, Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.metrics {
            m.lookups[i].increment(1);
        }
    }

    pub(crate) fn write(&self, ok: bool) {
        if ok {
            self.writes.fetch_add(1, Relaxed);
        } else {
            self.write_failures.fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn sent(&self) {
        self.sent.fetch_add(1, Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.metrics {
            m.sent.increment(1);
        }
    }

    pub(crate) fn received(&self) {
        self.received.fetch_add(1, Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.metrics {
            m.received.increment(1);
        }
    }

    pub(crate) fn resubscribed(&self) {
        self.resubscriptions.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> RedisStats {
        let l = |r: Lookup| self.lookups[r as usize].load(Relaxed);
        RedisStats {
            hits: l(Lookup::Hit),
            misses: l(Lookup::Miss),
            errors: l(Lookup::Error),
            timeouts: l(Lookup::Timeout),
            skipped: l(Lookup::Skipped),
            undecodable: l(Lookup::Undecodable),
            writes: self.writes.load(Relaxed),
            write_failures: self.write_failures.load(Relaxed),
            invalidations_sent: self.sent.load(Relaxed),
            invalidations_received: self.received.load(Relaxed),
            resubscriptions: self.resubscriptions.load(Relaxed),
        }
    }
}
