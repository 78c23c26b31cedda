//! [`TimeoutLayer`].

use super::{HttpHeaders, TimeoutService, state::TimeoutSettings};
use palisade_core::lane::Lanes;
use std::sync::Arc;
use tower_layer::Layer;

/// The layer of a [`Timeout`](super::Timeout); made by
/// [`Timeout::layer`](super::Timeout::layer).
///
/// Every service it makes shares the timeout's configuration and metrics.
#[derive(Debug, Clone)]
pub struct TimeoutLayer<X = HttpHeaders> {
    pub(crate) settings: Arc<Lanes<TimeoutSettings>>,
    pub(crate) source: X,
}

impl<S, X: Clone> Layer<S> for TimeoutLayer<X> {
    type Service = TimeoutService<S, X>;

    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService::new(inner, Arc::clone(&self.settings), self.source.clone())
    }
}
