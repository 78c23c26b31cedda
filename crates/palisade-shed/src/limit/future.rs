//! [`ResponseFuture`], the response future of
//! [`ConcurrencyLimitService`](super::ConcurrencyLimitService).

use super::{Permit, ReleasePolicy};
use palisade_core::{BoxError, Rejected};
use pin_project_lite::pin_project;
use std::{
    fmt,
    future::Future,
    marker::PhantomData,
    pin::Pin,
    task::{Context, Poll, ready},
};

pin_project! {
    /// The response future of
    /// [`ConcurrencyLimitService`](super::ConcurrencyLimitService): holds the
    /// request's slot until the response is ready (then hands it to the
    /// release policy `P`) or until it is dropped.
    pub struct ResponseFuture<F, P> {
        #[pin]
        state: State<F>,
        _release: PhantomData<fn() -> P>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Running {
            #[pin]
            inner: F,
            permit: Option<Permit>,
        },
        // Boxed in `call` (it is boxed anyway when returned): the future
        // stays as small as its running state.
        Rejected {
            error: Option<BoxError>,
        },
    }
}

impl<F, P> ResponseFuture<F, P> {
    pub(crate) fn running(inner: F, permit: Permit) -> Self {
        Self {
            state: State::Running {
                inner,
                permit: Some(permit),
            },
            _release: PhantomData,
        }
    }

    pub(crate) fn rejected(error: Rejected) -> Self {
        Self {
            state: State::Rejected {
                error: Some(error.into()),
            },
            _release: PhantomData,
        }
    }
}

impl<F, P, T, E> Future for ResponseFuture<F, P>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    P: ReleasePolicy<T>,
{
    type Output = Result<P::Response, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Running { inner, permit } => {
                let result = ready!(inner.poll(cx));
                let permit = permit
                    .take()
                    .expect("ResponseFuture polled after completion");
                Poll::Ready(match result {
                    Ok(response) => Ok(P::hold(response, permit)),
                    Err(err) => {
                        drop(permit);
                        Err(err.into())
                    }
                })
            }
            StateProj::Rejected { error } => Poll::Ready(Err(error
                .take()
                .expect("ResponseFuture polled after completion"))),
        }
    }
}

impl<F, P> fmt::Debug for ResponseFuture<F, P> {
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
