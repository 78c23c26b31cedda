//! Deadline propagation for outgoing calls: [`PropagateDeadlineLayer`]
//! passes the remaining budget of the current request on to the next hop.
//!
//! It is the client-side half of [`Timeout`](crate::Timeout): the timeout
//! sets the request's [`Deadline`](crate::Deadline), this layer writes what
//! is left of it as `grpc-timeout` (and a millisecond header if asked) on
//! every outgoing call, and refuses a call whose deadline has passed.

mod future;
mod layer;
mod service;
mod telemetry;

pub use future::ResponseFuture;
pub use layer::PropagateDeadlineLayer;
pub use service::PropagateDeadlineService;
