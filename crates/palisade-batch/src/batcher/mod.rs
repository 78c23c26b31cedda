//! Positional batching: `Vec<Req>` in, `Vec<Res>` out, answers matched by
//! position.

mod layer;
mod service;
mod worker;

use std::{fmt, sync::Arc};

use palisade_core::ConfigError;

pub use layer::BatchLayer;
pub use service::Batch;

use crate::config::{Core, Settings, builder_methods};

/// A positional batcher: the handle to one batching configuration and the
/// state its services share (queue capacity, metrics, counters).
///
/// Its [`layer`](Batcher::layer) wraps an inner
/// `Service<Vec<Req>, Response = Vec<Res>>` (one response per request, in
/// order) into a `Service<Req, Response = Res>`. Cheap to clone.
///
/// `Req` must be `Clone`: with [`bisect_on_error`](BatcherBuilder::bisect_on_error)
/// the worker keeps a copy of each batch to retry its halves; without it,
/// nothing is cloned.
///
/// ```
/// use std::time::Duration;
/// use palisade_batch::Batcher;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let batcher = Batcher::builder("embed")
///     .max_size(64)
///     .max_wait(Duration::from_millis(2))
///     .max_in_flight(4)
///     .queue_capacity(4096)
///     .build()?;
/// // A bulk service: one length per text, in order.
/// let bulk = service_fn(|texts: Vec<String>| async move {
///     Ok::<_, std::io::Error>(texts.iter().map(|t| t.len()).collect::<Vec<_>>())
/// });
/// let svc = ServiceBuilder::new().layer(batcher.layer()).service(bulk);
/// assert_eq!(svc.oneshot("hello".to_string()).await?, 5);
/// # Ok(()) }
/// ```
pub struct Batcher<W = ()> {
    core: Arc<Core>,
    weigh: Arc<W>,
}

impl Batcher {
    /// Starts configuring a batcher called `name` (the `name` label of its
    /// metrics and the name in its errors).
    pub fn builder(name: impl Into<Arc<str>>) -> BatcherBuilder {
        BatcherBuilder {
            settings: Settings::new(name.into()),
            weigh: (),
        }
    }
}

impl<W> Batcher<W> {
    /// A layer that batches calls to the service it wraps.
    ///
    /// Applying it to an inner service spawns that service's worker task on
    /// the batcher's runtime; the task ends when every service made by that
    /// `layer(inner)` call is dropped and every caller is answered. All
    /// services and workers of this batcher share its queue capacity and
    /// metrics.
    pub fn layer<Req>(&self) -> BatchLayer<Req, W> {
        BatchLayer::new(self.clone())
    }

    /// The batcher's name.
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// Callers waiting for their batch to be sent, over all services.
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

impl<W> Clone for Batcher<W> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
            weigh: self.weigh.clone(),
        }
    }
}

impl<W> fmt::Debug for Batcher<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batcher")
            .field("name", &self.core.name)
            .field("limits", &self.core.limits)
            .field("queue_capacity", &self.core.queue_capacity)
            .field("reject_when_full", &self.core.reject_when_full)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Batcher`]; made by [`Batcher::builder`].
///
/// No setting is required: each has a default (`max_size` 64, no
/// `max_weight`, `max_wait` zero, `max_in_flight` 4, `queue_capacity` 1024,
/// waiting rather than rejecting when full, no bisection, the current tokio
/// runtime). Zero means: for `max_wait`, flush eagerly (a batch is sent as
/// soon as a batch slot is free); for `max_size`, `max_weight`,
/// `max_in_flight` and `bisect_on_error`, a [`ConfigError`] from
/// [`build`](Self::build) naming the field.
pub struct BatcherBuilder<W = ()> {
    settings: Settings,
    weigh: W,
}

impl<W> BatcherBuilder<W> {
    builder_methods!("batch");

    /// How much each request counts against
    /// [`max_weight`](Self::max_weight) (default: 1 each).
    pub fn weigh<Req, F>(self, weigh: F) -> BatcherBuilder<F>
    where
        F: Fn(&Req) -> usize + Send + Sync + 'static,
    {
        BatcherBuilder {
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
    pub fn build(self) -> Result<Batcher<W>, ConfigError> {
        Ok(Batcher {
            core: Arc::new(self.settings.build()?),
            weigh: Arc::new(self.weigh),
        })
    }
}

impl<W> fmt::Debug for BatcherBuilder<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatcherBuilder")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}
