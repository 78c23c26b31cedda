use std::{
    collections::HashMap,
    fmt,
    hash::{BuildHasher, Hash},
    marker::PhantomData,
};

use palisade_core::BoxError;
use tokio::sync::mpsc;
use tower_layer::Layer;
use tower_service::Service;

use super::{Load, Loader, worker::Keyed};
use crate::{config::Weigh, engine::Engine, queue::Caller};

/// Wraps a `Service<Vec<K>, Response = HashMap<K, V>>` into a
/// [`Load`] service; made by [`Loader::layer`].
///
/// Every `layer(inner)` call spawns one worker task that owns `inner`; every
/// clone of the resulting service feeds that worker.
pub struct LoadLayer<K, W = ()> {
    loader: Loader<W>,
    _key: PhantomData<fn(K)>,
}

impl<K, W> LoadLayer<K, W> {
    pub(crate) fn new(loader: Loader<W>) -> Self {
        Self {
            loader,
            _key: PhantomData,
        }
    }

    /// The loader this layer belongs to.
    pub fn loader(&self) -> &Loader<W> {
        &self.loader
    }
}

impl<S, K, V, H, W> Layer<S> for LoadLayer<K, W>
where
    S: Service<Vec<K>, Response = HashMap<K, V, H>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + 'static,
    H: BuildHasher,
    W: Weigh<K>,
{
    type Service = Load<K, V>;

    fn layer(&self, inner: S) -> Self::Service {
        let core = self.loader.core().clone();
        let (tx, rx) = mpsc::unbounded_channel();
        let strategy = Keyed::new(inner, self.loader.weigher().clone(), &core);
        Engine::spawn(strategy, core.clone(), rx);
        Load::new(Caller::new(tx, core))
    }
}

impl<K, W> Clone for LoadLayer<K, W> {
    fn clone(&self) -> Self {
        Self::new(self.loader.clone())
    }
}

impl<K, W> fmt::Debug for LoadLayer<K, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadLayer")
            .field("loader", &self.loader)
            .finish()
    }
}
