//! How a breaker's guards reach its state: through a lane (see
//! [`palisade_core::lane`]) — one counted reference per group of threads,
//! so threads calling through one breaker do not fight over a single `Arc`
//! counter — or through the breaker's own `Arc` (manual permits).

use crate::state::BreakerState;
use std::sync::Arc;

/// A lane to a breaker's state.
pub(crate) type Lane<C> = palisade_core::lane::Lane<BreakerState<C>>;

/// The lanes of one breaker.
pub(crate) type Lanes<C> = palisade_core::lane::Lanes<BreakerState<C>>;

/// What a [`Guard`](crate::permit::Guard) holds to reach its breaker.
pub(crate) trait Owner {
    /// The classifier type of the breaker.
    type Classify: ?Sized;

    fn state(&self) -> &BreakerState<Self::Classify>;
}

impl<C: ?Sized> Owner for Arc<BreakerState<C>> {
    type Classify = C;

    #[inline]
    fn state(&self) -> &BreakerState<C> {
        self
    }
}

impl<C> Owner for Lane<C> {
    type Classify = C;

    #[inline]
    fn state(&self) -> &BreakerState<C> {
        self
    }
}
