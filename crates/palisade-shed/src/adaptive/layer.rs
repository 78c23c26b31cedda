//! [`AdaptiveLimitLayer`].

use super::{AdaptiveLimitService, state::Shared};
use palisade_core::lane::Lanes;
use std::{fmt, sync::Arc};
use tower_layer::Layer;

/// The layer of an [`AdaptiveLimit`](super::AdaptiveLimit); made by
/// [`AdaptiveLimit::layer`](super::AdaptiveLimit::layer).
///
/// Every service it makes shares the one limit and its sample window.
pub struct AdaptiveLimitLayer<C> {
    shared: Arc<Lanes<Shared<C>>>,
}

impl<C> AdaptiveLimitLayer<C> {
    pub(crate) fn new(shared: Arc<Lanes<Shared<C>>>) -> Self {
        Self { shared }
    }
}

impl<C> Clone for AdaptiveLimitLayer<C> {
    fn clone(&self) -> Self {
        Self::new(Arc::clone(&self.shared))
    }
}

impl<C> fmt::Debug for AdaptiveLimitLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveLimitLayer")
            .field("limit", &**self.shared)
            .finish()
    }
}

impl<S, C> Layer<S> for AdaptiveLimitLayer<C> {
    type Service = AdaptiveLimitService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        AdaptiveLimitService::new(inner, Arc::clone(&self.shared))
    }
}
