//! Keyed loading (DataLoader style): `Vec<K>` in, `HashMap<K, V>` out; equal
//! keys are sent once, also while in flight.

mod layer;
mod service;
mod worker;

use std::{fmt, sync::Arc};

use palisade_core::ConfigError;

pub use layer::LoadLayer;
pub use service::Load;

use crate::config::{Core, Settings, builder_methods};

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
    core: Arc<Core>,
    weigh: Arc<W>,
}

impl Loader {
    /// Starts configuring a loader called `name` (the `name` label of its
    /// metrics and the name in its errors).
    pub fn builder(name: impl Into<Arc<str>>) -> LoaderBuilder {
        LoaderBuilder {
            settings: Settings::new(name.into()),
            weigh: (),
        }
    }
}

impl<W> Loader<W> {
    /// A layer that loads keys in batches from the service it wraps.
    ///
    /// Applying it to an inner service spawns that service's worker task on
    /// the loader's runtime; the task ends when every service made by that
    /// `layer(inner)` call is dropped and every caller is answered. All
    /// services and workers of this loader share its queue capacity and
    /// metrics.
    pub fn layer<K>(&self) -> LoadLayer<K, W> {
        LoadLayer::new(self.clone())
    }

    /// The loader's name.
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// Callers waiting for their key to be sent, over all services.
    pub fn queued(&self) -> usize {
        self.core.queued()
    }

    /// Batches outstanding at inner services.
    pub fn in_flight(&self) -> usize {
        self.core.in_flight()
    }

    /// Worker tasks running (one per wrapped inner service still in use).
    pub fn workers(&self) -> usize {
        self.core.workers()
    }

    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.core
    }

    pub(crate) fn weigher(&self) -> &Arc<W> {
        &self.weigh
    }
}

impl<W> Clone for Loader<W> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
            weigh: self.weigh.clone(),
        }
    }
}

impl<W> fmt::Debug for Loader<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loader")
            .field("name", &self.core.name)
            .field("limits", &self.core.limits)
            .field("queue_capacity", &self.core.queue_capacity)
            .field("reject_when_full", &self.core.reject_when_full)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Loader`]; made by [`Loader::builder`].
///
/// No setting is required: each has a default (`max_size` 64, no
/// `max_weight`, `max_wait` zero, `max_in_flight` 4, `queue_capacity` 1024,
/// waiting rather than rejecting when full, no bisection, the current tokio
/// runtime). Zero means: for `max_wait`, flush eagerly (a batch is sent as
/// soon as a batch slot is free); for `max_size`, `max_weight`,
/// `max_in_flight` and `bisect_on_error`, a [`ConfigError`] from
/// [`build`](Self::build) naming the field.
pub struct LoaderBuilder<W = ()> {
    settings: Settings,
    weigh: W,
}

impl<W> LoaderBuilder<W> {
    builder_methods!("batch of keys");

    /// How much each key counts against [`max_weight`](Self::max_weight)
    /// (default: 1 each).
    pub fn weigh<K, F>(self, weigh: F) -> LoaderBuilder<F>
    where
        F: Fn(&K) -> usize + Send + Sync + 'static,
    {
        LoaderBuilder {
            settings: self.settings,
            weigh,
        }
    }

    /// Validates the configuration.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field when `max_size`, `max_weight`,
    /// `max_in_flight` is zero, `queue_capacity` is below `max_size`,
    /// `bisect_on_error` is outside 1..=16, or no tokio runtime is current
    /// and none was given with [`runtime`](Self::runtime) (field `runtime`).
    pub fn build(self) -> Result<Loader<W>, ConfigError> {
        Ok(Loader {
            core: Arc::new(self.settings.build()?),
            weigh: Arc::new(self.weigh),
        })
    }
}

impl<W> fmt::Debug for LoaderBuilder<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoaderBuilder")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}
