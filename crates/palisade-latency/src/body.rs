//! The response body wrapper that records the time to the end of the body.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::Instant;

use crate::completion::Completion;

pin_project! {
    /// A response body that records its request when it ends.
    ///
    /// The request is recorded when the last frame has been read — the
    /// trailers, or a frame after which the body reports its end (or at
    /// once, if the body was already complete with its head). The time to
    /// head is taken when the body is first polled without ending — servers
    /// poll the body right after they get the head — so a body read in one
    /// poll costs a single clock read. A body that fails, or is dropped
    /// before its end (the client went away), records the request as aborted.
    #[derive(Debug)]
    pub struct LatencyBody<B> {
        #[pin]
        inner: B,
        done: Option<Completion>,
    }
}

impl<B: Body> LatencyBody<B> {
    pub(crate) fn new(inner: B, done: Completion) -> Self {
        let done = if inner.is_end_stream() {
            done.finish();
            None
        } else {
            Some(done)
        };
        Self { inner, done }
    }
}

impl<B> LatencyBody<B> {
    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// Unwraps the body; the request is recorded as aborted if it had not ended.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: Body> Body for LatencyBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let polled = this.inner.as_mut().poll_frame(cx);
        let Some(done) = this.done.as_mut() else {
            return polled;
        };
        #[cfg(feature = "grpc")]
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(trailers) = frame.trailers_ref()
        {
            done.grpc_trailers(trailers);
        }
        match &polled {
            Poll::Ready(None) => {
                if let Some(done) = this.done.take() {
                    done.finish();
                }
            }
            // Dropping the completion records the request as aborted.
            Poll::Ready(Some(Err(_))) => drop(this.done.take()),
            // Trailers are the last frame of a body: servers (hyper's h2) send
            // them and drop the body without polling it again.
            Poll::Ready(Some(Ok(frame))) if frame.is_trailers() || this.inner.is_end_stream() => {
                if let Some(done) = this.done.take() {
                    done.finish();
                }
            }
            // The body goes on: the server has the head now (it polls the
            // body right after it), so this is the time to head.
            Poll::Ready(Some(Ok(_))) | Poll::Pending => {
                if !done.has_head() {
                    done.mark_head(Instant::now());
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
