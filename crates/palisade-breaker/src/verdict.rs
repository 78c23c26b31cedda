//! When a breaker's service learns how a call went: the markers of the
//! second type parameter of [`CircuitBreaker`](crate::CircuitBreaker) and
//! its layer, service and future.

/// The outcome is the classifier's verdict on what the inner service
/// returned (the default, for any protocol).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AtResponse;

/// gRPC: the outcome is read from the response head when it carries a
/// `grpc-status` (a trailers-only response, as tonic sends a failed unary
/// call), and otherwise from the `grpc-status` trailer at the end of the
/// response body, through
/// [`ClassifiedBody`](palisade_core::grpc::ClassifiedBody). Chosen by
/// [`CircuitBreaker::builder_for_grpc`](crate::CircuitBreaker::builder_for_grpc).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AtEndOfStream;
