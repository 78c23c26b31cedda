//! Positional batching: `Vec<Req>` in, `Vec<Res>` out, answers matched by
//! position.

mod builder;
mod layer;
mod service;
mod strategy;

use std::{fmt, sync::Arc};

pub use builder::BatcherBuilder;
pub use layer::BatcherLayer;
pub use service::BatcherService;

use crate::front::{Front, FrontBuilder, handle_methods};

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
    front: Front<W>,
}

impl Batcher {
    /// Starts configuring a batcher called `name` (the `name` label of its
    /// metrics and the name in its errors).
    pub fn builder(name: impl Into<Arc<str>>) -> BatcherBuilder {
        BatcherBuilder::new(FrontBuilder::new(name.into()))
    }
}

impl<W> Batcher<W> {
    pub(crate) fn new(front: Front<W>) -> Self {
        Self { front }
    }

    /// A layer that batches calls to the service it wraps.
    ///
    /// Applying it to an inner service spawns that service's worker task on
    /// the batcher's runtime; the task ends when every service made by that
    /// `layer(inner)` call is dropped and every caller is answered. All
    /// services and workers of this batcher share its queue capacity and
    /// metrics.
    pub fn layer<Req>(&self) -> BatcherLayer<Req, W> {
        BatcherLayer::new(self.clone())
    }

    handle_methods!("batcher");

    pub(crate) fn front(&self) -> &Front<W> {
        &self.front
    }
}

impl<W> Clone for Batcher<W> {
    fn clone(&self) -> Self {
        Self::new(self.front.clone())
    }
}

impl<W> fmt::Debug for Batcher<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.front.debug(f, "Batcher")
    }
}
