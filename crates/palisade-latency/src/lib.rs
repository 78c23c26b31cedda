//! Per-route latency tracking for tower services: how long requests take
//! (p50 … p99.9 and max), how many fail, which were slow, and which handlers
//! block the executor — cheap enough to leave on everywhere.
//!
//! Build a [`LatencyTracker`], put its [`layer`](LatencyTracker::layer) in a
//! stack, and read a [`Snapshot`] (or serve [`LatencyTracker::report`]):
//!
//! ```
//! use std::{convert::Infallible, time::Duration};
//! use http::{Request, Response};
//! use palisade_latency::{LatencyTracker, RouteFn, RouteFrom};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let tracker = LatencyTracker::builder("api")
//!     .route(RouteFrom::Fn(RouteFn::new(|head| {
//!         head.uri.path().starts_with("/users/").then_some("/users/{id}")
//!     })))
//!     .max_routes(256)
//!     .slow_threshold(Duration::from_millis(500))
//!     .blocking_threshold(Duration::from_millis(5))
//!     .window(Duration::from_secs(60))
//!     .build()?;
//!
//! let svc = ServiceBuilder::new()
//!     .layer(tracker.layer())
//!     .service(service_fn(|_req: Request<String>| async {
//!         Ok::<_, Infallible>(Response::new(String::from("hello")))
//!     }));
//!
//! let res = svc.oneshot(Request::get("/users/42").body(String::new())?).await?;
//! // The request is recorded when its body has been read (or dropped).
//! drop(res);
//!
//! let snap = tracker.snapshot();
//! let s = snap.route("GET", "/users/{id}").expect("recorded under its template");
//! assert_eq!(s.count, 1);
//! assert!(s.quantile(0.99) >= s.quantile(0.5));
//! # Ok(()) }
//! ```
//!
//! With axum, apply the layer with `Router::layer`, so it runs after routing:
//! the default route source ([`RouteFrom::Auto`]) then records the matched
//! template (`/users/{id}`) with no `.route(...)` call. With the `grpc`
//! feature it records the method of a gRPC request (a method the server
//! answers `UNIMPLEMENTED` is never a route: see [`RouteFrom::GrpcMethod`]);
//! anything else is [`UNMATCHED`].
//!
//! # What is recorded
//!
//! - Keys: route × method × status class (`1xx` … `5xx`, `error`). The route
//!   is never the raw path: it is a template from the [`RouteFrom`] source
//!   (a gRPC method only once the server has answered it),
//!   [`UNMATCHED`] when there is none, and [`OTHER`] for every route beyond
//!   `max_routes`. Methods outside the standard set are `_OTHER`.
//! - Two durations per request: to the response head, and to the end of the
//!   response body (the body is wrapped in a [`LatencyBody`]). A body dropped
//!   before its end, or a response future dropped before the response, is
//!   still recorded, counted as `aborted`.
//! - `errors`: requests ending in `5xx` or in an error of the inner service
//!   (class `error`), and, with the `grpc` feature, failed gRPC calls (see
//!   [gRPC](#grpc)).
//! - A cumulative view since the tracker was built, and a windowed one
//!   (the previous window and the current one, see
//!   [`LatencyTrackerBuilder::window`]) that rotates without losing anything
//!   from the cumulative view.
//!
//! # Cost and contention
//!
//! The clock is read twice per request: when it starts, and when it ends
//! (the end of the response body, or the error). The time to the response
//! head is taken, at no extra cost, from the blocking detector's read when
//! it is on; otherwise it is read when the server first polls the body
//! without the body ending — a third read only for bodies that stream
//! (servers poll the body right after they get the head; a body that ends in
//! its first poll has the same time to head and to end). Routes are found in
//! a read-mostly map without a lock or an allocation; each thread records
//! into its own shard of `hdrhistogram` recorders (each on its own cache
//! line) under a `std::sync::Mutex` held for two histogram increments, and
//! clones a per-shard reference to the shared state, so threads on different
//! shards write to no common cache line (an installed `metrics` recorder's
//! own handles aside). Snapshots merge the shards. Measured: about 157–164 ns of CPU per request (three runs) on one thread and the
//! same on two threads sharing a tracker and a route (`docs/BENCHMARKS.md`).
//!
//! # Memory
//!
//! Bounded, and only spent on keys that are seen. Each histogram spans 1 µs
//! to 1 h at 1% precision: 26 KiB. Each route × method × class in use holds
//! two histograms per shard in use plus four retired ones (cumulative and
//! previous window, head and end): at most `(2 × shards + 4) × 26 KiB`, i.e.
//! 208 KiB with 2 shards. The whole tracker is bounded by
//! `(max_routes + 2) × methods used × classes used × that`; a service whose
//! 20 routes each see one method and two classes uses about 8 MiB on a
//! 2-core machine. Fewer shards ([`LatencyTrackerBuilder::shards`]) trade
//! memory for contention.
//!
//! # Blocking-poll detector
//!
//! With [`blocking_threshold`](LatencyTrackerBuilder::blocking_threshold),
//! each poll of the inner future is timed; a poll longer than the threshold
//! means the handler held the executor thread (blocking I/O, CPU work not in
//! `spawn_blocking`). It is counted per route (`blocking_polls`) and reported
//! by a rate-limited `tracing` warning that names the fix: run the blocking
//! work on `palisade_shed::BlockingPool` — `pool.run(|| work()).await` in the
//! handler, or `pool.service(f)` as a tower service — a bounded pool on
//! tokio's blocking threads that rejects work beyond its queue instead of
//! stalling the executor. It costs two clock reads per poll of
//! the inner future — measured at about 57 ns of CPU per request for a
//! handler ready in one poll, on top of about 157–164 ns for tracking itself (a
//! shared 2-core VM; see `docs/BENCHMARKS.md`). Leave it on for ordinary
//! HTTP handlers, which are polled a handful of times per request and take
//! microseconds to milliseconds: it is the cheapest way to find the one
//! handler that stalls every other request on its thread. Leave it off where
//! the whole budget per request is a microsecond or two, or where futures are
//! polled very many times per request (long streams of small messages). A
//! threshold of 1–10 ms catches real blocking without noise from ordinary
//! polls.
//!
//! # Slow-request log
//!
//! With [`slow_threshold`](LatencyTrackerBuilder::slow_threshold), a request
//! whose end comes later than the threshold is counted (`slow`) and logged
//! with a `tracing` warning naming route, method, status and duration. Both
//! warnings are rate-limited to one per route per 10 seconds, with the count
//! of those held back.
//!
//! # Metrics
//!
//! With the `metrics` feature (default), through the `metrics` facade with
//! handles registered once and cached:
//! `http_server_request_duration_seconds` (histogram, labels `name`,
//! `http_request_method`, `http_route`, `http_response_status_code`, or
//! `error_type="error"` for errors of the inner service; a failed gRPC call
//! has both its HTTP status code and `error_type` = its gRPC code name), `http_server_active_requests` (gauge,
//! `name`), `palisade_latency_blocking_polls_total` and
//! `palisade_latency_slow_requests_total` (counters, `name`, `route`).
//!
//! # gRPC
//!
//! A gRPC call that fails is sent with HTTP status 200 and its failure in
//! `grpc-status`. With the `grpc` feature, every response with
//! `content-type: application/grpc*` (whatever the [`RouteFrom`]; the
//! default one keys it by its method) is classified by
//! `palisade-core`'s `GrpcErrors` (the one classification shared by every
//! Palisade layer): from its headers for a trailers-only response, or from
//! the trailers when the status comes at the end of the stream. A failure —
//! by default the server-side codes `UNKNOWN`, `DEADLINE_EXCEEDED`,
//! `UNIMPLEMENTED`, `INTERNAL`, `UNAVAILABLE`, `DATA_LOSS`; change them with
//! `LatencyTrackerBuilder::grpc_errors` — is recorded in the `error` class
//! and counted in `errors`, so a dashboard's error rate is the rate of failed
//! calls; any other code (`OK`, `NOT_FOUND`, ...) keeps its HTTP class
//! (`2xx`). The exported duration keeps `http_response_status_code` (the HTTP
//! status actually sent) and adds `error_type` with the gRPC code's name
//! (`"UNAVAILABLE"`), as the OpenTelemetry HTTP conventions ask for an error
//! that is not a 4xx/5xx status.
//!
//! # Features
//!
//! - `metrics` (default): export through the `metrics` facade.
//! - `tracing` (default): slow-request and blocking-poll warnings.
//! - `axum` (default): [`RouteFrom::AxumMatchedPath`], and the template in
//!   the default [`RouteFrom::Auto`].
//! - `grpc`: gRPC responses classified by their `grpc-status` (see [gRPC](#grpc)),
//!   and the gRPC method in the default [`RouteFrom::Auto`].
//!
//! # Contributor notes
//!
//! One middleware, so its files sit directly in `src/` (the workspace's
//! one crate layout); modules lower in this list import none above them.
//!
//! - `lib.rs`: these docs, the handle [`LatencyTracker`], re-exports.
//! - `builder.rs`: [`LatencyTrackerBuilder`], validated (`build()` returns a
//!   [`ConfigError`](palisade_core::ConfigError) naming the field).
//! - `layer.rs` ([`LatencyLayer`]), `service.rs` ([`LatencyService`], with
//!   `get_ref`/`get_mut`/`into_inner`), `future.rs` ([`future::ResponseFuture`]),
//!   `body.rs` ([`LatencyBody`], the end-of-body tracker).
//! - `traits.rs`: [`TrackRequest`] / [`TrackResponse`], what the layer needs
//!   from requests and responses; `completion.rs`: [`Completion`], one
//!   request in flight, recorded when it ends.
//! - `report/`: [`ReportService`] (`service.rs`), the JSON (`json.rs`), and
//!   the page shared with `palisade-health`'s status page (`page.rs`: the
//!   skeleton, `page.css`, and `page.js`, the renderer: DOM helpers, the
//!   latency table, the refresh loop), with `report.js` drawing the report.
//! - `snapshot.rs`: [`Snapshot`], [`View`], [`RouteStats`] — reads the state.
//! - `state.rs`: `TrackerState`, everything a tracker shares with its
//!   services and requests, and `ShardRef`, its per-shard reference; the bottom
//!   of the request path.
//! - `route.rs`: where a route label comes from ([`RouteFrom`], [`RouteFn`],
//!   [`RequestHead`], [`RouteName`]); `route_table.rs`: the bounded table of
//!   routes and their per method × class slots.
//! - `histogram.rs`: the sharded `hdrhistogram` recorders of one slot and
//!   their windows.
//! - `telemetry.rs`: the `metrics` handles and names; the two `tracing`
//!   warnings sit beside what they report: `slow.rs` (slow-request log) and
//!   `blocking.rs` (blocking-poll detector), both limited by `log_limit.rs`.
//! - Shared vocabulary, imported by many: `status_class.rs`
//!   ([`StatusClass`]), `method.rs` (the method labels), `grpc.rs` (gRPC
//!   status codes and names).
//!
//! Names: `<X>Builder`, `<X>Layer`, `<X>Service`, `future::ResponseFuture`;
//! internal building blocks are `pub(crate)`.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod blocking;
mod body;
mod builder;
mod completion;
pub mod future;
mod grpc;
mod histogram;
mod layer;
mod log_limit;
mod method;
mod report;
mod route;
mod route_table;
mod service;
mod slow;
mod snapshot;
mod state;
mod status_class;
mod telemetry;
mod traits;

