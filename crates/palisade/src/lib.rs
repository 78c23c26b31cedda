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
//! | `shed` | `palisade-shed`: deadline-aware timeouts, concurrency limit; rate limits, retries, blocking pool | `shed` (+ `rate-limit`, `retry`, `blocking`) |
//! | `latency` | `palisade-latency`: per-route histograms, export, slow and blocking detection | `latency` |
//! | `health` | `palisade-health`: cached background health checks, liveness and readiness, `tonic-health`, the live status page | `health` |
//! | `redis` | `palisade-redis`: the shared, breaker-guarded Redis connection of the cache's L2 and the cluster-wide rate limit | `redis` |
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
//! 2. **cache** — a hit needs nothing below it, so neither a deadline, a full
//!    limit nor an open breaker touches it; stale-if-error turns their
//!    refusals of a miss into the stale answer, and an adaptive limit below
//!    measures the dependency alone;
//! 3. **timeout / deadline** — bounds everything below it and passes the
//!    remaining budget on;
//! 4. **load shedding / adaptive limit** — before the breaker, so that our own
//!    overload never counts as the dependency failing;
//! 5. **circuit breaker** — sees only the calls that really reach the
//!    dependency and stops them while it is failing;
//! 6. **batch** — turns single requests into bulk calls;
//! 7. the service.
//!
//! Error mapping (`http_errors()` for axum/hyper, `grpc_status()` for tonic)
//! goes outside all of them. See `docs/layer-order.md` in the repository for
//! the reasoning behind each position.
//!
//! # Keeping a stack in axum `State`
//!
//! A stack a handler calls itself (a cache in front of a breaker in front of
//! a keyed loader, say) has a long generic type that changes whenever a layer
//! is added. Give it one name with [`SharedStack<Req, Res>`](SharedStack)
//! (tower's `BoxCloneSyncService` with a [`BoxError`]
//! error) and [`share`]: the result is `Clone + Send + Sync`, as axum's
//! `State` requires, and every clone still shares the handles' state. The
//! handler calls a clone with `oneshot` and passes a failure on with `?`
//! through [`HandlerError`](palisade_core::http::HandlerError), which answers a
//! rejection (breaker open, overload) with its status and `Retry-After`:
//!
//! ```
//! # #[cfg(all(feature = "cache", feature = "breaker", feature = "batch", feature = "axum"))]
//! # mod example {
//! use std::{collections::HashMap, sync::Arc, time::Duration};
//! use axum::{extract::{Path, State}, routing::get, Router};
//! use palisade::prelude::*;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! type Users = SharedStack<u64, Option<Arc<str>>>;
//!
//! async fn user(State(users): State<Users>, Path(id): Path<u64>) -> Result<String, HandlerError> {
//!     match users.oneshot(id).await? {
//!         Some(name) => Ok(name.to_string()),
//!         None => Ok("no such user".to_owned()),
//!     }
//! }
//!
//! pub fn app() -> Result<Router, BoxError> {
//!     let cache = Cache::builder("users").max_entries(10_000).ttl(Duration::from_secs(30)).build()?;
//!     let breaker = CircuitBreaker::builder("user-db").consecutive_failures(5).build()?;
//!     let loader = Loader::builder("users").max_size(64).build()?; // inside a tokio runtime
//!     let bulk = service_fn(|ids: Vec<u64>| async move {
//!         // SELECT id, name FROM users WHERE id = ANY($1)
//!         Ok::<_, BoxError>(ids.into_iter().map(|id| (id, Arc::<str>::from(format!("user-{id}")))).collect::<HashMap<_, _>>())
//!     });
//!     // cache → breaker → keyed loader → bulk call, as one nameable type.
//!     let users: Users = share(
//!         ServiceBuilder::new()
//!             .cache(&cache, |id: &u64| Some(*id))
//!             .circuit_breaker(&breaker)
//!             .load(&loader)
//!             .service(bulk),
//!     );
//!     Ok(Router::new().route("/users/{id}", get(user)).with_state(users))
//! }
//! # }
//! ```
//!
//! The boxing costs one allocation per call (the boxed response future), in
//! the handler only; the layers themselves stay unboxed.
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

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
#[doc(inline)]
pub use palisade_redis as redis;

#[cfg(feature = "latency")]
#[cfg_attr(docsrs, doc(cfg(feature = "latency")))]
#[doc(inline)]
pub use palisade_latency as latency;

#[cfg(feature = "health")]
#[cfg_attr(docsrs, doc(cfg(feature = "health")))]
#[doc(inline)]
pub use palisade_health as health;

pub use ext::ServiceBuilderExt;

use palisade_core::BoxError;
use tower::{Service, ServiceExt as _, util::BoxCloneSyncService};

/// A composed stack as one type: what a handler keeps in axum `State`.
///
/// tower's [`BoxCloneSyncService`] with the error boxed into a
/// [`BoxError`]: `Clone + Send + Sync`, whatever layers it holds. Make one
/// with [`share`]. See [Keeping a stack in axum `State`](crate#keeping-a-stack-in-axum-state).
pub type SharedStack<Req, Res> = BoxCloneSyncService<Req, Res, BoxError>;

/// Boxes a composed stack into a [`SharedStack`], converting its error into a
/// [`BoxError`].
///
/// Every clone of the result calls a clone of `svc`, so the handles' state
/// (one breaker, one cache, one loader) stays shared.
///
/// ```
/// use palisade::{share, SharedStack};
/// use tower::{service_fn, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let double: SharedStack<u64, u64> =
///     share(service_fn(|n: u64| async move { Ok::<_, std::io::Error>(n * 2) }));
/// assert_eq!(double.clone().oneshot(21).await.unwrap(), 42);
/// # }
/// ```
pub fn share<S, Req>(svc: S) -> SharedStack<Req, S::Response>
where
    S: Service<Req> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError> + 'static,
    S::Future: Send + 'static,
{
    BoxCloneSyncService::new(svc.map_err(Into::into))
}

/// The names most stacks need, in one import: what the README's quick start
/// and the examples use.
///
/// Breaker states are left out (`palisade::breaker::State` would clash with
/// axum's `State` extractor).
pub mod prelude {
    pub use crate::{ServiceBuilderExt, SharedStack, share};
    pub use palisade_core::{
        BoxError, Classify, ConfigError, ErrorsAsFailures, Outcome, RejectKind, Rejected,
    };

    #[cfg(feature = "grpc")]
    pub use palisade_core::grpc::GrpcErrors;
    #[cfg(feature = "axum")]
    pub use palisade_core::http::HandlerError;
    #[cfg(feature = "http")]
    pub use palisade_core::http::HttpServerErrors;

    #[cfg(feature = "batch")]
    pub use palisade_batch::{Batcher, BatcherService, Loader, LoaderService};
    #[cfg(feature = "breaker")]
    pub use palisade_breaker::{Backoff, CircuitBreaker, KeyedCircuitBreaker, Permit};
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

    #[cfg(feature = "blocking")]
    pub use palisade_shed::BlockingPool;
    #[cfg(feature = "rate-limit")]
    pub use palisade_shed::RateLimit;
    #[cfg(feature = "retry")]
    pub use palisade_shed::Retry;

    #[cfg(feature = "shed")]
    pub use palisade_shed::queue::CriticalityHeader;
    #[cfg(feature = "shed")]
    pub use palisade_shed::{AdaptiveLimit, AdaptiveThrottle, Criticality, Queue};
}
