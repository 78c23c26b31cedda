//! [`Deadline`] lives in `palisade-core` (the circuit breaker reads it too);
//! this crate re-exports it unchanged.

pub use palisade_core::deadline::{Deadline, DeadlineScope};
