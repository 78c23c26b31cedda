//! The tracker handle and the state it shares with every service.

use std::{fmt, sync::Arc, time::Duration};

use tokio::time::Instant;

use crate::{
    LatencyLayer, LatencyTrackerBuilder,
    export::TrackerMetrics,
    histogram::shard_index,
    report::ReportService,
    route::{RouteFrom, Routes},
    snapshot::Snapshot,
};

/// Tracks the latency of every request through its [`layer`](Self::layer).
///
/// A cheap handle (an `Arc` inside): every clone, every layer made from it
/// and every service made from those layers record into the same state, so a
/// tracker applied to an axum `Router` with `Router::layer` sees all routes
/// together. Read it with [`snapshot`](Self::snapshot), or serve it with
/// [`report`](Self::report).
#[derive(Clone)]
pub struct LatencyTracker {
    pub(crate) shared: Arc<Shared>,
    /// One reference to `shared` per shard, each on its own cache line: a
    /// request clones its thread's one, so threads on different shards never
    /// write to the same reference count.
    handles: Arc<[Arc<ShardRef>]>,
}

impl LatencyTracker {
    /// Starts a builder for a tracker named `name` (the `name` metric label).
    pub fn builder(name: impl Into<String>) -> LatencyTrackerBuilder {
        LatencyTrackerBuilder::new(name)
    }

    /// A layer that records into this tracker.
    pub fn layer(&self) -> LatencyLayer {
        LatencyLayer::new(self)
    }

    /// The statistics recorded so far: cumulative and over the recent window.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::take(&self.shared)
    }

    /// A service that answers with this tracker's snapshot: JSON when the
    /// request accepts `application/json`, a self-contained HTML page otherwise.
    pub fn report(&self) -> ReportService {
        ReportService::new(self.clone())
    }

    /// The name given to the builder.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    pub(crate) fn new(shared: Shared) -> Self {
        let shared = Arc::new(shared);
        let handles = (0..shared.shards)
            .map(|_| {
                Arc::new(ShardRef {
                    shared: shared.clone(),
                })
            })
            .collect();
        Self { shared, handles }
    }

    /// This thread's reference to the shared state.
    #[inline]
    pub(crate) fn handle(&self) -> Arc<ShardRef> {
        self.handles[shard_index(self.handles.len())].clone()
    }
}

/// A reference to the shared state, aligned so that its reference count
/// has a cache line of its own.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct ShardRef {
    shared: Arc<Shared>,
}

impl std::ops::Deref for ShardRef {
    type Target = Shared;

    #[inline]
    fn deref(&self) -> &Shared {
        &self.shared
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for LatencyTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LatencyTracker")
            .field("name", &self.shared.name)
            .field("route", &self.shared.route_from)
            .field("routes", &self.shared.routes)
            .field("slow_threshold", &self.shared.slow_threshold)
            .field("blocking_threshold", &self.shared.blocking_threshold)
            .field("window", &self.shared.window)
            .field("shards", &self.shared.shards)
            .finish_non_exhaustive()
    }
}

/// The state shared by a tracker, its layers, services and futures.
pub(crate) struct Shared {
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

impl Shared {
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
