use std::{fmt, marker::PhantomData};

use palisade_core::BoxError;
use tokio::sync::mpsc;
use tower_layer::Layer;
use tower_service::Service;

use super::{Batch, Batcher, worker::Positional};
use crate::{config::Weigh, engine::Engine, queue::Caller};

/// Wraps a `Service<Vec<Req>, Response = Vec<Res>>` into a
/// [`Batch`] service; made by [`Batcher::layer`].
///
/// Every `layer(inner)` call spawns one worker task that owns `inner`; every
/// clone of the resulting service feeds that worker.
pub struct BatchLayer<Req, W = ()> {
    batcher: Batcher<W>,
    _req: PhantomData<fn(Req)>,
}

impl<Req, W> BatchLayer<Req, W> {
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

impl<S, Req, Res, W> Layer<S> for BatchLayer<Req, W>
where
    S: Service<Vec<Req>, Response = Vec<Res>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
    Req: Clone + Send + 'static,
    Res: Send + 'static,
    W: Weigh<Req>,
{
    type Service = Batch<Req, Res>;

    fn layer(&self, inner: S) -> Self::Service {
        let core = self.batcher.core().clone();
        let (tx, rx) = mpsc::unbounded_channel();
        let strategy = Positional::new(inner, self.batcher.weigher().clone(), &core);
        Engine::spawn(strategy, core.clone(), rx);
        Batch::new(Caller::new(tx, core))
    }
}

impl<Req, W> Clone for BatchLayer<Req, W> {
    fn clone(&self) -> Self {
        Self::new(self.batcher.clone())
    }
}

impl<Req, W> fmt::Debug for BatchLayer<Req, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchLayer")
            .field("batcher", &self.batcher)
            .finish()
    }
}
