//! The shared state of one breaker: what its handle, services, response
//! futures and permits all point at.

use crate::machine::StateMachine;

/// What an `Arc` of one breaker holds: the state machine and the classifier.
pub(crate) struct BreakerState<C: ?Sized> {
    pub(crate) machine: StateMachine,
    pub(crate) classify: C,
}
