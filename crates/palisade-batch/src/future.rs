//! The response future of [`BatcherService`](crate::BatcherService) and
//! [`LoaderService`](crate::LoaderService), both made by the shared front end.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use palisade_core::{BoxError, RejectKind, Rejected};
use pin_project_lite::pin_project;
use tokio::sync::oneshot;

pin_project! {
    /// Waits for the caller's answer from its batch.
    ///
    /// Dropping it before the batch is sent removes the caller's item from
    /// the batch (a batch left empty is not sent).
    pub struct ResponseFuture<R> {
        #[pin]
        state: State<R>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<R> {
        Waiting {
            #[pin]
            rx: oneshot::Receiver<Result<R, BoxError>>,
            name: Arc<str>,
        },
        Failed {
            error: Option<BoxError>,
        },
    }
}

impl<R> ResponseFuture<R> {
    pub(crate) fn waiting(rx: oneshot::Receiver<Result<R, BoxError>>, name: Arc<str>) -> Self {
        Self {
            state: State::Waiting { rx, name },
        }
    }

    pub(crate) fn failed(error: BoxError) -> Self {
        Self {
            state: State::Failed { error: Some(error) },
        }
    }
}

impl<R> Future for ResponseFuture<R> {
    type Output = Result<R, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Waiting { rx, name } => match rx.poll(cx) {
                Poll::Ready(Ok(answer)) => Poll::Ready(answer),
                // The worker went away without answering: its runtime shut down.
                Poll::Ready(Err(_)) => {
                    Poll::Ready(Err(Rejected::new(RejectKind::Closed, name.clone()).into()))
                }
                Poll::Pending => Poll::Pending,
            },
            StateProj::Failed { error } => Poll::Ready(Err(error
                .take()
                .unwrap_or_else(|| "response future polled after completion".into()))),
        }
    }
}

impl<R> fmt::Debug for ResponseFuture<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Waiting { .. } => "waiting",
            State::Failed { .. } => "failed",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
