use std::{
    collections::HashMap,
    fmt,
    hash::{BuildHasher, Hash},
    marker::PhantomData,
};

use palisade_core::BoxError;
use tower_layer::Layer;
use tower_service::Service;

use super::{Loader, service::LoaderService, strategy::Keyed};
use crate::weigh::Weigh;

/// Wraps a `Service<Vec<K>, Response = HashMap<K, V>>` into a
/// [`LoaderService`]; made by [`Loader::layer`].
///
/// Every `layer(inner)` call spawns one worker task that owns `inner`; every
/// clone of the resulting service feeds that worker.
pub struct LoaderLayer<K, W = ()> {
    loader: Loader<W>,
    _key: PhantomData<fn(K)>,
}

impl<K, W> LoaderLayer<K, W> {
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

impl<S, K, V, H, W> Layer<S> for LoaderLayer<K, W>
where
    S: Service<Vec<K>, Response = HashMap<K, V, H>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + 'static,
    H: BuildHasher,
    W: Weigh<K>,
{
    type Service = LoaderService<K, V>;

    fn layer(&self, inner: S) -> Self::Service {
        let caller = self
            .loader
            .front()
            .spawn(|weigh, _| Keyed::new(inner, weigh));
        LoaderService::new(caller)
    }
}

impl<K, W> Clone for LoaderLayer<K, W> {
    fn clone(&self) -> Self {
        Self::new(self.loader.clone())
    }
}

impl<K, W> fmt::Debug for LoaderLayer<K, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoaderLayer")
            .field("loader", &self.loader)
            .finish()
    }
}
