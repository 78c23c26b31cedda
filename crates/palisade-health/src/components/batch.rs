//! Batchers and loaders as components.

use palisade_batch::{Batcher, Loader};
use serde_json::json;

use crate::{Check, CheckFuture, Component, IntoComponent, Options};

/// What a [`BatchComponent`] reads: implemented for [`Batcher`] and [`Loader`].
pub trait BatchHandle: Send + Sync + 'static {
    /// The handle's name.
    fn name(&self) -> &str;
    /// Callers waiting for their batch to be sent.
    fn queued(&self) -> usize;
    /// Batches outstanding at inner services.
    fn in_flight(&self) -> usize;
    /// Worker tasks running.
    fn workers(&self) -> usize;
}

impl<W: Send + Sync + 'static> BatchHandle for Batcher<W> {
    fn name(&self) -> &str {
        Batcher::name(self)
    }
    fn queued(&self) -> usize {
        Batcher::queued(self)
    }
    fn in_flight(&self) -> usize {
        Batcher::in_flight(self)
    }
    fn workers(&self) -> usize {
        Batcher::workers(self)
    }
}

impl<W: Send + Sync + 'static> BatchHandle for Loader<W> {
    fn name(&self) -> &str {
        Loader::name(self)
    }
    fn queued(&self) -> usize {
        Loader::queued(self)
    }
    fn in_flight(&self) -> usize {
        Loader::in_flight(self)
    }
    fn workers(&self) -> usize {
        Loader::workers(self)
    }
}

/// A [`Batcher`] or [`Loader`] judged by its workers: `DOWN` when no worker
/// task runs (none was started by applying its layer, or every service made
/// from it is gone), `UP` otherwise. Register it once its layer is applied.
#[derive(Debug)]
pub struct BatchComponent<H> {
    handle: H,
}

impl<H: BatchHandle> BatchComponent<H> {
    /// Judges `handle`; the component is called by its name.
    pub fn new(handle: H) -> Self {
        Self { handle }
    }
}

impl<H: BatchHandle> Component for BatchComponent<H> {
    fn name(&self) -> &str {
        self.handle.name()
    }

    fn kind(&self) -> &'static str {
        "batch"
    }

    fn default_options(&self) -> Options {
        super::HANDLE_OPTIONS
    }

    fn check(&self) -> CheckFuture<'_> {
        let workers = self.handle.workers();
        let check = if workers == 0 {
            Check::down("no worker running")
        } else {
            Check::up()
        };
        let data = json!({
            "queued": self.handle.queued(),
            "in_flight": self.handle.in_flight(),
            "workers": workers,
        });
        Box::pin(std::future::ready(check.with_data(data)))
    }
}

impl<W: Send + Sync + 'static> IntoComponent for Batcher<W> {
    type Component = BatchComponent<Batcher<W>>;

    fn into_component(self) -> Self::Component {
        BatchComponent::new(self)
    }
}

impl<W: Send + Sync + 'static> IntoComponent for Loader<W> {
    type Component = BatchComponent<Loader<W>>;

    fn into_component(self) -> Self::Component {
        BatchComponent::new(self)
    }
}
