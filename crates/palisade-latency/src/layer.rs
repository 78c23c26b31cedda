//! [`LatencyLayer`]: the layer a [`LatencyTracker`] makes.

use tower_layer::Layer;

use crate::{LatencyTracker, service::LatencyService};

/// Wraps services in a [`LatencyService`] recording into one
/// [`LatencyTracker`]; made by [`LatencyTracker::layer`].
///
/// Every service this layer makes shares the tracker (axum clones a layer
/// for each route: they all record into one state).
#[derive(Debug, Clone)]
pub struct LatencyLayer {
    tracker: LatencyTracker,
}

impl LatencyLayer {
    /// A layer recording into `tracker`.
    pub fn new(tracker: &LatencyTracker) -> Self {
        Self {
            tracker: tracker.clone(),
        }
    }
}

impl<S> Layer<S> for LatencyLayer {
    type Service = LatencyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        LatencyService::new(inner, &self.tracker)
    }
}
