//! The positional strategy: one answer per request, matched by position.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use tokio::time::Instant;
use tower_service::Service;

use crate::{
    bisect,
    engine::Strategy,
    error::{BatchFailed, WrongLength},
    queue::{Answer, Msg, Queue},
    state::BatchState,
    weigh::{Weigh, weigh_caught},
};

/// A queued request with its caller.
pub(crate) struct Queued<Req, Res> {
    req: Req,
    tx: Answer<Res>,
    // Held until the request is sent (or dropped): room in the queue.
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// A batch: requests and their callers, in the same order.
pub(crate) struct Job<Req, Res> {
    /// Empty once sent unless the batch may be bisected (then a copy is kept).
    reqs: Vec<Req>,
    txs: Vec<Answer<Res>>,
}

pub(crate) struct Positional<S, Req, Res, W> {
    inner: S,
    weigh: Arc<W>,
    name: Arc<str>,
    keep_copies: bool,
    _types: std::marker::PhantomData<fn(Req) -> Res>,
}

impl<S, Req, Res, W> Positional<S, Req, Res, W> {
    pub(crate) fn new(inner: S, weigh: Arc<W>, state: &BatchState) -> Self {
        Self {
            inner,
            weigh,
            name: state.name.clone(),
            keep_copies: state.limits.bisect_depth > 0,
            _types: std::marker::PhantomData,
        }
    }
}

impl<S, Req, Res, W> Strategy for Positional<S, Req, Res, W>
where
    S: Service<Vec<Req>, Response = Vec<Res>>,
    S::Error: Into<palisade_core::BoxError>,
    Req: Clone,
    W: Weigh<Req>,
{
    type Msg = Msg<Req, Res>;
    type Queued = Queued<Req, Res>;
    type Job = Job<Req, Res>;
    type Output = Vec<Res>;
    type Error = S::Error;
    type Call = S::Future;

    fn admit(&mut self, msg: Self::Msg, queue: &mut Queue<Self::Queued>) {
        let weight = match weigh_caught(&*self.weigh, &msg.item) {
            Ok(weight) => weight,
            Err(panicked) => {
                let _ = msg.tx.send(Err(Box::new(panicked)));
                return;
            }
        };
        let queued = Queued {
            req: msg.item,
            tx: msg.tx,
            _permit: msg.permit,
        };
        queue.push(queued, weight, msg.arrived);
    }

    fn form(
        &mut self,
        queue: &mut Queue<Self::Queued>,
        state: &BatchState,
        now: Instant,
    ) -> Option<Self::Job> {
        let mut job = Job {
            reqs: Vec::new(),
            txs: Vec::new(),
        };
        queue.take(&state.limits, |entry| {
            if entry.value.tx.is_closed() {
                return false;
            }
            state
                .telemetry
                .waited(now.saturating_duration_since(entry.arrived));
            job.reqs.push(entry.value.req);
            job.txs.push(entry.value.tx);
            true
        });
        (!job.txs.is_empty()).then_some(job)
    }

    fn prune(&mut self, mut job: Self::Job) -> Option<Self::Job> {
        let mut i = 0;
        while i < job.txs.len() {
            if job.txs[i].is_closed() {
                job.txs.swap_remove(i);
                job.reqs.swap_remove(i);
            } else {
                i += 1;
            }
        }
        (!job.txs.is_empty()).then_some(job)
    }

    fn len(job: &Self::Job) -> usize {
        job.txs.len()
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, job: &mut Self::Job) -> Self::Call {
        let reqs = if self.keep_copies {
            job.reqs.clone()
        } else {
            std::mem::take(&mut job.reqs)
        };
        self.inner.call(reqs)
    }

    fn answer(&mut self, job: Self::Job, output: Vec<Res>) {
        if output.len() != job.txs.len() {
            let error = WrongLength::new(self.name.clone(), job.txs.len(), output.len());
            for tx in job.txs {
                let _ = tx.send(Err(Box::new(error.clone())));
            }
            return;
        }
        for (tx, res) in job.txs.into_iter().zip(output) {
            // A caller that gave up meanwhile just does not get it.
            let _ = tx.send(Ok(res));
        }
    }

    fn split(&mut self, mut job: Self::Job) -> (Self::Job, Self::Job) {
        let second = Job {
            reqs: bisect::split_half(&mut job.reqs),
            txs: bisect::split_half(&mut job.txs),
        };
        (job, second)
    }

    fn fail(&mut self, job: Self::Job, error: &BatchFailed) {
        for tx in job.txs {
            let _ = tx.send(Err(Box::new(error.clone())));
        }
    }
}
