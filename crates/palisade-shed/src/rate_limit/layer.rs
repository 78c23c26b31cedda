use super::{RateLimitService, answer::AsError, state::State};
use std::{fmt, hash::Hash, marker::PhantomData, sync::Arc};
use tower_layer::Layer;

/// Applies a [`RateLimit`](super::RateLimit); from [`RateLimit::layer`](super::RateLimit::layer)
/// (refusals are errors) or [`RateLimit::http_layer`](super::RateLimit::http_layer)
/// (refusals are `429` responses). Every service it makes shares the limit's buckets.
pub struct RateLimitLayer<F, K: Hash + Eq + Clone, A = AsError> {
    state: Arc<State<K>>,
    key: F,
    answer: PhantomData<fn() -> A>,
}

impl<F, K: Hash + Eq + Clone, A> RateLimitLayer<F, K, A> {
    pub(crate) fn new(state: Arc<State<K>>, key: F) -> Self {
        Self {
            state,
            key,
            answer: PhantomData,
        }
    }
}

impl<F: Clone, K: Hash + Eq + Clone, A> Clone for RateLimitLayer<F, K, A> {
    fn clone(&self) -> Self {
        Self::new(Arc::clone(&self.state), self.key.clone())
    }
}

impl<F, K: Hash + Eq + Clone, A> fmt::Debug for RateLimitLayer<F, K, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("name", &self.state.name)
            .finish_non_exhaustive()
    }
}

impl<S, F: Clone, K: Hash + Eq + Clone, A> Layer<S> for RateLimitLayer<F, K, A> {
    type Service = RateLimitService<S, F, K, A>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService::new(inner, Arc::clone(&self.state), self.key.clone())
    }
}
