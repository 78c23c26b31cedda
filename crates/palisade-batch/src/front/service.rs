//! [`Caller`]: what [`BatcherService`](crate::BatcherService) and
//! [`LoaderService`](crate::LoaderService) do — reserve room in the queue in
//! `poll_ready`, send the item to the worker in `call`.
//!
//! Capacity is a semaphore, not a bounded channel: a caller holds one permit
//! from `poll_ready` until its item is *sent to the inner service* (or dropped
//! because the caller gave up), so `queue_capacity` bounds the items waiting
//! for a batch, not just the items in the channel. The channel itself is
//! unbounded for that reason; it never holds more than the permits allow.

use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use palisade_core::{BoxError, RejectKind, Rejected};
use tokio::{
    sync::{OwnedSemaphorePermit, TryAcquireError, mpsc, oneshot},
    time::Instant,
};
use tokio_util::sync::PollSemaphore;

use crate::{future::ResponseFuture, queue::Msg, state::BatchState};

/// The caller's end of one worker: reserves room in `poll_ready`, sends in
/// `call`.
pub(crate) struct Caller<T, R> {
    tx: mpsc::UnboundedSender<Msg<T, R>>,
    state: Arc<BatchState>,
    /// Created the first time the queue is found full (it allocates).
    waiting: Option<PollSemaphore>,
    permit: Option<OwnedSemaphorePermit>,
    /// `poll_ready` found the queue full and `reject_when_full` is set.
    reject: bool,
}

impl<T, R> Caller<T, R> {
    pub(crate) fn new(tx: mpsc::UnboundedSender<Msg<T, R>>, state: Arc<BatchState>) -> Self {
        Self {
            tx,
            state,
            waiting: None,
            permit: None,
            reject: false,
        }
    }

    /// The name of the batcher or loader.
    pub(crate) fn name(&self) -> &str {
        &self.state.name
    }

    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if self.permit.is_some() || self.reject {
            return Poll::Ready(Ok(()));
        }
        match self.state.semaphore.clone().try_acquire_owned() {
            Ok(permit) => {
                self.permit = Some(permit);
                return Poll::Ready(Ok(()));
            }
            Err(TryAcquireError::NoPermits) if self.state.reject_when_full => {
                self.reject = true;
                return Poll::Ready(Ok(()));
            }
            // The semaphore is never closed; wait like for no permits.
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => {}
        }
        let semaphore = &self.state.semaphore;
        let waiting = self
            .waiting
            .get_or_insert_with(|| PollSemaphore::new(semaphore.clone()));
        match waiting.poll_acquire(cx) {
            Poll::Ready(Some(permit)) => {
                self.permit = Some(permit);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(None) => Poll::Ready(Err(Rejected::new(
                RejectKind::Closed,
                self.state.name.clone(),
            )
            .into())),
            Poll::Pending => Poll::Pending,
        }
    }

    pub(crate) fn call(&mut self, item: T) -> ResponseFuture<R> {
        let permit = match self.permit.take() {
            Some(permit) => permit,
            None => {
                let rejected = std::mem::take(&mut self.reject);
                // `call` without a successful `poll_ready` (a contract
                // violation) still never waits: take room if there is some.
                match self.state.semaphore.clone().try_acquire_owned() {
                    Ok(permit) if !rejected => permit,
                    _ => {
                        return ResponseFuture::failed(
                            Rejected::new(RejectKind::BatchFull, self.state.name.clone()).into(),
                        );
                    }
                }
            }
        };
        let (tx, rx) = oneshot::channel();
        let msg = Msg {
            item,
            tx,
            permit,
            arrived: Instant::now(),
        };
        if self.tx.send(msg).is_err() {
            return ResponseFuture::failed(
                Rejected::new(RejectKind::Closed, self.state.name.clone()).into(),
            );
        }
        ResponseFuture::waiting(rx, self.state.name.clone())
    }
}

impl<T, R> Clone for Caller<T, R> {
    /// A clone shares the queue but never a reservation.
    fn clone(&self) -> Self {
        Self::new(self.tx.clone(), self.state.clone())
    }
}

impl<T, R> fmt::Debug for Caller<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caller")
            .field("name", &self.state.name)
            .field("reserved", &self.permit.is_some())
            .field("reject", &self.reject)
            .finish_non_exhaustive()
    }
}
