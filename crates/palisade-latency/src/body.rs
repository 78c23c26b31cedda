//! The response body wrapper that records the time to the end of the body.

use std::{
    pin::Pin,
    task::{Context, Poll, ready},
};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::track::Completion;

pin_project! {
    /// A response body that records its request when it ends.
    ///
    /// The request is recorded when the last frame has been read (or at
    /// once, if the body was already complete with its head). A body that
    /// fails, or is dropped before its end (the client went away), records
    /// the request as aborted.
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
            done.finish_at_head();
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
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        match &frame {
            None => {
                if let Some(done) = this.done.take() {
                    done.finish();
                }
            }
            // Dropping the completion records the request as aborted.
            Some(Err(_)) => drop(this.done.take()),
            Some(Ok(_)) => {
                if this.inner.is_end_stream()
                    && let Some(done) = this.done.take()
                {
                    done.finish();
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
