use super::telemetry::Expiry;
use super::{DeadlineScope, config::Core};
use palisade_core::lane::Lane;
use palisade_core::{BoxError, Rejected};
use pin_project_lite::pin_project;
use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};
use tokio::time::Sleep;

pin_project! {
    /// The response future of [`TimeoutService`](super::TimeoutService).
    ///
    /// Runs the inner future with the request's [`Deadline`](super::Deadline)
    /// as its ambient deadline, and fails with [`Rejected`]
    /// (`DeadlineExceeded`) when the deadline passes first.
    ///
    /// The timer is only set up if the inner future is not ready on its first
    /// poll: a response that is ready at once costs no timer.
    pub struct TimeoutFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Running {
            #[pin]
            inner: DeadlineScope<F>,
            #[pin]
            sleep: Option<Sleep>,
            core: Lane<Core>,
        },
        // Boxed when made (it is boxed anyway when returned): the future
        // stays as small as its running state.
        Rejected {
            error: Option<BoxError>,
        },
    }
}

impl<F> TimeoutFuture<F> {
    #[inline]
    pub(crate) fn running(inner: DeadlineScope<F>, core: Lane<Core>) -> Self {
        Self {
            state: State::Running {
                inner,
                sleep: None,
                core,
            },
        }
    }

    pub(crate) fn rejected(error: Rejected) -> Self {
        Self {
            state: State::Rejected {
                error: Some(error.into()),
            },
        }
    }
}

impl<F, T, E> Future for TimeoutFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Running {
                inner,
                mut sleep,
                core,
            } => {
                let deadline = inner.deadline().instant();
                if let Poll::Ready(result) = inner.poll(cx) {
                    return Poll::Ready(result.map_err(Into::into));
                }
                if sleep.is_none() {
                    sleep.set(Some(tokio::time::sleep_until(deadline)));
                }
                if let Some(sleep) = sleep.as_pin_mut() {
                    ready!(sleep.poll(cx));
                }
                Poll::Ready(Err(core.expired(Expiry::Running).into()))
            }
            StateProj::Rejected { error } => Poll::Ready(Err(error
                .take()
                .expect("TimeoutFuture polled after completion"))),
        }
    }
}

impl<F> fmt::Debug for TimeoutFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Running { .. } => "running",
            State::Rejected { .. } => "rejected",
        };
        f.debug_struct("TimeoutFuture")
            .field("state", &state)
            .finish()
    }
}
