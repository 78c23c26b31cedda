//! [`ResponseFuture`], the response future of
//! [`TimeoutService`](super::TimeoutService).

use super::telemetry::Expiry;
use super::{DeadlineScope, state::TimeoutSettings};
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
    pub struct ResponseFuture<F> {
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
            settings: Lane<TimeoutSettings>,
        },
        // Boxed when made (it is boxed anyway when returned): the future
        // stays as small as its running state.
        Rejected {
            error: Option<BoxError>,
        },
    }
}

impl<F> ResponseFuture<F> {
    #[inline]
    pub(crate) fn running(inner: DeadlineScope<F>, settings: Lane<TimeoutSettings>) -> Self {
        Self {
            state: State::Running {
                inner,
                sleep: None,
                settings,
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

impl<F, T, E> Future for ResponseFuture<F>
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
                settings,
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
                Poll::Ready(Err(settings.expired(Expiry::Running).into()))
            }
            StateProj::Rejected { error } => Poll::Ready(Err(error
                .take()
                .expect("ResponseFuture polled after completion"))),
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Running { .. } => "running",
            State::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
