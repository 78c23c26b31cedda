//! [`Stats`]: counters of a cache, and the private recorder behind them.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::telemetry::Metrics;

/// A snapshot of a cache's counters, from [`Cache::stats`](crate::Cache::stats)
/// or [`HttpCache::stats`](crate::HttpCache::stats). Counters are cumulative
/// since the cache was built; `entries` and `weighed_size` are current.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Requests answered by a fresh entry.
    pub hits: u64,
    /// Requests that found no usable entry and led a call to the inner service.
    pub misses: u64,
    /// Requests answered by a stale entry: within stale-while-revalidate, or
    /// within stale-if-error after the inner service failed.
    pub stale_hits: u64,
    /// Requests that waited for another request's call for the same key
    /// (coalesced) instead of calling the inner service.
    pub coalesced: u64,
    /// Requests that went around the cache (no key, not cacheable, request
    /// `no-store`).
    pub bypassed: u64,
    /// Background refreshes started (stale-while-revalidate).
    pub refreshes: u64,
    /// Background refreshes and calls that failed (the entry was kept).
    pub refresh_failures: u64,
    /// Entries evicted by the size bound (not counting expiry or invalidation).
    pub evictions: u64,
    /// Entries currently held (approximate: moka applies writes in batches).
    pub entries: u64,
    /// Current weighed size: bytes with `max_bytes`, entries with `max_entries`.
    pub weighed_size: u64,
}

/// What one request turned out to be, for counters and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    Hit,
    Miss,
    Stale,
    StaleIfError,
    Coalesced,
    Bypass,
    Refresh,
    RefreshFailure,
    Eviction,
}

/// Atomic counters plus the metric handles of one cache.
#[derive(Debug)]
pub(crate) struct Recorder {
    hits: AtomicU64,
    misses: AtomicU64,
    stale_hits: AtomicU64,
    coalesced: AtomicU64,
    bypassed: AtomicU64,
    refreshes: AtomicU64,
    refresh_failures: AtomicU64,
    evictions: AtomicU64,
    metrics: Metrics,
}

impl Recorder {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            stale_hits: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
            bypassed: AtomicU64::new(0),
            refreshes: AtomicU64::new(0),
            refresh_failures: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            metrics: Metrics::new(name),
        }
    }

    #[inline]
    pub(crate) fn record(&self, event: Event) {
        let counter = match event {
            Event::Hit => &self.hits,
            Event::Miss => &self.misses,
            Event::Stale | Event::StaleIfError => &self.stale_hits,
            Event::Coalesced => &self.coalesced,
            Event::Bypass => &self.bypassed,
            Event::Refresh => &self.refreshes,
            Event::RefreshFailure => &self.refresh_failures,
            Event::Eviction => &self.evictions,
        };
        counter.fetch_add(1, Relaxed);
        self.metrics.record(event);
    }

    pub(crate) fn set_size(&self, entries: u64, weighed: u64) {
        self.metrics.set_size(entries, weighed);
    }

    pub(crate) fn snapshot(&self, entries: u64, weighed_size: u64) -> Stats {
        Stats {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            stale_hits: self.stale_hits.load(Relaxed),
            coalesced: self.coalesced.load(Relaxed),
            bypassed: self.bypassed.load(Relaxed),
            refreshes: self.refreshes.load(Relaxed),
            refresh_failures: self.refresh_failures.load(Relaxed),
            evictions: self.evictions.load(Relaxed),
            entries,
            weighed_size,
        }
    }
}
