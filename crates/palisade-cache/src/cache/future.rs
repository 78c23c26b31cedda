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
use tower_service::Service;

use super::service::{L2Lookup, classify_l2};
use crate::{
    leader::{LeadGuard, guarded},
    error::TakeOverFailed,
    waiter::{Waited, Waiter},
    worker::Worker,
};

pin_project! {
    /// The response future of [`CacheService`](super::CacheService).
    pub struct ResponseFuture<S: Service<Req>, Req, K, V> {
        #[pin]
        state: State<S, Req, K, V>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S: Service<Req>, Req, K, V> {
        // Answered from the cache, or already resolved.
        Ready { result: Option<Result<V, BoxError>> },
        // Around the cache.
        Bypass { #[pin] fut: S::Future },
        // This request makes the call for its key.
        Lead { #[pin] fut: S::Future, guard: Option<LeadGuard<K, V>> },
        // This request leads, and waits for the L2 first.
        L2 {
            lookup: L2Lookup<V>,
            req: Option<Req>,
            guard: Option<LeadGuard<K, V>>,
            worker: Arc<Worker<S, Req, K, V>>,
        },
        // Another request makes the call.
        Wait {
            waiter: Waiter<K, V>,
            req: Option<Req>,
            worker: Arc<Worker<S, Req, K, V>>,
        },
    }
}

impl<S: Service<Req>, Req, K, V> fmt::Debug for ResponseFuture<S, Req, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Ready { .. } => "ready",
            State::Bypass { .. } => "bypass",
            State::Lead { .. } => "lead",
            State::L2 { .. } => "l2",
            State::Wait { .. } => "wait",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<S: Service<Req>, Req, K, V> ResponseFuture<S, Req, K, V> {
    pub(super) fn ready(result: Result<V, BoxError>) -> Self {
        Self {
            state: State::Ready {
                result: Some(result),
            },
        }
    }

    pub(super) fn bypass(fut: S::Future) -> Self {
        Self {
            state: State::Bypass { fut },
        }
    }

    pub(super) fn lead(fut: S::Future, guard: LeadGuard<K, V>) -> Self {
        Self {
            state: State::Lead {
                fut,
                guard: Some(guard),
            },
        }
    }

    pub(super) fn l2(
        lookup: L2Lookup<V>,
        req: Req,
        guard: LeadGuard<K, V>,
        worker: Arc<Worker<S, Req, K, V>>,
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

    pub(super) fn wait(waiter: Waiter<K, V>, req: Req, worker: Arc<Worker<S, Req, K, V>>) -> Self {
        Self {
            state: State::Wait {
                waiter,
                req: Some(req),
                worker,
            },
        }
    }
}

impl<S, Req, K, V> Future for ResponseFuture<S, Req, K, V>
where
    S: Service<Req, Response = V> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    Req: Send + 'static,
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
                    let _ = worker.submit(req, Some(guard), ());
                    State::Wait {
                        waiter,
                        req: None,
                        worker: Arc::clone(worker),
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
                            Some(req) => {
                                let _ = worker.submit(req, Some(guard), ());
                            }
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
