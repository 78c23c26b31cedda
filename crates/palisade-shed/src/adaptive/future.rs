//! [`ResponseFuture`], the response future of
//! [`AdaptiveLimitService`](super::AdaptiveLimitService).

use super::state::Permit;
use crate::Deadline;
use palisade_core::{BoxError, Classify, Rejected};
use pin_project_lite::pin_project;
use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

pin_project! {
    /// The response future of
    /// [`AdaptiveLimitService`](super::AdaptiveLimitService): holds the
    /// request's slot until the response is ready, then records the
    /// request's round-trip time and outcome in the limit's sample window.
    pub struct ResponseFuture<F, C> {
        #[pin]
        state: State<F, C>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, C> {
        Running {
            #[pin]
            inner: F,
            permit: Option<Permit<C>>,
            polled: bool,
        },
        Rejected {
            error: Option<BoxError>,
        },
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn running(inner: F, permit: Permit<C>) -> Self {
        Self {
            state: State::Running {
                inner,
                permit: Some(permit),
                polled: false,
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

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    C: Classify<T, E>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Running {
                inner,
                permit,
                polled,
            } => {
                if !*polled {
                    // The request's deadline, if a timeout above set one: a
                    // request dropped after it counts as a drop.
                    *polled = true;
                    if let (Some(p), Some(deadline)) = (permit.as_mut(), Deadline::current()) {
                        p.set_deadline(Some(deadline.instant()));
                    }
                }
                let result = ready!(inner.poll(cx));
                let permit = permit
                    .take()
                    .expect("ResponseFuture polled after completion");
                let outcome = permit.shared().classify.classify(result.as_ref());
                permit.finish(outcome);
                Poll::Ready(result.map_err(Into::into))
            }
            StateProj::Rejected { error } => Poll::Ready(Err(error
                .take()
                .expect("ResponseFuture polled after completion"))),
        }
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
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
