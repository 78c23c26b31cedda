//! [`ResponseFuture`]: the response future of [`LatencyService`](crate::LatencyService).

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use pin_project_lite::pin_project;
use tokio::time::Instant;

use crate::{completion::Completion, traits::TrackResponse};

pin_project! {
    /// The response future of [`LatencyService`](crate::LatencyService).
    ///
    /// Hands the request's [`Completion`] to the response when it is ready
    /// (for HTTP, to its body). With a blocking threshold, also times each
    /// poll of the inner future. Dropped before the response, it records the
    /// request as aborted.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        done: Option<Completion>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, done: Completion) -> Self {
        Self {
            inner,
            done: Some(done),
        }
    }
}

impl<F, R, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<R, E>>,
    R: TrackResponse,
{
    type Output = Result<R::Tracked, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(done) = this.done.as_mut() else {
            panic!("ResponseFuture polled after completion");
        };
        let (result, now) = match done.blocking_threshold() {
            // The common path reads no clock here: the time to head is taken
            // when the body is first polled, or is the time to end.
            None => (ready!(this.inner.poll(cx)), None),
            Some(threshold) => {
                let before = Instant::now();
                let polled = this.inner.poll(cx);
                let after = Instant::now();
                let took = after.saturating_duration_since(before);
                if took > threshold {
                    done.blocking_poll(took, threshold, after);
                }
                match polled {
                    Poll::Ready(result) => (result, Some(after)),
                    Poll::Pending => return Poll::Pending,
                }
            }
        };
        let Some(mut done) = this.done.take() else {
            unreachable!("checked above");
        };
        Poll::Ready(match result {
            Ok(response) => {
                done.head(now, response.status_code());
                Ok(response.track(done))
            }
            Err(err) => {
                done.error(now.unwrap_or_else(Instant::now));
                Err(err)
            }
        })
    }
}
