//! [`ResponseFuture`], the response future of
//! [`AdaptiveThrottleService`](super::AdaptiveThrottleService).

use super::state::Shared;
use palisade_core::lane::Lane;
use palisade_core::{BoxError, Classify, Outcome, Rejected};
use pin_project_lite::pin_project;
use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};
use tokio::time::Instant;

pin_project! {
    /// The response future of
    /// [`AdaptiveThrottleService`](super::AdaptiveThrottleService): counts
    /// the request, and whether the backend accepted it, when it finishes.
    pub struct ResponseFuture<F, C> {
        #[pin]
        state: State<F, C>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, C> {
        Sent {
            #[pin]
            inner: F,
            shared: Option<Lane<Shared<C>>>,
        },
        Throttled {
            error: Option<BoxError>,
        },
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn sent(inner: F, shared: Lane<Shared<C>>) -> Self {
        Self {
            state: State::Sent {
                inner,
                shared: Some(shared),
            },
        }
    }

    pub(crate) fn throttled(error: Rejected) -> Self {
        Self {
            state: State::Throttled {
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
            StateProj::Sent { inner, shared } => {
                let result = ready!(inner.poll(cx));
                if let Some(shared) = shared.take() {
                    match shared.classify.classify(result.as_ref()) {
                        Outcome::Success => shared.record(Instant::now(), true),
                        Outcome::Failure => shared.record(Instant::now(), false),
                        Outcome::Ignored => {}
                    }
                }
                Poll::Ready(result.map_err(Into::into))
            }
            StateProj::Throttled { error } => Poll::Ready(Err(error
                .take()
                .expect("ResponseFuture polled after completion"))),
        }
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Sent { .. } => "sent",
            State::Throttled { .. } => "throttled",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
