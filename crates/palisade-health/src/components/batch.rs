//! Batchers and loaders as components.

use std::sync::{Mutex, PoisonError};

use palisade_batch::{BatchStats, Batcher, Loader};
use serde_json::{Map, Value, json};

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
    /// Batches and items sent so far, and the batches by flush reason.
    fn stats(&self) -> BatchStats;
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
    fn stats(&self) -> BatchStats {
        Batcher::stats(self)
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
    fn stats(&self) -> BatchStats {
        Loader::stats(self)
    }
}

/// A [`Batcher`] or [`Loader`] judged by its workers: `DOWN` when no worker
/// task runs (none was started by applying its layer, or every service made
/// from it is gone), `UP` otherwise. Register it once its layer is applied.
///
/// Its data: `queued`, `in_flight` and `workers` now; `batch_size`, the mean
/// items per batch sent *since the previous check* (`null` when none was
/// sent), so the page shows the current batch size rather than an average
/// over the whole run; `batches` and `items`, the totals since the handle was
/// built (their ratio is the overall mean); and `flushes`, the batches sent
/// so far by reason as an object (`{"size": 12, "time": 3}`; reasons with no
/// batch left out).
#[derive(Debug)]
pub struct BatchComponent<H> {
    handle: H,
    /// Batches and items sent at the previous check.
    previous: Mutex<(u64, u64)>,
}

impl<H: BatchHandle> BatchComponent<H> {
    /// Judges `handle`; the component is called by its name.
    pub fn new(handle: H) -> Self {
        Self {
            handle,
            previous: Mutex::new((0, 0)),
        }
    }

    /// Mean items per batch sent since the previous check.
    fn recent_batch_size(&self, stats: &BatchStats) -> Option<f64> {
        let mut previous = self.previous.lock().unwrap_or_else(PoisonError::into_inner);
        let (batches, items) = std::mem::replace(&mut *previous, (stats.batches, stats.items));
        let batches = stats.batches.saturating_sub(batches);
        let items = stats.items.saturating_sub(items);
        #[allow(clippy::cast_precision_loss)]
        (batches > 0).then(|| items as f64 / batches as f64)
    }
}

/// The batches sent by reason, as `{reason: count}` without the zeros.
fn flushes(stats: &BatchStats) -> Value {
    let by_reason: Map<String, Value> = stats
        .flushes
        .iter()
        .filter(|(_, count)| *count > 0)
        .map(|(reason, count)| (reason.label().to_owned(), Value::from(count)))
        .collect();
    Value::Object(by_reason)
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
        let stats = self.handle.stats();
        let data = json!({
            "queued": self.handle.queued(),
            "in_flight": self.handle.in_flight(),
            "workers": workers,
            "batch_size": self.recent_batch_size(&stats),
            "batches": stats.batches,
            "items": stats.items,
            "flushes": flushes(&stats),
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
