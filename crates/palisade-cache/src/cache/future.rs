//! [`ResponseFuture`] of [`CacheService`](super::CacheService).

use std::{
    fmt,
    future::Future,
    hash::Hash,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use palisade_core::BoxError;
use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::l2::classify_l2;
use crate::{
    error::TakeOverFailed,
    l2::EntryLookup,
    leader::{LeadGuard, guarded},
    waiter::{Waited, Waiter},
    worker::WorkerRef,
};

/// The background worker, if this service has one (see `Background`).
type Worker<Req, K, V> = Option<WorkerRef<Req, K, V, ()>>;

/// Makes `req`'s call on the background service for `guard`'s flight (the
/// flight fails if there is no worker or runtime).
fn submit<Req, K, V>(worker: &Worker<Req, K, V>, req: Req, guard: LeadGuard<K, V>)
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    match worker {
        Some(worker) => {
            let _ = worker.submit(req, Some(guard), ());
        }
        None => {
            let _ = guard.complete(Err(Box::new(TakeOverFailed)));
        }
    }
}

pin_project! {
    /// The response future of [`CacheService`](super::CacheService).
    pub struct ResponseFuture<Fut, Req, K, V> {
        #[pin]
        state: State<Fut, Req, K, V>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<Fut, Req, K, V> {
        // Answered from the cache, or already resolved.
        Ready { result: Option<Result<V, BoxError>> },
        // Around the cache.
        Bypass { #[pin] fut: Fut },
        // This request makes the call for its key.
        Lead { #[pin] fut: Fut, guard: Option<LeadGuard<K, V>> },
        // This request leads, and waits for the L2 first.
        L2 {
            lookup: EntryLookup<V>,
            req: Option<Req>,
            guard: Option<LeadGuard<K, V>>,
            worker: Worker<Req, K, V>,
        },
        // Another request makes the call.
        Wait {
            waiter: Waiter<K, V>,
            req: Option<Req>,
            worker: Worker<Req, K, V>,
        },
    }
}

impl<Fut, Req, K, V> fmt::Debug for ResponseFuture<Fut, Req, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Ready { .. } => "ready",
            State::Bypass { .. } => "bypass",
            State::Lead { .. } => "lead",
            State::L2 { .. } => "l2",
            State::Wait { .. } => "wait",
        };
        crate::debug::state_machine(f, "ResponseFuture", state)
    }
}

impl<Fut, Req, K, V> ResponseFuture<Fut, Req, K, V> {
    pub(super) fn ready(result: Result<V, BoxError>) -> Self {
        Self {
            state: State::Ready {
                result: Some(result),
            },
        }
    }

    pub(super) fn bypass(fut: Fut) -> Self {
        Self {
            state: State::Bypass { fut },
        }
    }

    pub(super) fn lead(fut: Fut, guard: LeadGuard<K, V>) -> Self {
        Self {
            state: State::Lead {
                fut,
                guard: Some(guard),
            },
        }
    }

    pub(super) fn l2(
        lookup: EntryLookup<V>,
        req: Req,
        guard: LeadGuard<K, V>,
        worker: Worker<Req, K, V>,
    ) -> Self {
        Self {
            state: State::L2 {
                lookup,
                req: Some(req),
                guard: Some(guard),
                worker,
            },
        }
    }

    pub(super) fn wait(waiter: Waiter<K, V>, req: Req, worker: Worker<Req, K, V>) -> Self {
        Self {
            state: State::Wait {
                waiter,
                req: Some(req),
                worker,
            },
        }
    }
}

impl<Fut, E, Req, K, V> Future for ResponseFuture<Fut, Req, K, V>
where
    Fut: Future<Output = Result<V, E>>,
    E: Into<BoxError>,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    type Output = Result<V, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Ready { result } => {
                    return Poll::Ready(
                        result
                            .take()
                            .unwrap_or_else(|| Err(Box::new(TakeOverFailed))),
                    );
                }
                StateProj::Bypass { fut } => return fut.poll(cx).map_err(Into::into),
                StateProj::Lead { fut, guard } => {
                    let result = ready!(guarded(guard, || fut.poll(cx))).map_err(Into::into);
                    let out = match guard.take() {
                        Some(guard) => guard.complete(result),
                        None => result,
                    };
                    return Poll::Ready(out);
                }
                StateProj::L2 {
                    lookup,
                    req,
                    guard,
                    worker,
                } => {
                    let found = ready!(lookup.as_mut().poll(cx));
                    let (Some(mut guard), Some(req)) = (guard.take(), req.take()) else {
                        return Poll::Ready(Err(Box::new(TakeOverFailed)));
                    };
                    if let Some(entry) = classify_l2(found, Instant::now(), &mut guard) {
                        return Poll::Ready(Ok(guard.fill(entry)));
                    }
                    // L2 miss: the background service makes the call; this
                    // request waits for it like any other.
                    let slot = guard.flight.add_waiter();
                    let waiter = Waiter::new(
                        Arc::clone(&guard.state),
                        guard.key.clone(),
                        Arc::clone(&guard.flight),
                        slot,
                        guard.stale.clone(),
                    );
                    submit(worker, req, guard);
                    State::Wait {
                        waiter,
                        req: None,
                        worker: worker.clone(),
                    }
                }
                StateProj::Wait {
                    waiter,
                    req,
                    worker,
                } => match ready!(waiter.poll(cx)) {
                    Waited::Ready(result) => return Poll::Ready(result),
                    Waited::TakeOver(guard) => {
                        match req.take() {
                            Some(req) => submit(worker, req, guard),
                            None => {
                                let _ = guard.complete(Err(Box::new(TakeOverFailed)));
                            }
                        }
                        continue;
                    }
                    Waited::Pass => match req.take() {
                        // Generic values are always shared; a pass means the
                        // call ended without a result to share (and without
                        // waiters, so this is unreachable in practice).
                        Some(_) | None => return Poll::Ready(Err(Box::new(TakeOverFailed))),
                    },
                },
            };
            this.state.set(next);
        }
    }
}
