//! The response body of a gRPC breaker: the inner body in core's
//! [`ClassifiedBody`], which reports the `grpc-status` trailer once, at the
//! end of the stream.

use crate::{lane::Lane, permit::Guard};
use palisade_core::{
    Outcome,
    grpc::{ClassifiedBody, GrpcErrors, GrpcReport, GrpcVerdict},
};

/// What the body calls with the outcome of the stream.
pub type Reporter = Box<dyn FnOnce(Outcome) + Send + Sync>;

/// The response body of a
/// [`builder_for_grpc`](crate::CircuitBreaker::builder_for_grpc) breaker's
/// service: `B` in a [`ClassifiedBody`] that records the call when the body
/// ends (or records nothing, when the status was in the response head).
pub type GrpcBody<B> = ClassifiedBody<B, Reporter>;

/// Records the call now if the head holds its status (a trailers-only
/// response), or hands the guard to the body to record at its end.
pub(crate) fn watch<B: http_body::Body>(
    response: http::Response<B>,
    guard: &mut Guard<Lane<GrpcErrors>>,
) -> http::Response<GrpcBody<B>> {
    let errors = &guard.state().classify;
    match errors.classify_response(&response) {
        GrpcVerdict::Ready(outcome) => {
            guard.finish(outcome);
            // Nothing left to report: the body goes through untracked.
            response.map(ClassifiedBody::untracked)
        }
        GrpcVerdict::AtEndOfStream => {
            let errors = errors.clone();
            let call = guard.take();
            let report: Reporter = Box::new(move |outcome| call.finish_at_end(outcome));
            response.map(|body| ClassifiedBody::new(body, GrpcReport::new(errors, report)))
        }
    }
}
