//! Deadline-aware timeouts and load shedding for tower services.
//!
//! - [`Timeout`]: a timeout that takes the caller's own deadline into
//!   account (`grpc-timeout`, a header of your choice, an outer Palisade
//!   timeout), gives handlers the request's [`Deadline`]
//!   ([`Deadline::current()`]) and, through [`PropagateDeadlineLayer`] on
//!   outgoing clients, passes the remaining budget on to the next hop.
//! - [`ConcurrencyLimit`]: a fixed concurrency limit that rejects instead of
//!   queueing, with a lock-free hot path, optionally holding its slot until
//!   the HTTP response body has been sent.
//! - [`AdaptiveLimit`]: a concurrency limit that finds itself while running
//!   (Gradient2, Vegas or AIMD, see [`adaptive`]), with the same lock-free,
//!   reject-at-once admission.
//! - [`AdaptiveThrottle`]: client-side adaptive throttling for outbound
//!   stacks, so a client backs off a backend that sheds (see [`throttle`]).
//!
//! Both refuse work with the one Palisade error,
//! [`Rejected`](palisade_core::Rejected) (`DeadlineExceeded` → 504 / gRPC
//! `DEADLINE_EXCEEDED`; `Overloaded` → 503 + `Retry-After` / gRPC
//! `RESOURCE_EXHAUSTED`, through `palisade-core`'s `ErrorResponseLayer` and
//! `StatusLayer`). Both are built once and shared by every service made from
//! their layer.
//!
//! # Example
//!
//! ```
//! use std::{convert::Infallible, time::Duration};
//! use http::{HeaderName, Request, Response};
//! use palisade_shed::{ConcurrencyLimit, Deadline, Timeout};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let timeout = Timeout::builder("api")
//!     .timeout(Duration::from_secs(2))
//!     .honor_header(HeaderName::from_static("x-request-timeout-ms"))
//!     .build()?;
//! let limit = ConcurrencyLimit::builder("api").max_in_flight(256).build()?;
//!
//! let handler = service_fn(|_req: Request<()>| async {
//!     // The request's deadline, from anywhere inside the handler.
//!     let budget = Deadline::current().expect("set by the timeout").remaining();
//!     Ok::<_, Infallible>(Response::new(format!("{budget:?} left")))
//! });
//! let svc = ServiceBuilder::new()
//!     .layer(timeout.layer())
//!     .layer(limit.layer())
//!     .service(handler);
//!
//! // The caller has 300 ms left, less than the 2 s timeout: 300 ms it is.
//! let req = Request::builder().header("x-request-timeout-ms", "300").body(())?;
//! let res = svc.oneshot(req).await?;
//! assert_eq!(res.into_body(), "300ms left");
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! - `metrics` (default): `palisade_shed_in_flight{name}`,
//!   `palisade_shed_rejected_total{name, reason}` and
//!   `palisade_shed_deadline_exceeded_total{name}` through the `metrics`
//!   facade. Handles are created when a `Timeout` or `ConcurrencyLimit` is
//!   built, so install the recorder first.
//! - `tracing` (default): debug events on rejections, expiries and ignored
//!   deadline headers.
//!
//! # Why the crate is called `shed`
//!
//! Everything here decides, per request and before the work is done,
//! whether a request may still use the service's capacity: a passed
//! deadline, a full (fixed or adaptive) limit, a spent rate, a spent retry
//! budget, a full bulkhead. Each refuses with the same
//! [`Rejected`](palisade_core::Rejected) rather than queue the work — that is
//! load shedding, and timeouts with deadline propagation are its first tool
//! (work whose caller has given up is the first load to shed). The name
//! still fits, and renaming a published crate costs every user a migration,
//! so it stays.
//!
//! # Contributor notes
//!
//! One folder per middleware, each in the same shape:
//!
//! - `mod.rs`: the module docs, the handle users hold (`Timeout`,
//!   `ConcurrencyLimit`, `AdaptiveLimit`, ...) and the re-exports;
//! - `builder.rs`: `<X>Builder`, validated, `build()` →
//!   `Result<_, ConfigError>`;
//! - `layer.rs`: `<X>Layer`; `service.rs`: `<X>Service` (with `get_ref`,
//!   `get_mut`, `into_inner`); `future.rs`: `ResponseFuture`;
//! - `state.rs`: what every service of one handle shares, named for what it
//!   holds (`TimeoutSettings`, `Shared`), imported by the files above and
//!   importing none of them;
//! - `telemetry.rs`: the middleware's metric handles and `tracing` events,
//!   built on the crate-level `telemetry.rs` (`Counter`, `Gauge`: described,
//!   labelled with `name`, empty without the `metrics` feature).
//!
//! The folders: [`timeout`] (with `grpc_timeout`, `source`), [`propagate`]
//! (the client-side half of the timeout), [`limit`] (with `permit.rs` and
//! `body.rs`: the release policies, on `palisade-core`'s `TrackedBody`),
//! [`adaptive`] (with `algorithm.rs`), [`throttle`], `rate_limit`, `retry`
//! (with `policy.rs`) and `blocking`. Crate-level building blocks sit at the
//! bottom: `slots.rs` (the in-flight and rejection counters shared by both
//! limits) and `telemetry.rs`. No module imports one that imports it back
//! (`python3 circles.py crates/palisade-shed`).
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod adaptive;
#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
pub mod blocking;
pub mod limit;
pub mod propagate;
pub mod queue;
#[cfg(feature = "rate-limit")]
#[cfg_attr(docsrs, doc(cfg(feature = "rate-limit")))]
pub mod rate_limit;
#[cfg(feature = "retry")]
#[cfg_attr(docsrs, doc(cfg(feature = "retry")))]
pub mod retry;
mod slots;
mod telemetry;
pub mod throttle;
pub mod timeout;

pub use adaptive::{AdaptiveLimit, AdaptiveLimitLayer};
#[cfg(feature = "blocking")]
pub use blocking::{BlockingPool, JobPanicked};
pub use limit::{ConcurrencyLimit, ConcurrencyLimitLayer};
pub use propagate::PropagateDeadlineLayer;
pub use queue::{Criticality, Queue, QueueLayer};
#[cfg(feature = "rate-limit")]
pub use rate_limit::{RateLimit, RateLimitLayer};
#[cfg(feature = "retry")]
pub use retry::{Retry, RetryLayer};
pub use throttle::{AdaptiveThrottle, AdaptiveThrottleLayer};
pub use timeout::{Deadline, Timeout, TimeoutLayer};
