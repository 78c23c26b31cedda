//! [`AdaptiveThrottleLayer`].

use super::{AdaptiveThrottleService, state::Shared};
use palisade_core::lane::Lanes;
use std::{fmt, sync::Arc};
use tower_layer::Layer;

/// The layer of an [`AdaptiveThrottle`](super::AdaptiveThrottle); made by
/// [`AdaptiveThrottle::layer`](super::AdaptiveThrottle::layer).
///
/// Every service it makes shares the one window of counts.
pub struct AdaptiveThrottleLayer<C> {
    shared: Arc<Lanes<Shared<C>>>,
}

impl<C> AdaptiveThrottleLayer<C> {
    pub(crate) fn new(shared: Arc<Lanes<Shared<C>>>) -> Self {
        Self { shared }
    }
}

impl<C> Clone for AdaptiveThrottleLayer<C> {
    fn clone(&self) -> Self {
        Self::new(Arc::clone(&self.shared))
    }
}

impl<C> fmt::Debug for AdaptiveThrottleLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveThrottleLayer")
            .field("throttle", &**self.shared)
            .finish()
    }
}

impl<S, C> Layer<S> for AdaptiveThrottleLayer<C> {
    type Service = AdaptiveThrottleService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        AdaptiveThrottleService::new(inner, Arc::clone(&self.shared))
    }
}
