//! gRPC: classification by `grpc-status` and the mapping of [`Rejected`](crate::Rejected) to
//! [`tonic::Status`].
//!
//! - [`GrpcErrors`]: reads `grpc-status` from the headers of a trailers-only
//!   response; when the status only arrives in trailers,
//!   [`ClassifiedBody`] gives the verdict at the end of the stream.
//! - [`Rejected::to_status`](crate::Rejected::to_status): `CircuitOpen`/`QueueTimeout` → `UNAVAILABLE`,
//!   `Overloaded`/`BatchFull` → `RESOURCE_EXHAUSTED`, `DeadlineExceeded` →
//!   `DEADLINE_EXCEEDED`; a retry-after travels as `grpc-retry-pushback-ms`.
//! - [`StatusLayer`]: converts a `Rejected` error into a `tonic::Status` error
//!   so tonic's server answers with the right code.

mod body;
mod classify;
mod status;

pub use body::{ClassifiedBody, GrpcReport};
pub use classify::{GrpcErrors, GrpcVerdict};
pub use status::{StatusFuture, StatusLayer, StatusService};
pub use tower_http::classify::GrpcCode;
