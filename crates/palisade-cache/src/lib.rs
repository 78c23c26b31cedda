//! A tower response cache: answer repeated requests from memory, let only one
//! of many concurrent misses reach the backend, and keep serving when the
//! backend is slow or down.
//!
//! - **L1** is `moka`'s future cache (lock-free hits, TinyLFU admission),
//!   bounded by entries or by weighed bytes. Values are shared (`Bytes`,
//!   `Arc`), so a hit does not copy a body.
//! - **Coalescing**: concurrent misses for one key make one inner call; the
//!   others wait and receive its value directly. If the leading request is
//!   cancelled, one waiter takes over (at most one more call); an error goes
//!   to the current waiters and is not cached.
//! - **Freshness**: fresh for the TTL; then, within stale-while-revalidate,
//!   the stale value is returned at once while one background refresh per key
//!   runs; within stale-if-error, a failed call (for HTTP: a 5xx too) returns
//!   the stale value instead. Past both windows the entry is gone.
//! - **Negative caching** (`ttl_for`, HTTP `negative_ttl`), **tags** and
//!   `invalidate_tag`, **stats** and `palisade_cache_*` metrics.
//! - [`HttpCache`] (feature `http`) adds HTTP semantics: `GET`/`HEAD` only,
//!   `Vary` variants, `Cache-Control` both ways, `Age`, `x-cache`, bodies
//!   buffered up to a bound and streamed through above it.
//! - [`store`]: the seam to a second tier shared by replicas (Redis with
//!   feature `redis`, or the in-process [`store::MemoryStore`]).
//!
//! Every layer and service made from one [`Cache`] / [`HttpCache`] shares its
//! state (axum clones a layer per route, hyper a service per request: still
//! one cache).
//!
//! # Example
//!
//! ```
//! use std::{convert::Infallible, time::Duration};
//! use palisade_cache::Cache;
//! # #[cfg(feature = "http")]
//! use palisade_cache::HttpCache;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! #[derive(Clone)]
//! struct GetUser { id: u64 }
//!
//! // Any service whose response is Clone: the key function picks what is
//! // cached (None = bypass).
//! let users = Cache::builder("users")
//!     .max_entries(100_000)
//!     .ttl(Duration::from_secs(60))
//!     .stale_while_revalidate(Duration::from_secs(30))
//!     .stale_if_error(Duration::from_secs(300))
//!     .build()?;
//! let svc = ServiceBuilder::new()
//!     .layer(users.layer(|req: &GetUser| Some(req.id)))
//!     .service(service_fn(|req: GetUser| async move {
//!         Ok::<_, Infallible>(format!("user {}", req.id))
//!     }));
//! assert_eq!(svc.clone().oneshot(GetUser { id: 42 }).await?, "user 42");
//! assert_eq!(svc.oneshot(GetUser { id: 42 }).await?, "user 42");
//! assert_eq!(users.stats().hits, 1);
//! users.invalidate(&42).await;
//!
//! // HTTP: caches http::Response<B> by buffering bodies up to a limit.
//! # #[cfg(feature = "http")] {
//! let pages = HttpCache::builder("pages")
//!     .max_bytes(256 << 20)
//!     .max_body_bytes(1 << 20)
//!     .default_ttl(Duration::from_secs(30))
//!     .build()?;
//! let http = ServiceBuilder::new().layer(pages.layer()).service(service_fn(
//!     |_req: http::Request<String>| async {
//!         Ok::<_, Infallible>(http::Response::new(http_body_util::Full::new(bytes::Bytes::from("hi"))))
//!     },
//! ));
//! let req = || http::Request::get("http://example.com/").body(String::new()).unwrap();
//! let first = http.clone().oneshot(req()).await?;
//! let second = http.oneshot(req()).await?;
//! assert_eq!(first.headers()["x-cache"], "MISS");
//! assert_eq!(second.headers()["x-cache"], "HIT");
//! # }
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! - `metrics` (default): `palisade_cache_requests_total{name,result}`,
//!   `palisade_cache_entries{name}`, `palisade_cache_bytes{name}` and more
//!   (see `docs/metrics.md`).
//! - `tracing` (default): debug events for failed refreshes, take-overs and
//!   purges.
//! - `http` (default): [`HttpCache`].
//! - `redis`: a Redis second tier (see [`store`]).
//!
//! # Contributor notes
//!
//! The crate follows the one Palisade layout (see `CONTRIBUTING.md`): one
//! folder per middleware, each with `mod.rs` (module docs, the handle users
//! hold: [`Cache`] / [`HttpCache`]), `builder.rs` (`<X>Builder`, validated,
//! `build()` returns `Result<_, ConfigError>`), `layer.rs` (`<X>Layer`),
//! `service.rs` (`<X>Service` with `get_ref` / `get_mut` / `into_inner`),
//! `future.rs` (the response future, `pin_project_lite`). Bounds sit on impls,
//! never on structs.
//!
//! - `cache/`: the generic [`Cache`]; `policy.rs` turns its builder's settings
//!   into a `Decision` per value, `l2.rs` is its L2 step on a miss.
//! - `http/`: [`HttpCache`]; `policy.rs` holds the RFC 9111 rules, `key.rs`
//!   the keys (built on the stack for a hit), `lead.rs` what the leading call
//!   does with its response, `l2.rs` its L2 step, `background.rs` calls made
//!   on the background service, `invalidate.rs` invalidation by unsafe
//!   methods, `body.rs` [`CacheBody`].
//! - Shared by both, bottom first (a lower module never imports a higher
//!   one): `entry.rs` (an entry and its freshness, `Lifetime`), `policy.rs`
//!   (the `Policy` seam and `Decision`), `store/` (the L2 seam, the stores,
//!   and `store/codec/`, the Redis envelope), `l2.rs` (the builders' L2
//!   encodings), `stats.rs` ([`Stats`]), `telemetry.rs` (the recorder behind
//!   [`Stats`], metrics and tracing), `l1.rs` (moka, and the task that runs
//!   moka's maintenance off the request path), `flight.rs` (coalescing),
//!   `state.rs` (`CacheState`: what every service of one cache shares),
//!   `leader.rs` (`LeadGuard`: the one call of a flight, refresh start, L2
//!   freshness check), `waiter.rs` (a request waiting for that call),
//!   `worker.rs` (the background service: `Background`, `Worker`).
//! - Errors in `error.rs`; futures re-exported from [`future`].
//! - Weighing (`CacheBuilder::weigh`) is a `Fn(&V) -> usize`, the form
//!   `palisade-batch` uses: a size in memory, as `len()` gives it.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
mod debug;
mod entry;
mod flight;
mod l1;
mod l2;
mod leader;
mod policy;
mod state;
mod stats;
mod telemetry;
mod waiter;
mod worker;

