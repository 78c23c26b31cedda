//! [`QueueLayer`].

use super::{QueueService, limit::QueueLimit, state::Waitlist};
use palisade_core::lane::Lanes;
use std::{fmt, sync::Arc};
use tower_layer::Layer;

/// The layer of a [`Queue`](super::Queue); made by
/// [`Queue::layer`](super::Queue::layer).
///
/// Every service it makes shares the one queue and the one limit behind it.
pub struct QueueLayer<L: QueueLimit, K = ()> {
    waitlist: Arc<Lanes<Waitlist<L>>>,
    criticality: Arc<K>,
}

impl<L: QueueLimit, K> QueueLayer<L, K> {
    pub(crate) fn new(waitlist: Arc<Lanes<Waitlist<L>>>, criticality: Arc<K>) -> Self {
        Self {
            waitlist,
            criticality,
        }
    }
}

impl<L: QueueLimit, K> Clone for QueueLayer<L, K> {
    fn clone(&self) -> Self {
        Self::new(Arc::clone(&self.waitlist), Arc::clone(&self.criticality))
    }
}

impl<L: QueueLimit, K> fmt::Debug for QueueLayer<L, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueLayer")
            .field("queue", &**self.waitlist)
            .finish()
    }
}

impl<S, L: QueueLimit, K> Layer<S> for QueueLayer<L, K> {
    type Service = QueueService<S, L, K>;

    fn layer(&self, inner: S) -> Self::Service {
        QueueService::new(
            inner,
            Arc::clone(&self.waitlist),
            Arc::clone(&self.criticality),
        )
    }
}
