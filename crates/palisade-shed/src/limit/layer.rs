//! [`ConcurrencyLimitLayer`].

use super::{ConcurrencyLimitService, UntilResponse, state::Shared};
use palisade_core::lane::Lanes;
use std::{fmt, marker::PhantomData, sync::Arc};
use tower_layer::Layer;

/// The layer of a [`ConcurrencyLimit`](super::ConcurrencyLimit); made by
/// [`ConcurrencyLimit::layer`](super::ConcurrencyLimit::layer).
///
/// Every service it makes shares the one limit: the slots are counted across
/// all of them.
pub struct ConcurrencyLimitLayer<P = UntilResponse> {
    shared: Arc<Lanes<Shared>>,
    _release: PhantomData<fn() -> P>,
}

impl<P> ConcurrencyLimitLayer<P> {
    pub(crate) fn new(shared: Arc<Lanes<Shared>>) -> Self {
        Self {
            shared,
            _release: PhantomData,
        }
    }
}

impl<P> Clone for ConcurrencyLimitLayer<P> {
    fn clone(&self) -> Self {
        Self::new(Arc::clone(&self.shared))
    }
}

impl<P> fmt::Debug for ConcurrencyLimitLayer<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyLimitLayer")
            .field("name", &self.shared.name)
            .field("max_in_flight", &self.shared.max_in_flight)
            .finish()
    }
}

impl<S, P> Layer<S> for ConcurrencyLimitLayer<P> {
    type Service = ConcurrencyLimitService<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        ConcurrencyLimitService::new(inner, Arc::clone(&self.shared))
    }
}
