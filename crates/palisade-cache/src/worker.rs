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
    hash::Hash,
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::{Mutex, OnceLock, PoisonError},
    task::Poll,
};

use palisade_core::BoxError;
use tokio::sync::mpsc;
use tower_service::Service;

use crate::{error::TakeOverFailed, leader::LeadGuard};

/// A request, the flight it leads (if any), and what the driver needs.
type Job<Req, K, V, X> = (Req, Option<LeadGuard<K, V>>, X);

pub(crate) struct Worker<S: Service<Req>, Req, K, V, X = ()> {
    spare: Mutex<Option<S>>,
    drive: DriveOf<S, Req, K, V, X>,
    tx: OnceLock<mpsc::UnboundedSender<Job<Req, K, V, X>>>,
}

/// Drives one response future of the background service to the completion
/// of its flight (boxed: this is the rare path).
pub(crate) type DriveOf<S, Req, K, V, X> = fn(
    <S as Service<Req>>::Future,
    Option<LeadGuard<K, V>>,
    X,
) -> Pin<Box<dyn Future<Output = ()> + Send>>;

impl<S: Service<Req>, Req, K, V, X> std::fmt::Debug for Worker<S, Req, K, V, X> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("started", &self.tx.get().is_some())
            .finish()
    }
}

impl<S, Req, K, V, X> Worker<S, Req, K, V, X>
where
    X: Send + 'static,
    S: Service<Req> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    Req: Send + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub(crate) fn new(spare: S, drive: DriveOf<S, Req, K, V, X>) -> Self {
        Self {
            spare: Mutex::new(Some(spare)),
            drive,
            tx: OnceLock::new(),
        }
    }

    /// Makes `req`'s call on the background service; the driver gets its
    /// response future, `guard` and `extra`. Without a runtime the job comes
    /// back (and a flight it leads is failed).
    pub(crate) fn submit(
        &self,
        req: Req,
        guard: Option<LeadGuard<K, V>>,
        extra: X,
    ) -> Result<(), X> {
        let job = (req, guard, extra);
        let job = match self.sender() {
            Some(tx) => match tx.send(job) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::SendError(job)) => job,
            },
            None => job,
        };
        let (_req, guard, extra) = job;
        if let Some(guard) = guard {
            let _ = guard.complete(Err(Box::new(TakeOverFailed)));
        }
        Err(extra)
    }

    fn sender(&self) -> Option<&mpsc::UnboundedSender<Job<Req, K, V, X>>> {
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

async fn run<S, Req, K, V, X>(
    mut svc: S,
    mut rx: mpsc::UnboundedReceiver<Job<Req, K, V, X>>,
    drive: DriveOf<S, Req, K, V, X>,
) where
    X: Send + 'static,
    S: Service<Req> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    Req: Send + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    while let Some((req, mut guard, extra)) = rx.recv().await {
        // A panic in the inner service's `poll_ready` or `call` must not end
        // this task (every later take-over would fail): it fails this job's
        // flight with `CallPanicked`, and the worker goes on.
        let ready = poll_fn(|cx| {
            std::panic::catch_unwind(AssertUnwindSafe(|| svc.poll_ready(cx)))
                .map_or_else(|payload| Poll::Ready(Err(payload)), |p| p.map(Ok))
        })
        .await;
        match ready {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                let err: BoxError = err.into();
                crate::telemetry::fetch_failed("background", &*err);
                if let Some(guard) = guard {
                    let _ = guard.complete(Err(err));
                }
                continue;
            }
            Err(payload) => {
                if let Some(guard) = guard {
                    guard.panicked(Some(&*payload));
                }
                continue;
            }
        }
        // (A panic in the spawned future is caught by tokio, which drops it
        // while unwinding: the guard then fails the flight the same way.)
        match std::panic::catch_unwind(AssertUnwindSafe(|| svc.call(req))) {
            Ok(fut) => drop(tokio::spawn(drive(fut, guard.take(), extra))),
            Err(payload) => {
                if let Some(guard) = guard {
                    guard.panicked(Some(&*payload));
                }
            }
        }
    }
}
