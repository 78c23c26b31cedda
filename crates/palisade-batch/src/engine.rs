//! The worker loop both batchers run: intake, flush decisions, inner
//! readiness, outstanding batches, linger timer and bisection.
//!
//! What differs between positional batching and keyed loading (how an item
//! joins the queue, how a batch is answered) is a [`Strategy`].

use std::{
    future::Future,
    panic::{AssertUnwindSafe, catch_unwind},
    pin::Pin,
    sync::{Arc, atomic::Ordering},
    task::{Context, Poll},
};

use futures_util::stream::{FuturesUnordered, StreamExt};
use palisade_core::BoxError;
use pin_project_lite::pin_project;
use tokio::{
    sync::mpsc,
    time::{Instant, Sleep},
};

use crate::{
    bisect,
    error::{BatchFailed, Panicked, SharedError, site},
    queue::Queue,
    state::BatchState,
    stats::FlushReason,
};

/// What a batcher does with its items; the [`Engine`] decides when.
pub(crate) trait Strategy {
    /// What a caller sends.
    type Msg;
    /// An item waiting in the queue.
    type Queued;
    /// A batch being sent or outstanding: what is needed to answer it.
    type Job;
    /// The inner service's response to a batch.
    type Output;
    /// The inner service's error.
    type Error: Into<BoxError>;
    /// The inner service's future.
    type Call: Future<Output = Result<Self::Output, Self::Error>>;

    /// A caller's item arrives: queue it (or attach it to an equal one).
    fn admit(&mut self, msg: Self::Msg, queue: &mut Queue<Self::Queued>);
    /// Takes the next batch from the queue, skipping callers that gave up;
    /// `None` when nobody is left in it.
    fn form(
        &mut self,
        queue: &mut Queue<Self::Queued>,
        state: &BatchState,
        now: Instant,
    ) -> Option<Self::Job>;
    /// Drops callers that gave up from a batch about to be retried; `None`
    /// when nobody is left.
    fn prune(&mut self, job: Self::Job) -> Option<Self::Job>;
    /// Items in the batch.
    fn len(job: &Self::Job) -> usize;
    /// The inner service's readiness.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>>;
    /// Sends the batch to the inner service.
    fn call(&mut self, job: &mut Self::Job) -> Self::Call;
    /// The inner service answered: answer every caller.
    fn answer(&mut self, job: Self::Job, output: Self::Output);
    /// Splits a failed batch in two halves.
    fn split(&mut self, job: Self::Job) -> (Self::Job, Self::Job);
    /// The batch failed for good: every caller gets the error.
    fn fail(&mut self, job: Self::Job, error: &BatchFailed);
}

pin_project! {
    /// An outstanding inner call with the batch it carries.
    struct Running<F, J> {
        #[pin]
        call: F,
        job: Option<J>,
        depth: u32,
    }
}

impl<F: Future, J> Future for Running<F, J> {
    /// The batch, its split depth, and the inner call's output — or the
    /// panic that ended it (the future is then never polled again).
    type Output = (J, u32, Result<F::Output, Panicked>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut call = this.call;
        // A panic in the inner future must not unwind through the worker:
        // it fails this batch only.
        let out = match catch_unwind(AssertUnwindSafe(|| call.as_mut().poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(out)) => Ok(out),
            Err(payload) => Err(Panicked::new(site::FUTURE, &*payload)),
        };
        match this.job.take() {
            Some(job) => Poll::Ready((job, *this.depth, out)),
            // FuturesUnordered never polls a finished future again.
            None => Poll::Pending,
        }
    }
}

/// One worker: owns the inner service (inside the strategy) and the
/// receiving end of the callers' channel; ends when every sender is gone
/// and every caller is answered.
pub(crate) struct Engine<St: Strategy> {
    strategy: St,
    state: Arc<BatchState>,
    rx: mpsc::UnboundedReceiver<St::Msg>,
    queue: Queue<St::Queued>,
    /// Halves of failed batches, sent before new batches.
    retries: std::collections::VecDeque<(St::Job, u32)>,
    running: FuturesUnordered<Running<St::Call, St::Job>>,
    sleep: Option<Pin<Box<Sleep>>>,
    closed: bool,
}

impl<St> Engine<St>
where
    St: Strategy + Send + 'static,
    St::Msg: Send,
    St::Queued: Send,
    St::Job: Send,
    St::Call: Send,
{
    /// Spawns the worker on the configured runtime.
    pub(crate) fn spawn(
        strategy: St,
        state: Arc<BatchState>,
        rx: mpsc::UnboundedReceiver<St::Msg>,
    ) {
        let runtime = state.runtime.clone();
        state.workers.fetch_add(1, Ordering::Relaxed);
        state.telemetry.worker_started();
        let mut engine = Engine {
            strategy,
            state,
            rx,
            queue: Queue::new(),
            retries: std::collections::VecDeque::new(),
            running: FuturesUnordered::new(),
            sleep: None,
            closed: false,
        };
        // If the runtime is shutting down, the engine is dropped unpolled
        // and its `Drop` still does the bookkeeping.
        drop(runtime.spawn(async move {
            std::future::poll_fn(|cx| engine.poll_run(cx)).await;
        }));
    }
}

