//! [`HttpCacheLayer`].

use std::{fmt, sync::Arc};

use tower_layer::Layer;

use super::{HttpCacheService, HttpState, policy::Defaults};

/// Wraps HTTP services with an [`HttpCache`](super::HttpCache); from
/// [`HttpCache::layer`](super::HttpCache::layer). Every service it makes
/// shares the one cache.
#[derive(Clone)]
pub struct HttpCacheLayer {
    state: Arc<HttpState>,
    defaults: Arc<Defaults>,
}

impl fmt::Debug for HttpCacheLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpCacheLayer")
            .field("cache", &self.state.name)
            .finish_non_exhaustive()
    }
}

impl HttpCacheLayer {
    pub(super) fn new(state: Arc<HttpState>, defaults: Arc<Defaults>) -> Self {
        Self { state, defaults }
    }
}

impl<S: Clone> Layer<S> for HttpCacheLayer {
    type Service = HttpCacheService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpCacheService::new(inner, Arc::clone(&self.state), Arc::clone(&self.defaults))
    }
}
