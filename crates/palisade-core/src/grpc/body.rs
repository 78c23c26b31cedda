use super::GrpcErrors;
use crate::Outcome;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use std::{
    pin::Pin,
    task::{Context, Poll, ready},
};

pin_project! {
    /// A response body that reports the gRPC outcome once, at the end of the stream.
    ///
    /// The verdict comes from the `grpc-status` trailer (classified by
    /// [`GrpcErrors`]); a body that ends without trailers is a success, a body
    /// error is a failure, and a body dropped before its end is
    /// [`Outcome::Ignored`] (the client went away; the server said nothing).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use bytes::Bytes;
    /// use http::HeaderMap;
    /// use http_body_util::{BodyExt, StreamBody};
    /// use http_body::Frame;
    /// use palisade_core::{grpc::{ClassifiedBody, GrpcErrors}, Outcome};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut trailers = HeaderMap::new();
    /// trailers.insert("grpc-status", "14".parse().unwrap());
    /// let frames = vec![
    ///     Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from_static(b"msg"))),
    ///     Ok(Frame::trailers(trailers)),
    /// ];
    /// let body = StreamBody::new(futures_util::stream::iter(frames));
    ///
    /// let seen = Arc::new(Mutex::new(None));
    /// let sink = seen.clone();
    /// let body = ClassifiedBody::new(body, GrpcErrors::new(), move |o| {
    ///     *sink.lock().unwrap() = Some(o);
    /// });
    /// body.collect().await.unwrap();
    /// assert_eq!(*seen.lock().unwrap(), Some(Outcome::Failure));
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct ClassifiedBody<B, R>
    where
        R: FnOnce(Outcome),
    {
        #[pin]
        body: B,
        reporter: Reporter<R>,
    }
}

impl<B, R> ClassifiedBody<B, R>
where
    R: FnOnce(Outcome),
{
    /// Wraps `body`; `report` is called exactly once with the stream's outcome.
    pub fn new(body: B, classifier: GrpcErrors, report: R) -> Self {
        Self {
            body,
            reporter: Reporter {
                pending: Some((classifier, report)),
            },
        }
    }

    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.body
    }
}

/// Holds the report until it is made; reports `Ignored` if dropped first.
struct Reporter<R: FnOnce(Outcome)> {
    pending: Option<(GrpcErrors, R)>,
}

impl<R: FnOnce(Outcome)> std::fmt::Debug for Reporter<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter")
            .field("reported", &self.pending.is_none())
            .finish()
    }
}

impl<R: FnOnce(Outcome)> Reporter<R> {
    fn trailers(&mut self, trailers: Option<&http::HeaderMap>) {
        if let Some((classifier, report)) = self.pending.take() {
            report(classifier.classify_trailers(trailers));
        }
    }

    fn outcome(&mut self, outcome: Outcome) {
        if let Some((_, report)) = self.pending.take() {
            report(outcome);
        }
    }
}

impl<R: FnOnce(Outcome)> Drop for Reporter<R> {
    fn drop(&mut self) {
        self.outcome(Outcome::Ignored);
    }
}

impl<B, R> Body for ClassifiedBody<B, R>
where
    B: Body,
    R: FnOnce(Outcome),
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.body.poll_frame(cx));
        match &frame {
            Some(Ok(f)) => {
                if let Some(trailers) = f.trailers_ref() {
                    this.reporter.trailers(Some(trailers));
                }
            }
            Some(Err(_)) => this.reporter.outcome(Outcome::Failure),
            None => this.reporter.trailers(None),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
