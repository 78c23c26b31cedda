//! Caches as components.

use std::hash::Hash;

use palisade_cache::{Cache, HttpCache, Stats};
use serde_json::json;

use crate::{Check, CheckFuture, Component, IntoComponent, Options};

/// What a [`CacheComponent`] reads: implemented for [`Cache`] and [`HttpCache`].
pub trait CacheHandle: Send + Sync + 'static {
    /// The cache's name.
    fn name(&self) -> &str;
    /// The cache's counters and size.
    fn stats(&self) -> Stats;
}

impl<K, V> CacheHandle for Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        Cache::name(self)
    }
    fn stats(&self) -> Stats {
        Cache::stats(self)
    }
}

impl CacheHandle for HttpCache {
    fn name(&self) -> &str {
        HttpCache::name(self)
    }
    fn stats(&self) -> Stats {
        HttpCache::stats(self)
    }
}

/// A [`Cache`] or [`HttpCache`] on the status page: hit ratio, stale
/// entries served, size. A cache always answers, so it is `UP`; with
/// [`l2`](Self::l2) (feature `redis`) it is `DEGRADED` while its Redis
/// tier is skipped (the store's breaker is open).
#[derive(Debug)]
pub struct CacheComponent<H> {
    cache: H,
    #[cfg(feature = "redis")]
    l2: Option<palisade_cache::RedisStore>,
}

impl<H: CacheHandle> CacheComponent<H> {
    /// Shows `cache`; the component is called by the cache's name.
    pub fn new(cache: H) -> Self {
        Self {
            cache,
            #[cfg(feature = "redis")]
            l2: None,
        }
    }

    /// Reports the state of the cache's Redis tier too.
    #[cfg(feature = "redis")]
    #[must_use]
    pub fn l2(mut self, store: palisade_cache::RedisStore) -> Self {
        self.l2 = Some(store);
        self
    }
}

impl<H: CacheHandle> Component for CacheComponent<H> {
    fn name(&self) -> &str {
        self.cache.name()
    }

    fn kind(&self) -> &'static str {
        "cache"
    }

    fn default_options(&self) -> Options {
        super::HANDLE_OPTIONS
    }

    fn check(&self) -> CheckFuture<'_> {
        let stats = self.cache.stats();
        let lookups = stats.hits + stats.misses;
        // Whether the Redis tier is in use, when there is one.
        #[cfg(feature = "redis")]
        let l2 = self.l2.as_ref().map(super::redis::l2_up);
        #[cfg(not(feature = "redis"))]
        let l2: Option<bool> = None;
        let data = json!({
            "hits": stats.hits,
            "misses": stats.misses,
            "hit_ratio": if lookups == 0 { None } else { Some(stats.hits as f64 / lookups as f64) },
            "stale_hits": stats.stale_hits,
            "coalesced": stats.coalesced,
            "refresh_failures": stats.refresh_failures,
            "entries": stats.entries,
            "weighed_size": stats.weighed_size,
            "l2": l2.map(|up| if up { "up" } else { "down" }),
        });
        let check = if l2 == Some(false) {
            Check::degraded("Redis tier unavailable: serving from memory")
        } else {
            Check::up()
        };
        Box::pin(std::future::ready(check.with_data(data)))
    }
}

impl<K, V> IntoComponent for Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    type Component = CacheComponent<Cache<K, V>>;

    fn into_component(self) -> Self::Component {
        CacheComponent::new(self)
    }
}

impl IntoComponent for HttpCache {
    type Component = CacheComponent<HttpCache>;

    fn into_component(self) -> Self::Component {
        CacheComponent::new(self)
    }
}
