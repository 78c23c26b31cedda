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
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod adaptive;
#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
pub mod blocking;
pub mod limit;
pub mod queue;
#[cfg(feature = "rate-limit")]
#[cfg_attr(docsrs, doc(cfg(feature = "rate-limit")))]
pub mod rate_limit;
#[cfg(feature = "retry")]
#[cfg_attr(docsrs, doc(cfg(feature = "retry")))]
pub mod retry;
mod telemetry;
pub mod throttle;
pub mod timeout;

pub use adaptive::{AdaptiveLimit, AdaptiveLimitLayer};
#[cfg(feature = "blocking")]
pub use blocking::{BlockingPool, JobPanicked};
pub use limit::{ConcurrencyLimit, ConcurrencyLimitLayer};
pub use queue::{Criticality, Queue, QueueLayer};
#[cfg(feature = "rate-limit")]
pub use rate_limit::{RateLimit, RateLimitLayer};
#[cfg(feature = "retry")]
pub use retry::{Retry, RetryLayer};
pub use throttle::{AdaptiveThrottle, AdaptiveThrottleLayer};
pub use timeout::{Deadline, PropagateDeadlineLayer, Timeout, TimeoutLayer};
