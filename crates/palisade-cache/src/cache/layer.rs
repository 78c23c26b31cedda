//! [`CacheLayer`].

use std::{fmt, sync::Arc};

use tower_layer::Layer;

use super::CacheService;
use crate::state::CacheState;

/// Wraps services with a [`Cache`](crate::Cache); from [`Cache::layer`](crate::Cache::layer).
///
/// Holds only the cache's shared state and the key function: every service it
/// makes shares one cache.
pub struct CacheLayer<K, V, F> {
    state: Arc<CacheState<K, V>>,
    key: F,
}

impl<K, V, F: Clone> Clone for CacheLayer<K, V, F> {
    fn clone(&self) -> Self {
        Self {
            state: Arc::clone(&self.state),
            key: self.key.clone(),
        }
    }
}

impl<K, V, F> fmt::Debug for CacheLayer<K, V, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheLayer")
            .field("cache", &self.state.name)
            .finish_non_exhaustive()
    }
}

impl<K, V, F> CacheLayer<K, V, F> {
    pub(super) fn new(state: Arc<CacheState<K, V>>, key: F) -> Self {
        Self { state, key }
    }
}

impl<S: Clone, K, V, F: Clone> Layer<S> for CacheLayer<K, V, F> {
    type Service = CacheService<S, K, V, F>;

    fn layer(&self, inner: S) -> Self::Service {
        CacheService::new(inner, Arc::clone(&self.state), self.key.clone())
    }
}
