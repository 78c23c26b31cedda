use std::fmt;

use palisade_core::ConfigError;

use super::Loader;
use crate::front::{FrontBuilder, builder_methods};

/// Configures a [`Loader`]; made by [`Loader::builder`].
///
/// No setting is required: each has a default (`max_size` 64, no
/// `max_weight`, `max_wait` zero, `max_in_flight` 4, `queue_capacity` 1024,
/// waiting rather than rejecting when full, no bisection, the current tokio
/// runtime). Zero means: for `max_wait`, flush eagerly (a batch is sent as
/// soon as a batch slot is free); for `max_size`, `max_weight`,
/// `max_in_flight` and `bisect_on_error`, a [`ConfigError`] from
/// [`build`](Self::build) naming the field.
pub struct LoaderBuilder<W = ()> {
    front: FrontBuilder<W>,
}

impl<W> LoaderBuilder<W> {
    pub(crate) fn new(front: FrontBuilder<W>) -> Self {
        Self { front }
    }

    builder_methods!("batch of keys");

    /// How much each key counts against [`max_weight`](Self::max_weight)
    /// (default: 1 each).
    pub fn weigh<K, F>(self, weigh: F) -> LoaderBuilder<F>
    where
        F: Fn(&K) -> usize + Send + Sync + 'static,
    {
        LoaderBuilder::new(self.front.weigh(weigh))
    }

    /// Validates the configuration.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field when `max_size`, `max_weight`,
    /// `max_in_flight` is zero, `queue_capacity` is below `max_size`,
    /// `bisect_on_error` is outside 1..=16, or no tokio runtime is current
    /// and none was given with [`runtime`](Self::runtime) (field `runtime`).
    pub fn build(self) -> Result<Loader<W>, ConfigError> {
        Ok(Loader::new(self.front.build()?))
    }
}

impl<W> fmt::Debug for LoaderBuilder<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoaderBuilder")
            .field("settings", &self.front.settings)
            .finish_non_exhaustive()
    }
}
