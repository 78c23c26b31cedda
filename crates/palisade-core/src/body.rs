//! [`TrackedBody`]: the one end-of-body tracker of the Palisade layers.

use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use std::{
    pin::Pin,
    task::{Context, Poll},
};

/// What a [`TrackedBody`] tells its tracker about the body it wraps.
///
/// The tracker learns exactly one of three endings: [`ended`](Self::ended)
/// (the last frame was read), [`failed`](Self::failed) (the body returned an
/// error), or nothing — it is dropped with the body when the body is dropped
/// before its end (the client went away), so its `Drop` decides what an
/// abandoned body means. A limit's permit is given back, a latency record is
/// marked aborted, a gRPC outcome is reported as ignored.
pub trait OnBodyEnd: Sized {
    /// The body ended: its last frame was read, with `trailers` if the body
    /// ended with trailers (gRPC's `grpc-status` comes there).
    fn ended(self, trailers: Option<&HeaderMap>);

    /// The body returned an error. By default the tracker is dropped, as for
    /// an abandoned body.
    #[inline]
    fn failed(self) {}

    /// A frame that does not end the body was read, or the body is not ready
    /// yet: the response head has been sent (servers poll the body right
    /// after it). Does nothing by default.
    #[inline]
    fn progressed(&mut self) {}
}

pin_project! {
    /// A response body that tells its tracker `T` how it ended (see
    /// [`OnBodyEnd`]).
    ///
    /// The body ends with its trailers, with a frame after which it reports
    /// [`is_end_stream`](Body::is_end_stream), with the end of the stream, or
    /// at once when it is wrapped already complete. Frames pass through
    /// unchanged.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http::HeaderMap;
    /// use http_body_util::{BodyExt, Full};
    /// use palisade_core::body::{OnBodyEnd, TrackedBody};
    /// use std::sync::mpsc;
    ///
    /// struct Done(mpsc::Sender<&'static str>);
    /// impl OnBodyEnd for Done {
    ///     fn ended(self, _trailers: Option<&HeaderMap>) {
    ///         self.0.send("ended").unwrap();
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (tx, rx) = mpsc::channel();
    /// let body = TrackedBody::new(Full::new(Bytes::from_static(b"hi")), Done(tx));
    /// assert!(body.is_tracking());
    /// assert_eq!(body.collect().await.unwrap().to_bytes(), "hi");
    /// assert_eq!(rx.try_recv(), Ok("ended"));
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct TrackedBody<B, T> {
        #[pin]
        inner: B,
        tracker: Option<T>,
    }
}

impl<B: Body, T: OnBodyEnd> TrackedBody<B, T> {
    /// Wraps `inner`; if it is already complete, `tracker` is told so at once.
    pub fn new(inner: B, tracker: T) -> Self {
        let tracker = if inner.is_end_stream() {
            tracker.ended(None);
            None
        } else {
            Some(tracker)
        };
        Self { inner, tracker }
    }
}

impl<B, T> TrackedBody<B, T> {
    /// Wraps `inner` with nothing to track: for a response whose outcome was
    /// known from its head, so the body type stays the same either way.
    pub fn untracked(inner: B) -> Self {
        Self {
            inner,
            tracker: None,
        }
    }

    /// Whether the tracker still waits for the end of the body (it has not
    /// ended, failed or been unwrapped).
    pub fn is_tracking(&self) -> bool {
        self.tracker.is_some()
    }

    /// The tracker, until the body ends.
    pub fn tracker(&self) -> Option<&T> {
        self.tracker.as_ref()
    }

    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// Unwraps the body; the tracker is dropped as for an abandoned body if
    /// the body had not ended.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: Body, T: OnBodyEnd> Body for TrackedBody<B, T> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        if this.tracker.is_none() {
            return this.inner.poll_frame(cx);
        }
        let polled = this.inner.as_mut().poll_frame(cx);
        match &polled {
            Poll::Ready(None) => {
                if let Some(tracker) = this.tracker.take() {
                    tracker.ended(None);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(tracker) = this.tracker.take() {
                    tracker.failed();
                }
            }
            // Trailers are the last frame of a body: servers (hyper's h2)
            // send them and drop the body without polling it again.
            Poll::Ready(Some(Ok(frame))) if frame.is_trailers() || this.inner.is_end_stream() => {
                if let Some(tracker) = this.tracker.take() {
                    tracker.ended(frame.trailers_ref());
                }
            }
            Poll::Ready(Some(Ok(_))) | Poll::Pending => {
                if let Some(tracker) = this.tracker.as_mut() {
                    tracker.progressed();
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
