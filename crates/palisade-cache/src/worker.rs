//! The one background service of a cache layer: it makes the calls that no
//! request future can make with its own service — a take-over after a
//! cancelled leader, and the call after an L2 miss that was awaited.
//!
//! The inner service is cloned once, when `Layer::layer` wraps it, into a
//! [`Background`]; the clone waits there until the first such call, then
//! moves into a [`Worker`]'s tokio task that drives its readiness and spawns
//! each response future. The task ends when every service made by that
//! `layer()` call is dropped. Both `CacheService` and `HttpCacheService` use
//! it; response futures hold the worker as an `Arc<dyn Submit>`, so their
//! type does not name the inner service.

use std::{
    any::Any,
    future::{Future, poll_fn},
    hash::Hash,
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::{Arc, Mutex, OnceLock, PoisonError},
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

/// A worker as the response futures hold it: without the inner service's
/// type.
pub(crate) trait Submit<Req, K, V, X>: Send + Sync {
    /// See [`Worker::submit`].
    fn submit(&self, req: Req, guard: Option<LeadGuard<K, V>>, extra: X) -> Result<(), X>;
}

impl<S, Req, K, V, X> Submit<Req, K, V, X> for Worker<S, Req, K, V, X>
where
    X: Send + 'static,
    S: Service<Req> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    Req: Send + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn submit(&self, req: Req, guard: Option<LeadGuard<K, V>>, extra: X) -> Result<(), X> {
        Worker::submit(self, req, guard, extra)
    }
}

/// A shared worker (see [`Submit`]).
pub(crate) type WorkerRef<Req, K, V, X> = Arc<dyn Submit<Req, K, V, X>>;

/// The inner service's one background clone, and the worker driving it,
/// made on first use (typed by the request, known only in `call`).
pub(crate) struct Background<S> {
    spare: Mutex<Option<S>>,
    worker: OnceLock<Box<dyn Any + Send + Sync>>,
}

impl<S> std::fmt::Debug for Background<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Background")
            .field("started", &self.worker.get().is_some())
            .finish()
    }
}

impl<S> Background<S> {
    pub(crate) fn new(spare: S) -> Self {
        Self {
            spare: Mutex::new(Some(spare)),
            worker: OnceLock::new(),
        }
    }

    /// The worker for requests of type `Req`, made with `drive` on first
    /// use. `None` if the spare service went to a worker for another request
    /// type (one service called with two request types; never in practice).
    pub(crate) fn worker<Req, K, V, X>(
        &self,
        drive: DriveOf<S, Req, K, V, X>,
    ) -> Option<WorkerRef<Req, K, V, X>>
    where
        X: Send + 'static,
        S: Service<Req> + Send + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
        Req: Send + 'static,
        K: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let worker = self.worker.get_or_init(|| {
            let spare = self
                .spare
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            match spare {
                Some(svc) => {
                    let worker: WorkerRef<Req, K, V, X> = Arc::new(Worker::new(svc, drive));
                    Box::new(worker)
                }
                None => Box::new(()),
            }
        });
        worker.downcast_ref::<WorkerRef<Req, K, V, X>>().cloned()
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