pub mod error;
pub mod store;

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
mod http;

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use http::{CacheBody, HttpCache, HttpCacheBuilder, HttpCacheLayer, HttpCacheService, X_CACHE};

pub use cache::{Cache, CacheBuilder, CacheLayer, CacheService, DEFAULT_MAX_ENTRIES};
pub use stats::Stats;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use store::{RedisStats, RedisStore, RedisStoreBuilder};

/// The entry point of the `cargo fuzz` target in `fuzz/` (see the README):
/// compiled only under `--cfg fuzzing`, never part of the API.
#[cfg(fuzzing)]
#[doc(hidden)]
#[allow(missing_docs)]
pub mod fuzzing {
    /// Decodes `data` as an L2 envelope. Panics only if decoding panics, or
    /// if what decoded does not encode and decode to the same entry.
    pub fn decode_envelope(data: &[u8]) {
        let bytes = bytes::Bytes::copy_from_slice(data);
        if let Ok(entry) = crate::store::codec::decode(&bytes) {
            let again = crate::store::codec::encode(&entry).expect("a decoded entry encodes");
            assert_eq!(
                crate::store::codec::decode(&bytes::Bytes::from(again)),
                Ok(entry),
                "a decoded entry round-trips"
            );
        }
    }
}

/// Response futures.
pub mod future {
    pub use crate::cache::ResponseFuture;
    #[cfg(feature = "http")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http")))]
    pub use crate::http::HttpResponseFuture;
}