impl<St: Strategy> Drop for Engine<St> {
    /// The worker ended: every caller answered, or its runtime shut down
    /// (callers still waiting then get `Rejected` of kind `Closed`).
    fn drop(&mut self) {
        for _ in 0..self.running.len() {
            self.state.in_flight.fetch_sub(1, Ordering::Relaxed);
            self.state.telemetry.call_finished();
        }
        self.state.workers.fetch_sub(1, Ordering::Relaxed);
        self.state.telemetry.worker_stopped();
    }
}

impl<St: Strategy> Engine<St> {
    fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let mut progress = self.intake(cx);
            progress |= self.complete(cx);
            progress |= self.dispatch(cx);
            if progress {
                continue;
            }
            if self.closed
                && self.queue.is_empty()
                && self.retries.is_empty()
                && self.running.is_empty()
            {
                return Poll::Ready(());
            }
            if self.poll_linger(cx) {
                continue;
            }
            return Poll::Pending;
        }
    }

    /// Moves every caller's item from the channel into the queue.
    fn intake(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while !self.closed {
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(msg)) => self.strategy.admit(msg, &mut self.queue),
                Poll::Ready(None) => self.closed = true,
                Poll::Pending => break,
            }
            progress = true;
        }
        progress
    }

    /// Answers the callers of every finished inner call.
    fn complete(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while let Poll::Ready(Some((job, depth, result))) = self.running.poll_next_unpin(cx) {
            progress = true;
            self.state.in_flight.fetch_sub(1, Ordering::Relaxed);
            self.state.telemetry.call_finished();
            match result {
                Ok(Ok(output)) => self.strategy.answer(job, output),
                Ok(Err(error)) => self.failed(job, depth, Arc::from(error.into())),
                Err(panicked) => self.failed(job, depth, Arc::new(panicked)),
            }
        }
        progress
    }

    /// A batch failed: bisect it or fail its callers.
    fn failed(&mut self, job: St::Job, depth: u32, cause: SharedError) {
        let len = St::len(&job);
        if bisect::should_split(len, depth, self.state.limits.bisect_depth) {
            self.state.telemetry.bisecting(len, depth, &*cause);
            let (first, second) = self.strategy.split(job);
            self.retries.push_back((first, depth + 1));
            self.retries.push_back((second, depth + 1));
        } else {
            self.state.telemetry.failed(len, &*cause);
            let error = BatchFailed::new(self.state.name.clone(), len, cause);
            self.strategy.fail(job, &error);
        }
    }

    /// Sends batches while a slot is free, one is due and the inner service
    /// is ready.
    fn dispatch(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while self.running.len() < self.state.limits.max_in_flight {
            let reason = if self.retries.is_empty() {
                match self
                    .queue
                    .flush_reason(&self.state.limits, Instant::now, self.closed)
                {
                    Some(reason) => reason,
                    None => break,
                }
            } else {
                FlushReason::Retry
            };
            let strategy = &mut self.strategy;
            let ready: Result<(), SharedError> =
                match catch_unwind(AssertUnwindSafe(|| strategy.poll_ready(cx))) {
                    Ok(Poll::Pending) => break,
                    Ok(Poll::Ready(ready)) => ready.map_err(|e| Arc::from(e.into())),
                    Err(payload) => Err(Arc::new(Panicked::new(site::POLL_READY, &*payload))),
                };
            progress = true;
            let Some((mut job, depth)) = self.next_job(reason) else {
                continue;
            };
            if let Err(error) = ready {
                // A readiness error (or panic) fails the batch that waited
                // for it; the worker goes on with the next one.
                self.failed(job, self.state.limits.bisect_depth, error);
                continue;
            }
            self.state.flushed(reason, St::len(&job));
            let strategy = &mut self.strategy;
            let call = match catch_unwind(AssertUnwindSafe(|| strategy.call(&mut job))) {
                Ok(call) => call,
                Err(payload) => {
                    // The batch fails like one whose call failed (and is
                    // bisected like one); the worker goes on.
                    let panicked = Panicked::new(site::CALL, &*payload);
                    self.failed(job, depth, Arc::new(panicked));
                    continue;
                }
            };
            self.running.push(Running {
                call,
                job: Some(job),
                depth,
            });
            self.state.in_flight.fetch_add(1, Ordering::Relaxed);
            self.state.telemetry.call_started();
        }
        progress
    }

    fn next_job(&mut self, reason: FlushReason) -> Option<(St::Job, u32)> {
        if reason == FlushReason::Retry {
            let (job, depth) = self.retries.pop_front()?;
            Some((self.strategy.prune(job)?, depth))
        } else {
            let job = self
                .strategy
                .form(&mut self.queue, &self.state, Instant::now())?;
            Some((job, 0))
        }
    }

    /// Arms the linger timer of the oldest item; true when it fired.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> bool {
        let max_wait = self.state.limits.max_wait;
        if max_wait.is_zero() || self.closed || self.queue.is_due() {
            return false;
        }
        let Some(deadline) = self.queue.deadline(max_wait) else {
            return false;
        };
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        if sleep.as_mut().poll(cx).is_ready() {
            self.queue.mark_due();
            return true;
        }
        false
    }
}
