//! [`Stats`]: a snapshot of a cache's counters (kept by the recorder in
//! `telemetry.rs`).

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
