//! The one background service of a cache layer: it makes the calls that no
//! request future can make with its own service — a take-over after a
//! cancelled leader, and the call after an L2 miss that was awaited.
//!
//! The inner service is cloned once, when `Layer::layer` wraps it; the clone
//! waits here until the first such call, then moves into a tokio task that
//! drives its readiness and spawns each response future. The task ends when
//! every service made by that `layer()` call is dropped.

use std::{
    future::{Future, poll_fn},
    pin::Pin,
    hash::Hash,
    sync::{Mutex, OnceLock, PoisonError},
};

use palisade_core::BoxError;
use tokio::sync::mpsc;
use tower_service::Service;

use crate::{core::LeadGuard, error::TakeOverFailed};

type Job<Req, K, V> = (Req, LeadGuard<K, V>);

pub(crate) struct Worker<S: Service<Req>, Req, K, V> {
    spare: Mutex<Option<S>>,
    drive: DriveOf<S, Req, K, V>,
    tx: OnceLock<mpsc::UnboundedSender<Job<Req, K, V>>>,
}

/// Drives one response future of the background service to the completion
/// of its flight (boxed: this is the rare path).
pub(crate) type DriveOf<S, Req, K, V> = fn(
    <S as Service<Req>>::Future,
    LeadGuard<K, V>,
) -> Pin<Box<dyn Future<Output = ()> + Send>>;

impl<S: Service<Req>, Req, K, V> std::fmt::Debug for Worker<S, Req, K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("started", &self.tx.get().is_some())
            .finish()
    }
}

impl<S, Req, K, V> Worker<S, Req, K, V>
where
    S: Service<Req> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    Req: Send + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub(crate) fn new(spare: S, drive: DriveOf<S, Req, K, V>) -> Self {
        Self {
            spare: Mutex::new(Some(spare)),
            drive,
            tx: OnceLock::new(),
        }
    }

    /// Makes `req`'s call on the background service; its result completes
    /// the flight of `guard`. Without a runtime, the flight fails.
    pub(crate) fn submit(&self, req: Req, guard: LeadGuard<K, V>) {
        let job = (req, guard);
        let job = match self.sender() {
            Some(tx) => match tx.send(job) {
                Ok(()) => return,
                Err(mpsc::error::SendError(job)) => job,
            },
            None => job,
        };
        let (_req, guard) = job;
        let _ = guard.complete(Err(Box::new(TakeOverFailed)));
    }

    fn sender(&self) -> Option<&mpsc::UnboundedSender<Job<Req, K, V>>> {
        if let Some(tx) = self.tx.get() {
            return Some(tx);
        }
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let mut spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tx) = self.tx.get() {
            return Some(tx);
        }
        let svc = spare.take()?;
        let (tx, rx) = mpsc::unbounded_channel();
        handle.spawn(run(svc, rx, self.drive));
        drop(spare);
        Some(self.tx.get_or_init(|| tx))
    }
}

async fn run<S, Req, K, V>(
    mut svc: S,
    mut rx: mpsc::UnboundedReceiver<Job<Req, K, V>>,
    drive: DriveOf<S, Req, K, V>,
) where
    S: Service<Req> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    Req: Send + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    while let Some((req, guard)) = rx.recv().await {
        if let Err(err) = poll_fn(|cx| svc.poll_ready(cx)).await {
            let _ = guard.complete(Err(err.into()));
            continue;
        }
        tokio::spawn(drive(svc.call(req), guard));
    }
}
