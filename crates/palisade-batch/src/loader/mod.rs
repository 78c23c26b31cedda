//! Keyed loading (DataLoader style): `Vec<K>` in, `HashMap<K, V>` out; equal
//! keys are sent once, also while in flight.

mod builder;
mod layer;
mod service;
mod strategy;

use std::{fmt, sync::Arc};

pub use builder::LoaderBuilder;
pub use layer::LoaderLayer;
pub use service::LoaderService;

use crate::front::{Front, FrontBuilder, handle_methods};

/// A keyed loader: the handle to one loading configuration and the state its
/// services share (queue capacity, metrics, counters).
///
/// Its [`layer`](Loader::layer) wraps an inner
/// `Service<Vec<K>, Response = HashMap<K, V>>` into a
/// `Service<K, Response = Option<V>>`: a key missing from the map answers
/// `None`. Identical keys waiting for the same batch are sent once, and a
/// key already in flight is not sent again: its new callers wait for the
/// same answer, and each gets a clone of the value. Cheap to clone.
///
/// ```
/// use std::{collections::HashMap, time::Duration};
/// use palisade_batch::Loader;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let loader = Loader::builder("users")
///     .max_size(100)
///     .max_wait(Duration::from_millis(1))
///     .build()?;
/// // `SELECT id, name FROM users WHERE id IN (...)`
/// let bulk_by_id = service_fn(|ids: Vec<u64>| async move {
///     let found = ids.into_iter().filter(|id| *id < 100).map(|id| (id, format!("user {id}")));
///     Ok::<_, std::io::Error>(found.collect::<HashMap<_, _>>())
/// });
/// let users = ServiceBuilder::new().layer(loader.layer()).service(bulk_by_id);
/// assert_eq!(users.clone().oneshot(7).await?, Some("user 7".to_string()));
/// assert_eq!(users.oneshot(700).await?, None);
/// # Ok(()) }
/// ```
pub struct Loader<W = ()> {
    front: Front<W>,
}

impl Loader {
    /// Starts configuring a loader called `name` (the `name` label of its
    /// metrics and the name in its errors).
    pub fn builder(name: impl Into<Arc<str>>) -> LoaderBuilder {
        LoaderBuilder::new(FrontBuilder::new(name.into()))
    }
}

impl<W> Loader<W> {
    pub(crate) fn new(front: Front<W>) -> Self {
        Self { front }
    }

    /// A layer that loads keys in batches from the service it wraps.
    ///
    /// Applying it to an inner service spawns that service's worker task on
    /// the loader's runtime; the task ends when every service made by that
    /// `layer(inner)` call is dropped and every caller is answered. All
    /// services and workers of this loader share its queue capacity and
    /// metrics.
    pub fn layer<K>(&self) -> LoaderLayer<K, W> {
        LoaderLayer::new(self.clone())
    }

    handle_methods!("loader");

    pub(crate) fn front(&self) -> &Front<W> {
        &self.front
    }
}

impl<W> Clone for Loader<W> {
    fn clone(&self) -> Self {
        Self::new(self.front.clone())
    }
}

impl<W> fmt::Debug for Loader<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.front.debug(f, "Loader")
    }
}
