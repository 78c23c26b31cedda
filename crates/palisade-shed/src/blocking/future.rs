//! The future of a job on a [`BlockingPool`](super::BlockingPool).

use super::{
    JobPanicked,
    state::{QueueSlot, State},
};
use crate::Deadline;
use palisade_core::{BoxError, RejectKind, Rejected};
use pin_project_lite::pin_project;
use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};
use tokio::{
    sync::{AcquireError, OwnedSemaphorePermit},
    task::JoinHandle,
    time::Sleep,
};

/// A unit of blocking work: what a [`RunFuture`] runs on a blocking thread.
/// Implemented by [`Call`] (from `BlockingPool::run`) and [`Apply`] (from
/// the pool's service); not meant to be implemented elsewhere.
pub trait Job: Send + 'static {
    /// What the job returns.
    type Output: Send + 'static;
    /// Runs the job.
    fn run(self) -> Self::Output;
}

/// A closure run by [`BlockingPool::run`](super::BlockingPool::run).
pub struct Call<F>(pub(crate) F);

impl<F, R> Job for Call<F>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    type Output = R;
    #[inline]
    fn run(self) -> R {
        (self.0)()
    }
}

/// A service function applied to one request, by the pool's service.
pub struct Apply<F, Req> {
    pub(crate) f: F,
    pub(crate) req: Req,
}

impl<F, Req, R> Job for Apply<F, Req>
where
    F: FnOnce(Req) -> R + Send + 'static,
    Req: Send + 'static,
    R: Send + 'static,
{
    type Output = R;
    #[inline]
    fn run(self) -> R {
        (self.f)(self.req)
    }
}

impl<F> fmt::Debug for Call<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Call")
    }
}

impl<F, Req> fmt::Debug for Apply<F, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Apply")
    }
}

type Acquire =
    Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send + 'static>>;

pin_project! {
    /// The result of a job run on a [`BlockingPool`](super::BlockingPool):
    /// from [`BlockingPool::run`](super::BlockingPool::run) and the pool's
    /// service.
    ///
    /// Lazy: the job is admitted (started, queued or refused) when the
    /// future is first polled, under the [`Deadline`] in force then.
    /// Dropping the future while the job waits takes it out of the queue;
    /// once started, the job runs to its end (blocking code cannot be
    /// stopped) and keeps its running slot until then.
    pub struct RunFuture<J, R> {
        #[pin]
        kind: Kind<J, R>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<J, R> {
        Start { job: Option<J>, state: Arc<State> },
        Queued {
            job: Option<J>,
            state: Arc<State>,
            acquire: Acquire,
            deadline: Option<Pin<Box<Sleep>>>,
            slot: Option<QueueSlot>,
        },
        Running { handle: JoinHandle<R>, state: Arc<State> },
        Done,
    }
}

impl<J, R> fmt::Debug for RunFuture<J, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match &self.kind {
            Kind::Start { .. } => "start",
            Kind::Queued { .. } => "queued",
            Kind::Running { .. } => "running",
            Kind::Done => "done",
        };
        f.debug_struct("RunFuture").field("stage", &stage).finish()
    }
}

impl<J, R> RunFuture<J, R> {
    pub(crate) fn new(state: Arc<State>, job: J) -> Self {
        Self {
            kind: Kind::Start {
                job: Some(job),
                state,
            },
        }
    }
}

fn polled_after_completion() -> BoxError {
    "blocking pool future polled after completion".into()
}

fn reject(state: &State, kind: RejectKind) -> BoxError {
    state.telemetry.rejected(&state.name, kind);
    Rejected::new(kind, Arc::clone(&state.name)).into()
}

/// Starts `job` on a blocking thread; the permit and the running gauge are
/// held by the closure, so they are released when the job ends, panic or not.
fn spawn<J: Job>(
    state: &Arc<State>,
    permit: OwnedSemaphorePermit,
    job: J,
) -> JoinHandle<J::Output> {
    struct Running {
        state: Arc<State>,
        _permit: OwnedSemaphorePermit,
    }
    impl Drop for Running {
        fn drop(&mut self) {
            self.state.telemetry.finished();
        }
    }
    state.telemetry.started();
    let running = Running {
        state: Arc::clone(state),
        _permit: permit,
    };
    tokio::task::spawn_blocking(move || {
        let _running = running;
        job.run()
    })
}

impl<J: Job<Output = R>, R> Future for RunFuture<J, R> {
    type Output = Result<R, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let next = match self.as_mut().project().kind.project() {
                KindProj::Start { job, state } => {
                    let deadline = Deadline::current();
                    if deadline.is_some_and(Deadline::is_expired) {
                        let err = reject(state, RejectKind::DeadlineExceeded);
                        self.as_mut().project().kind.set(Kind::Done);
                        return Poll::Ready(Err(err));
                    }
                    let Some(job) = job.take() else {
                        return Poll::Ready(Err(polled_after_completion()));
                    };
                    if let Ok(permit) = Arc::clone(&state.running).try_acquire_owned() {
                        let handle = spawn(state, permit, job);
                        Kind::Running {
                            handle,
                            state: Arc::clone(state),
                        }
                    } else if let Some(slot) = state.try_enqueue() {
                        let acquire: Acquire = Box::pin(Arc::clone(&state.running).acquire_owned());
                        let deadline =
                            deadline.map(|d| Box::pin(tokio::time::sleep_until(d.instant())));
                        Kind::Queued {
                            job: Some(job),
                            state: Arc::clone(state),
                            acquire,
                            deadline,
                            slot: Some(slot),
                        }
                    } else {
                        let err = reject(state, RejectKind::Overloaded);
                        self.as_mut().project().kind.set(Kind::Done);
                        return Poll::Ready(Err(err));
                    }
                }
                KindProj::Queued {
                    job,
                    state,
                    acquire,
                    deadline,
                    slot,
                } => {
                    if let Some(sleep) = deadline
                        && sleep.as_mut().poll(cx).is_ready()
                    {
                        // The job is dropped without running.
                        drop(slot.take());
                        let err = reject(state, RejectKind::DeadlineExceeded);
                        self.as_mut().project().kind.set(Kind::Done);
                        return Poll::Ready(Err(err));
                    }
                    let Ok(permit) = ready!(acquire.as_mut().poll(cx)) else {
                        let err = reject(state, RejectKind::Closed);
                        self.as_mut().project().kind.set(Kind::Done);
                        return Poll::Ready(Err(err));
                    };
                    drop(slot.take());
                    let Some(job) = job.take() else {
                        return Poll::Ready(Err(polled_after_completion()));
                    };
                    let handle = spawn(state, permit, job);
                    Kind::Running {
                        handle,
                        state: Arc::clone(state),
                    }
                }
                KindProj::Running { handle, state } => {
                    let out = match ready!(Pin::new(handle).poll(cx)) {
                        Ok(value) => Ok(value),
                        Err(err) if err.is_panic() => {
                            state.telemetry.panicked(&state.name);
                            Err(JobPanicked::new(Arc::clone(&state.name)).into())
                        }
                        Err(_) => Err(reject(state, RejectKind::Closed)),
                    };
                    self.as_mut().project().kind.set(Kind::Done);
                    return Poll::Ready(out);
                }
                KindProj::Done => return Poll::Ready(Err(polled_after_completion())),
            };
            self.as_mut().project().kind.set(next);
        }
    }
}
