//! All recording goes through here: the [`Recorder`] (the counters behind
//! [`Stats`] and the metric handles) and the tracing events. Without the
//! `metrics` / `tracing` features the emission compiles to nothing.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::stats::Stats;

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

    /// Records a hit; returns the number of hits before it.
    #[inline]
    pub(crate) fn record_hit(&self) -> u64 {
        let before = self.hits.fetch_add(1, Relaxed);
        self.metrics.record(Event::Hit);
        before
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

#[cfg(feature = "metrics")]
#[derive(Debug)]
pub(crate) struct Metrics {
    hit: metrics::Counter,
    miss: metrics::Counter,
    stale: metrics::Counter,
    stale_if_error: metrics::Counter,
    coalesced: metrics::Counter,
    bypass: metrics::Counter,
    refresh: metrics::Counter,
    refresh_error: metrics::Counter,
    evictions: metrics::Counter,
    entries: metrics::Gauge,
    bytes: metrics::Gauge,
}

#[cfg(feature = "metrics")]
impl Metrics {
    pub(crate) fn new(name: &str) -> Self {
        let requests = |result: &'static str| metrics::counter!("palisade_cache_requests_total", "name" => name.to_owned(), "result" => result);
        let refreshes = |result: &'static str| metrics::counter!("palisade_cache_refreshes_total", "name" => name.to_owned(), "result" => result);
        Self {
            hit: requests("hit"),
            miss: requests("miss"),
            stale: requests("stale"),
            stale_if_error: requests("stale_if_error"),
            coalesced: requests("coalesced"),
            bypass: requests("bypass"),
            refresh: refreshes("started"),
            refresh_error: refreshes("error"),
            evictions: metrics::counter!("palisade_cache_evictions_total", "name" => name.to_owned()),
            entries: metrics::gauge!("palisade_cache_entries", "name" => name.to_owned()),
            bytes: metrics::gauge!("palisade_cache_bytes", "name" => name.to_owned()),
        }
    }

    #[inline]
    pub(crate) fn record(&self, event: Event) {
        let c = match event {
            Event::Hit => &self.hit,
            Event::Miss => &self.miss,
            Event::Stale => &self.stale,
            Event::StaleIfError => &self.stale_if_error,
            Event::Coalesced => &self.coalesced,
            Event::Bypass => &self.bypass,
            Event::Refresh => &self.refresh,
            Event::RefreshFailure => &self.refresh_error,
            Event::Eviction => &self.evictions,
        };
        c.increment(1);
    }

    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn set_size(&self, entries: u64, weighed: u64) {
        self.entries.set(entries as f64);
        self.bytes.set(weighed as f64);
    }
}

#[cfg(not(feature = "metrics"))]
#[derive(Debug)]
pub(crate) struct Metrics;

#[cfg(not(feature = "metrics"))]
impl Metrics {
    pub(crate) fn new(_name: &str) -> Self {
        Self
    }
    #[inline]
    pub(crate) fn record(&self, _event: Event) {}
    pub(crate) fn set_size(&self, _entries: u64, _weighed: u64) {}
}

/// A background refresh or a coalesced call failed; the error went to the
/// waiters (or the stale entry was served).
pub(crate) fn fetch_failed(name: &str, error: &dyn std::error::Error) {
    #[cfg(feature = "tracing")]
    tracing::debug!(cache = name, error = %error, "cache fetch failed");
    #[cfg(not(feature = "tracing"))]
    let _ = (name, error);
}

/// A coalesced call lost its leader (cancelled); a waiter took over.
pub(crate) fn leader_taken_over(name: &str) {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        cache = name,
        "coalesced call cancelled by its leader; a waiter took over"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = name;
}

/// A purge from the shared tier was applied to this L1.
pub(crate) fn purged(name: &str, what: &crate::store::Purge) {
    #[cfg(feature = "tracing")]
    tracing::debug!(cache = name, purge = ?what, "purge applied to L1");
    #[cfg(not(feature = "tracing"))]
    let _ = (name, what);
}
