//! Palisade: tower middleware that makes async services fast and hard to break.
//!
//! This meta-crate re-exports every Palisade crate behind a feature of its
//! own, adds [`ServiceBuilderExt`] so a whole stack reads as one chain, and a
//! [`prelude`]. Each crate is also published on its own: a user who needs only
//! one layer can depend on that crate (and `palisade-core`) alone.
//!
//! | module | crate | feature |
//! |---|---|---|
//! | [`core`] | `palisade-core`: classification, the one rejection error, HTTP/gRPC mapping | always |
//! | `breaker` | `palisade-breaker`: circuit breaking, per-key breakers | `breaker` |
//! | `batch` | `palisade-batch`: positional batching and keyed loading | `batch` |
//! | `cache` | `palisade-cache`: moka L1, coalescing, stale serving, HTTP semantics, Redis L2 | `cache` (`redis` for the L2) |
//! | `shed` | `palisade-shed`: deadline-aware timeouts, concurrency limit | `shed` |
//! | `latency` | `palisade-latency`: per-route histograms, export, slow and blocking detection | `latency` |
//! | `health` | `palisade-health`: cached background health checks, liveness and readiness, `tonic-health`, the live status page | `health` |
//!
//! `full` (the default) enables all of them with `http`, `grpc`, `axum`,
//! `redis`, `metrics` and `tracing`, which are forwarded to every enabled crate.
//!
//! # Example
//!
//! A fallible stack placed directly in an axum `Router`: `http_errors()` turns
//! a Palisade rejection into `503`/`504` with `Retry-After`, and any other
//! error into a `500` that leaks nothing.
//!
//! ```
//! use std::time::Duration;
//! use axum::{body::Body, Router};
//! use http::{Request, Response, StatusCode};
//! use palisade::prelude::*;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let upstream = service_fn(|_req: Request<Body>| async {
//!     let err: BoxError = Rejected::new(RejectKind::Overloaded, "api")
//!         .with_retry_after(Duration::from_secs(1))
//!         .into();
//!     Err::<Response<Body>, _>(err)
//! });
//! let svc = ServiceBuilder::new().http_errors().service(upstream);
//! let app = Router::new().route_service("/", svc);
//!
//! let res = app.oneshot(Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
//! assert_eq!(res.headers()["retry-after"], "1");
//! # }
//! ```
//!
//! # The order of layers in a full stack
//!
//! Outermost first:
//!
//! 1. **latency** — sees what the client sees, rejections included;
//! 2. **timeout / deadline** — bounds everything below it and passes the
//!    remaining budget on;
//! 3. **load shedding / adaptive limit** — before the breaker, so that our own
//!    overload never counts as the dependency failing;
//! 4. **cache** — hits never need the dependency, so an open breaker below it
//!    does not refuse them, and stale-if-error covers a refusing breaker;
//! 5. **circuit breaker** — sees only the calls that really reach the
//!    dependency and stops them while it is failing;
//! 6. **batch** — turns single requests into bulk calls;
//! 7. the service.
//!
//! Error mapping (`http_errors()` for axum/hyper, `grpc_status()` for tonic)
//! goes outside all of them. See `docs/layer-order.md` in the repository for
//! the reasoning behind each position.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod ext;

#[doc(inline)]
pub use palisade_core as core;

#[cfg(feature = "breaker")]
#[cfg_attr(docsrs, doc(cfg(feature = "breaker")))]
#[doc(inline)]
pub use palisade_breaker as breaker;

#[cfg(feature = "batch")]
#[cfg_attr(docsrs, doc(cfg(feature = "batch")))]
#[doc(inline)]
pub use palisade_batch as batch;

#[cfg(feature = "cache")]
#[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
#[doc(inline)]
pub use palisade_cache as cache;

#[cfg(feature = "shed")]
#[cfg_attr(docsrs, doc(cfg(feature = "shed")))]
#[doc(inline)]
pub use palisade_shed as shed;

#[cfg(feature = "latency")]
#[cfg_attr(docsrs, doc(cfg(feature = "latency")))]
#[doc(inline)]
pub use palisade_latency as latency;

#[cfg(feature = "health")]
#[cfg_attr(docsrs, doc(cfg(feature = "health")))]
#[doc(inline)]
pub use palisade_health as health;

pub use ext::ServiceBuilderExt;

/// The names most stacks need, in one import.
pub mod prelude {
    pub use crate::ServiceBuilderExt;
    pub use palisade_core::{
        BoxError, Classify, ConfigError, ErrorsAsFailures, Outcome, RejectKind, Rejected,
    };

    #[cfg(feature = "batch")]
    pub use palisade_batch::{Batcher, Loader};
    #[cfg(feature = "breaker")]
    pub use palisade_breaker::{CircuitBreaker, KeyedCircuitBreaker};
    #[cfg(feature = "cache")]
    pub use palisade_cache::Cache;
    #[cfg(all(feature = "cache", feature = "http"))]
    pub use palisade_cache::HttpCache;
    #[cfg(all(feature = "cache", feature = "redis"))]
    pub use palisade_cache::RedisStore;
    #[cfg(feature = "health")]
    pub use palisade_health::{Health, Options as HealthOptions, Probe, Status as HealthStatus};
    #[cfg(feature = "latency")]
    pub use palisade_latency::{LatencyTracker, RouteFrom};
    #[cfg(feature = "shed")]
    pub use palisade_shed::{ConcurrencyLimit, Deadline, PropagateDeadlineLayer, Timeout};
}
