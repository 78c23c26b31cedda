//! A GCRA rate limit, per key or for the whole service, on the `governor`
//! crate.
//!
//! [`RateLimit`] allows `rate` requests per `period` in steady state and up
//! to `burst` at once after a quiet spell, by the generic cell rate
//! algorithm (GCRA): each bucket keeps one theoretical arrival time, updated
//! with one atomic compare-and-swap. Without [`key`](RateLimitBuilder::key)
//! the whole limit is one bucket (lock-free); with it each key (client IP,
//! API key, route...) has its own.
//!
//! A refused request fails with a [`Rejected`](palisade_core::Rejected) of
//! kind `Overloaded`, marked as a rate limit and carrying the time until the
//! key has room again and the quota ([`RateLimitQuota`](palisade_core::RateLimitQuota)).
//! `palisade-core`'s `ErrorResponseLayer` answers it with `429 Too Many
//! Requests`, `Retry-After` and the IETF `RateLimit-Policy` / `RateLimit`
//! fields (draft-ietf-httpapi-ratelimit-headers); its `StatusLayer` with
//! gRPC `RESOURCE_EXHAUSTED` and `grpc-retry-pushback-ms`.
//!
//! **Sharing.** Every service made from one `RateLimit` (through
//! [`RateLimit::layer`], on any number of routes) shares its buckets.
//!
//! **Memory.** A keyed limit holds at most `max_keys` keys (default
//! 100 000). Every `sweep_interval` (default 10 s) a short background task
//! drops the keys whose bucket has refilled (they behave exactly like a new
//! key). While the table is full, new keys share one overflow bucket with a
//! single key's quota, so a client sending ever-new keys gets one key's rate
//! in total and cannot grow memory.
//!
//! **Time** is read from `tokio::time::Instant`, so tests with paused time
//! are exact.
//!
//! **Cluster-wide** (feature `redis`): with
//! [`redis`](RateLimitBuilder::redis) and
//! [`replicas`](RateLimitBuilder::replicas) every replica shares one bucket
//! per key, kept in Redis by one atomic GCRA script per request (one round
//! trip, on Redis's clock), through a shared
//! [`palisade_redis::RedisConnection`]. While Redis is down or slow (not
//! connected yet, its breaker open, a check failing or timing out), each
//! replica limits locally to its share of the limit (`1 / replicas`); a
//! Redis outage never fails a request, and cluster limiting resumes once
//! the breaker's probe succeeds. Keys must implement [`ClusterKey`] (a
//! stable byte encoding). With the feature on, the service needs its inner
//! service `Clone + Send + 'static` and requests `Send + 'static` (the
//! Redis check runs before the inner service is called).
//!
//! ```
//! use std::{convert::Infallible, time::Duration};
//! use http::{Request, Response, StatusCode};
//! use palisade_core::http::ErrorResponseLayer;
//! use palisade_shed::RateLimit;
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! // 2 requests a second per API key, 2 at once.
//! let limit = RateLimit::builder("per-key")
//!     .rate(2)
//!     .key(|req: &Request<()>| req.headers().get("x-api-key").cloned())
//!     .build()?;
//! let mut svc = ServiceBuilder::new()
//!     .layer(ErrorResponseLayer::new())
//!     .layer(limit.layer())
//!     .service(service_fn(|_req: Request<()>| async {
//!         Ok::<_, Infallible>(Response::new(()))
//!     }));
//! let req = || Request::builder().header("x-api-key", "k1").body(()).unwrap();
//! for _ in 0..2 {
//!     assert_eq!(svc.ready().await?.call(req()).await?.status(), StatusCode::OK);
//! }
//! let res = svc.ready().await?.call(req()).await?;
//! assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
//! assert_eq!(res.headers()["retry-after"], "1");
//! assert_eq!(res.headers()["ratelimit-policy"], "\"per-key\";q=2;w=1");
//! assert_eq!(res.headers()["ratelimit"], "\"per-key\";r=0;t=1");
//!
//! // Half a second later one request is free again.
//! tokio::time::advance(Duration::from_millis(500)).await;
//! assert_eq!(svc.ready().await?.call(req()).await?.status(), StatusCode::OK);
//! # Ok(()) }
//! ```

