//! [`CacheLayer`].

use std::{fmt, hash::Hash, marker::PhantomData, sync::Arc};

use palisade_core::BoxError;
use tower_layer::Layer;
use tower_service::Service;

use super::CacheService;
use crate::state::CacheState;

/// Wraps services with a [`Cache`](crate::Cache); from [`Cache::layer`](crate::Cache::layer).
///
/// Holds only the cache's shared state and the key function: every service it
/// makes shares one cache.
pub struct CacheLayer<K, V, F, Req> {
    state: Arc<CacheState<K, V>>,
    key: F,
    _req: PhantomData<fn(&Req)>,
}

impl<K, V, F: Clone, Req> Clone for CacheLayer<K, V, F, Req> {
    fn clone(&self) -> Self {
        Self {
            state: Arc::clone(&self.state),
            key: self.key.clone(),
            _req: PhantomData,
        }
    }
}

impl<K, V, F, Req> fmt::Debug for CacheLayer<K, V, F, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheLayer")
            .field("cache", &self.state.name)
            .finish_non_exhaustive()
    }
}

impl<K, V, F, Req> CacheLayer<K, V, F, Req> {
    pub(super) fn new(state: Arc<CacheState<K, V>>, key: F) -> Self {
        Self {
            state,
            key,
            _req: PhantomData,
        }
    }
}

impl<S, K, V, F, Req> Layer<S> for CacheLayer<K, V, F, Req>
where
    S: Service<Req, Response = V> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    Req: Send + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    F: Fn(&Req) -> Option<K> + Clone,
{
    type Service = CacheService<S, K, V, F, Req>;

    fn layer(&self, inner: S) -> Self::Service {
        CacheService::new(inner, Arc::clone(&self.state), self.key.clone())
    }
}
