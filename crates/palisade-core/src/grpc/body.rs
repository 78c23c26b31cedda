//! [`ClassifiedBody`]: a [`TrackedBody`] whose tracker, [`GrpcReport`],
//! reports the gRPC outcome at the end of the stream.

use super::GrpcErrors;
use crate::Outcome;
use crate::body::{OnBodyEnd, TrackedBody};
use http::HeaderMap;
use std::fmt;

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
/// use palisade_core::{grpc::{ClassifiedBody, GrpcErrors, GrpcReport}, Outcome};
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
/// let body = ClassifiedBody::new(body, GrpcReport::new(GrpcErrors::new(), move |o| {
///     *sink.lock().unwrap() = Some(o);
/// }));
/// body.collect().await.unwrap();
/// assert_eq!(*seen.lock().unwrap(), Some(Outcome::Failure));
/// # }
/// ```
pub type ClassifiedBody<B, R> = TrackedBody<B, GrpcReport<R>>;

/// The tracker of a [`ClassifiedBody`]: calls `R` exactly once with the
/// stream's outcome; with [`Outcome::Ignored`] if it is dropped first.
pub struct GrpcReport<R: FnOnce(Outcome)> {
    pending: Option<(GrpcErrors, R)>,
}

impl<R: FnOnce(Outcome)> GrpcReport<R> {
    /// Classifies the end of the stream with `classifier` and calls `report`
    /// with the verdict.
    pub fn new(classifier: GrpcErrors, report: R) -> Self {
        Self {
            pending: Some((classifier, report)),
        }
    }

    fn outcome(&mut self, outcome: Outcome) {
        if let Some((_, report)) = self.pending.take() {
            report(outcome);
        }
    }
}

impl<R: FnOnce(Outcome)> fmt::Debug for GrpcReport<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcReport")
            .field("reported", &self.pending.is_none())
            .finish()
    }
}

impl<R: FnOnce(Outcome)> OnBodyEnd for GrpcReport<R> {
    fn ended(mut self, trailers: Option<&HeaderMap>) {
        if let Some((classifier, report)) = self.pending.take() {
            report(classifier.classify_trailers(trailers));
        }
    }

    fn failed(mut self) {
        self.outcome(Outcome::Failure);
    }
}

impl<R: FnOnce(Outcome)> Drop for GrpcReport<R> {
    fn drop(&mut self) {
        self.outcome(Outcome::Ignored);
    }
}