use std::{fmt, sync::Arc};

pub use body::LatencyBody;
pub use builder::{DEFAULT_MAX_ROUTES, DEFAULT_WINDOW, LatencyTrackerBuilder, MAX_ROUTES_LIMIT};
pub use completion::Completion;
pub use layer::LatencyLayer;
pub use method::OTHER_METHOD;
pub use report::ReportService;
#[doc(hidden)]
pub use report::page;
pub use route::{OTHER, RequestHead, RouteFn, RouteFrom, RouteName, UNMATCHED};
pub use service::LatencyService;
pub use snapshot::{RouteStats, Snapshot, View};
pub use status_class::StatusClass;
pub use telemetry::{ACTIVE_REQUESTS, BLOCKING_POLLS, REQUEST_DURATION, SLOW_REQUESTS};
pub use traits::{TrackRequest, TrackResponse};

use crate::{
    histogram::shard_index,
    state::{ShardRef, TrackerState},
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
    pub(crate) shared: Arc<TrackerState>,
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
    /// request accepts `application/json` (or asks `?format=json`), otherwise
    /// a self-contained live HTML page drawn from that JSON (see [`ReportService`]).
    pub fn report(&self) -> ReportService {
        ReportService::new(self.clone())
    }

    /// The name given to the builder.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    pub(crate) fn new(shared: TrackerState) -> Self {
        let shared = Arc::new(shared);
        let handles = (0..shared.shards)
            .map(|_| Arc::new(ShardRef::new(shared.clone())))
            .collect();
        Self { shared, handles }
    }

    /// This thread's reference to the shared state.
    #[inline]
    pub(crate) fn handle(&self) -> Arc<ShardRef> {
        self.handles[shard_index(self.handles.len())].clone()
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

/// The README's code, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
