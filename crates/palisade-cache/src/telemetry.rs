//! All recording goes through here; without the `metrics` / `tracing`
//! features these compile to nothing.

use crate::stats::Event;

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
