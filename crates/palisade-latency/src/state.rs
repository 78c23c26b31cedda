//! [`TrackerState`]: the state a tracker shares with its layers, services,
//! futures and bodies — its settings, its route table and its metric
//! handles — and [`ShardRef`], the per-shard reference to it that each
//! request clones. The bottom of the crate: it imports none of the modules
//! that use it.

use std::{fmt, sync::Arc, time::Duration};

use tokio::time::Instant;

use crate::{route::RouteFrom, route_table::Routes, telemetry::TrackerMetrics};

/// A reference to the shared state, aligned so that its reference count
/// has a cache line of its own.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct ShardRef {
    shared: Arc<TrackerState>,
}

impl ShardRef {
    /// A reference to `shared` of its own.
    pub(crate) fn new(shared: Arc<TrackerState>) -> Self {
        Self { shared }
    }
}

impl std::ops::Deref for ShardRef {
    type Target = TrackerState;

    #[inline]
    fn deref(&self) -> &TrackerState {
        &self.shared
    }
}

impl fmt::Debug for TrackerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrackerState")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The state shared by a tracker, its layers, services and futures.
pub(crate) struct TrackerState {
    pub(crate) name: Arc<str>,
    pub(crate) route_from: RouteFrom,
    pub(crate) routes: Routes,
    pub(crate) slow_threshold: Option<Duration>,
    pub(crate) blocking_threshold: Option<Duration>,
    pub(crate) window: Duration,
    window_us: u64,
    pub(crate) shards: usize,
    pub(crate) start: Instant,
    pub(crate) metrics: TrackerMetrics,
    /// Which gRPC status codes are failures.
    #[cfg(feature = "grpc")]
    pub(crate) grpc: palisade_core::grpc::GrpcErrors,
}

impl TrackerState {
    pub(crate) fn new(
        name: String,
        route_from: RouteFrom,
        max_routes: usize,
        slow_threshold: Option<Duration>,
        blocking_threshold: Option<Duration>,
        window: Duration,
        shards: usize,
    ) -> Self {
        let name: Arc<str> = Arc::from(name);
        Self {
            metrics: TrackerMetrics::new(&name),
            routes: Routes::new(max_routes, name.clone()),
            name,
            route_from,
            slow_threshold,
            blocking_threshold,
            window,
            window_us: u64::try_from(window.as_micros()).unwrap_or(u64::MAX).max(1),
            shards,
            start: Instant::now(),
            #[cfg(feature = "grpc")]
            grpc: palisade_core::grpc::GrpcErrors::new(),
        }
    }

    /// Microseconds from the tracker's start to `t`.
    #[inline]
    pub(crate) fn since_start_us(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.start).as_micros()).unwrap_or(u64::MAX)
    }

    /// The window that `t` falls in.
    #[inline]
    pub(crate) fn epoch_of(&self, t: Instant) -> u64 {
        self.since_start_us(t) / self.window_us
    }

    /// When window `epoch` started.
    pub(crate) fn epoch_start(&self, epoch: u64) -> Instant {
        let us = epoch.saturating_mul(self.window_us);
        self.start + Duration::from_micros(us)
    }
}
