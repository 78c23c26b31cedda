//! How a breaker's guards reach its state: through a lane (see
//! [`palisade_core::lane`]) — one counted reference per group of threads,
//! so threads calling through one breaker do not fight over a single `Arc`
//! counter — or through the breaker's own `Arc` (manual permits).

use crate::breaker::Inner;
use std::sync::Arc;

pub(crate) use palisade_core::lane::Padded;

/// A lane to a breaker's state.
pub(crate) type Lane<C> = palisade_core::lane::Lane<Inner<C>>;

/// The lanes of one breaker.
pub(crate) type Lanes<C> = palisade_core::lane::Lanes<Inner<C>>;

/// What a [`Guard`](crate::permit::Guard) holds to reach its breaker.
pub(crate) trait Owner {
    /// The classifier type of the breaker.
    type Classify: ?Sized;

    fn inner(&self) -> &Inner<Self::Classify>;
}

impl<C: ?Sized> Owner for Arc<Inner<C>> {
    type Classify = C;

    #[inline]
    fn inner(&self) -> &Inner<C> {
        self
    }
}

impl<C> Owner for Lane<C> {
    type Classify = C;

    #[inline]
    fn inner(&self) -> &Inner<C> {
        self
    }
}
