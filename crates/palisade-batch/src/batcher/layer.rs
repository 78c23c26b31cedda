use std::{fmt, marker::PhantomData};

use palisade_core::BoxError;
use tower_layer::Layer;
use tower_service::Service;

use super::{Batcher, service::BatcherService, strategy::Positional};
use crate::weigh::Weigh;

/// Wraps a `Service<Vec<Req>, Response = Vec<Res>>` into a
/// [`BatcherService`]; made by [`Batcher::layer`].
///
/// Every `layer(inner)` call spawns one worker task that owns `inner`; every
/// clone of the resulting service feeds that worker.
pub struct BatcherLayer<Req, W = ()> {
    batcher: Batcher<W>,
    _req: PhantomData<fn(Req)>,
}

impl<Req, W> BatcherLayer<Req, W> {
    pub(crate) fn new(batcher: Batcher<W>) -> Self {
        Self {
            batcher,
            _req: PhantomData,
        }
    }

    /// The batcher this layer belongs to.
    pub fn batcher(&self) -> &Batcher<W> {
        &self.batcher
    }
}

impl<S, Req, Res, W> Layer<S> for BatcherLayer<Req, W>
where
    S: Service<Vec<Req>, Response = Vec<Res>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
    Req: Clone + Send + 'static,
    Res: Send + 'static,
    W: Weigh<Req>,
{
    type Service = BatcherService<Req, Res>;

    fn layer(&self, inner: S) -> Self::Service {
        let caller = self
            .batcher
            .front()
            .spawn(|weigh, state| Positional::new(inner, weigh, state));
        BatcherService::new(caller)
    }
}

impl<Req, W> Clone for BatcherLayer<Req, W> {
    fn clone(&self) -> Self {
        Self::new(self.batcher.clone())
    }
}

impl<Req, W> fmt::Debug for BatcherLayer<Req, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatcherLayer")
            .field("batcher", &self.batcher)
            .finish()
    }
}
