//! The [`Permit`] that holds one slot of a concurrency limit.

use super::state::Shared;
use palisade_core::lane::{Lane, Lanes};
use std::fmt;

/// Takes a slot of the limit behind `lanes` if one is free: one
/// compare-and-swap on the one shared counter (a strict global bound), no
/// lock, no allocation. The permit keeps the limit alive through the calling
/// thread's lane (a reference count on a cache line of its own).
#[inline]
pub(crate) fn try_acquire(lanes: &Lanes<Shared>) -> Option<Permit> {
    let shared: &Shared = lanes;
    shared.slots.try_acquire(|| shared.max_in_flight)?;
    shared.telemetry.acquired();
    Some(Permit {
        shared: lanes.current().clone(),
    })
}

/// One slot of a [`ConcurrencyLimit`](super::ConcurrencyLimit), given back
/// when dropped.
///
/// A permit is taken in `poll_ready` and travels with the request: into the
/// response future, and with
/// [`hold_until_body_end`](super::ConcurrencyLimitBuilder::hold_until_body_end)
/// into the response body.
pub struct Permit {
    shared: Lane<Shared>,
}

impl Drop for Permit {
    #[inline]
    fn drop(&mut self) {
        self.shared.slots.release();
        self.shared.telemetry.released();
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("limit", &self.shared.name)
            .finish()
    }
}
