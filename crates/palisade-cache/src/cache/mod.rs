//! [`Cache`]: a cache for any tower service whose response is `Clone`.

mod builder;
mod future;
mod l2;
mod layer;
mod policy;
mod service;

pub use builder::{CacheBuilder, DEFAULT_MAX_ENTRIES};
pub use future::ResponseFuture;
pub use layer::CacheLayer;
pub use service::CacheService;

use std::{fmt, hash::Hash, sync::Arc};

use crate::{state::CacheState, stats::Stats};

/// A response cache for any tower service: the handle to its shared state.
///
/// Build one with [`Cache::builder`], wrap services with
/// [`layer`](Cache::layer) (every layer and service made from one `Cache`
/// shares its entries, in-flight calls and counters), and use the handle to
/// [`invalidate`](Cache::invalidate) keys or [tags](Cache::invalidate_tag)
/// and read [`stats`](Cache::stats). Cloning is cheap (an `Arc`).
///
/// Values are returned by `clone()` on every hit: cache values that are cheap
/// to clone (`Arc<T>`, `Bytes`) so a hit does not copy them.
///
/// ```
/// use std::time::Duration;
/// use palisade_cache::Cache;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let cache = Cache::builder("squares")
///     .max_entries(1_000)
///     .ttl(Duration::from_secs(60))
///     .build()?;
/// let svc = ServiceBuilder::new()
///     .layer(cache.layer(|n: &u64| Some(*n)))
///     .service(service_fn(|n: u64| async move { Ok::<_, std::convert::Infallible>(n * n) }));
/// assert_eq!(svc.clone().oneshot(7).await?, 49); // miss
/// assert_eq!(svc.oneshot(7).await?, 49); // hit
/// assert_eq!(cache.stats().hits, 1);
/// cache.invalidate(&7).await;
/// # Ok(())
/// # }
/// ```
pub struct Cache<K, V> {
    pub(crate) state: Arc<CacheState<K, V>>,
}

impl<K, V> Clone for Cache<K, V> {
    fn clone(&self) -> Self {
        Self {
            state: Arc::clone(&self.state),
        }
    }
}

impl<K, V> fmt::Debug for Cache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache").field("state", &self.state).finish()
    }
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Starts building a cache named `name` (the `name` label of its metrics).
    /// Key and value types are inferred from how the cache is used.
    #[must_use]
    pub fn builder(name: &str) -> CacheBuilder<K, V> {
        CacheBuilder::new(name)
    }

    /// A layer caching the responses of the services it wraps, keyed by
    /// `key(&request)`; `None` sends the request around the cache.
    ///
    /// All services made from this layer (and from other layers of this
    /// cache) share the cache.
    pub fn layer<Req, F>(&self, key: F) -> CacheLayer<K, V, F>
    where
        F: Fn(&Req) -> Option<K> + Clone,
    {
        CacheLayer::new(Arc::clone(&self.state), key)
    }

    /// Drops the entry for `key` here and, with an L2, in the shared tier and
    /// every replica's L1.
    pub async fn invalidate(&self, key: &K) {
        self.state.invalidate(key).await;
    }

    /// Drops every entry tagged `tag` (see [`CacheBuilder::tags`]) here and,
    /// with an L2, in the shared tier and every replica's L1. Entries stored
    /// after the call are not affected.
    pub async fn invalidate_tag(&self, tag: &str) {
        self.state.invalidate_tag(tag).await;
    }

    /// The cache's counters and current size.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.state.stats()
    }

    /// Applies moka's pending work now (evictions, invalidations), so that
    /// [`stats`](Self::stats) reports exact sizes. The cache does this on its
    /// own from time to time.
    pub async fn run_pending_tasks(&self) {
        self.state.l1.run_pending_tasks().await;
        let state = &self.state;
        state
            .recorder
            .set_size(state.l1.entry_count(), state.l1.weighed_size());
    }

    /// The name given to the builder.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.state.name
    }
}
