use super::{RateLimitService, state::State};
use std::{fmt, hash::Hash, sync::Arc};
use tower_layer::Layer;

/// Applies a [`RateLimit`](super::RateLimit); from [`RateLimit::layer`](super::RateLimit::layer).
/// Every service it makes shares the limit's buckets.
pub struct RateLimitLayer<F, K: Hash + Eq + Clone> {
    state: Arc<State<K>>,
    key: F,
}

impl<F, K: Hash + Eq + Clone> RateLimitLayer<F, K> {
    pub(crate) fn new(state: Arc<State<K>>, key: F) -> Self {
        Self { state, key }
    }
}

impl<F: Clone, K: Hash + Eq + Clone> Clone for RateLimitLayer<F, K> {
    fn clone(&self) -> Self {
        Self::new(Arc::clone(&self.state), self.key.clone())
    }
}

impl<F, K: Hash + Eq + Clone> fmt::Debug for RateLimitLayer<F, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("name", &self.state.name)
            .finish_non_exhaustive()
    }
}

impl<S, F: Clone, K: Hash + Eq + Clone> Layer<S> for RateLimitLayer<F, K> {
    type Service = RateLimitService<S, F, K>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService::new(inner, Arc::clone(&self.state), self.key.clone())
    }
}