// Files: `mod.rs` the handle (`RateLimit`), `builder.rs` its validated
// builder, `layer.rs` / `service.rs` / `future.rs` the tower parts,
// `answer.rs` how refusals are answered (`AsError`, `AsHttp`) and the call
// bounds, `state.rs` the shared local limiter (governor, bounded keys),
// `cluster.rs` the Redis side (script, connection), `cluster_key.rs` the
// Redis key encoding, `telemetry.rs` metrics and tracing.
mod answer;
mod builder;
#[cfg(feature = "redis")]
mod cluster;
#[cfg(feature = "redis")]
mod cluster_key;
pub mod future;
mod layer;
mod service;
mod state;
mod telemetry;

pub use builder::{
    DEFAULT_MAX_KEYS, DEFAULT_REDIS_PREFIX, DEFAULT_SWEEP_INTERVAL, RateLimitBuilder,
};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use cluster_key::ClusterKey;

/// The Lua script of a cluster-wide check (for the benchmark that compares
/// it with a raw `EVALSHA` of the same script); not a stable API.
#[cfg(feature = "redis")]
#[doc(hidden)]
pub const CLUSTER_SCRIPT: &str = cluster::GCRA;
pub use answer::{AsError, AsHttp, InnerService, RequestBound};
pub use layer::RateLimitLayer;
pub use service::{KeyFn, RateLimitService};

use state::State;
use std::{fmt, hash::Hash, sync::Arc, time::Duration};

/// The key function of a limit without keys: one bucket for every request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unkeyed;

/// A GCRA rate limit, shared by every service made from it.
///
/// Built with [`RateLimit::builder`]; see the [module docs](self).
pub struct RateLimit<F = Unkeyed, K = ()>
where
    K: Hash + Eq + Clone,
{
    state: Arc<State<K>>,
    key: F,
}

impl RateLimit {
    /// Starts building a rate limit called `name` (the `name` label of its
    /// metrics and the policy name in its `RateLimit` fields).
    pub fn builder(name: impl Into<Arc<str>>) -> RateLimitBuilder {
        RateLimitBuilder::new(name.into())
    }
}

impl<F: Clone, K: Hash + Eq + Clone + Send + Sync + 'static> RateLimit<F, K> {
    pub(crate) fn from_parts(state: Arc<State<K>>, key: F) -> Self {
        Self { state, key }
    }

    /// A layer whose services all share this limit's buckets; a refusal is
    /// a rate-limit [`Rejected`](palisade_core::Rejected) error.
    pub fn layer(&self) -> RateLimitLayer<F, K> {
        RateLimitLayer::new(Arc::clone(&self.state), self.key.clone())
    }

    /// Like [`layer`](Self::layer), for HTTP services: a refusal is a `429
    /// Too Many Requests` response with `Retry-After` and the
    /// `RateLimit-Policy` / `RateLimit` fields (the answer of
    /// `ErrorResponseLayer`), and the inner service's error and body types
    /// are kept. In an axum `Router` it needs no `ErrorResponseLayer`, and
    /// costs less: no error boxing, no wrapped body for axum to box again.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use palisade_shed::RateLimit;
    ///
    /// let limit = RateLimit::builder("api").rate(100).build().unwrap();
    /// let app: Router = Router::new()
    ///     .route("/", get(|| async { "ok" }))
    ///     .layer(limit.http_layer());
    /// # drop(app);
    /// ```
    pub fn http_layer(&self) -> RateLimitLayer<F, K, AsHttp> {
        RateLimitLayer::new(Arc::clone(&self.state), self.key.clone())
    }

    /// The limit's name.
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// Keys held now (0 for an unkeyed limit).
    pub fn keys(&self) -> usize {
        self.state.keys()
    }

    /// Drops the keys whose bucket has refilled now, instead of waiting for
    /// the next periodic sweep.
    pub fn sweep(&self) {
        self.state.sweep();
    }

    /// The Redis connection of a cluster-wide limit (for its breaker and
    /// availability); `None` for a local one.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn redis(&self) -> Option<&palisade_redis::RedisConnection> {
        self.state.cluster.as_ref().map(|c| c.redis())
    }

    /// The steady-state time between two requests of one key (`period / rate`).
    pub fn emission_interval(&self) -> Duration {
        self.state.settings.period / self.state.settings.rate
    }
}

impl<F: Clone, K: Hash + Eq + Clone> Clone for RateLimit<F, K> {
    fn clone(&self) -> Self {
        Self {
            state: Arc::clone(&self.state),
            key: self.key.clone(),
        }
    }
}

impl<F, K: Hash + Eq + Clone> fmt::Debug for RateLimit<F, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("name", &self.state.name)
            .field("settings", &self.state.settings)
            .finish_non_exhaustive()
    }
}
