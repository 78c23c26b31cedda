//! A tower response cache: a lock-free `moka` L1 bounded by entries or weighed
//! bytes, request coalescing, stale-while-revalidate and stale-if-error, HTTP
//! semantics, and a seam ([`store::L2Store`]) for a second tier shared by
//! replicas.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
#[cfg(feature = "redis")]
mod codec;
mod core;
mod entry;
mod flight;
mod l1;
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
pub use store::{RedisStats, RedisStore, RedisStoreBuilder};

/// Response futures.
pub mod future {
    pub use crate::cache::ResponseFuture;
    #[cfg(feature = "http")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http")))]
    pub use crate::http::HttpResponseFuture;
}
