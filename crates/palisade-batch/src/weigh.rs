//! How much one item counts against `max_weight`: the [`Weigh`] trait and
//! the worker's panic-safe call of it.

use crate::error::{Panicked, site};

/// How much one item counts against `max_weight`.
///
/// Implemented for `()` (every item weighs 1, the default) and for closures
/// `Fn(&T) -> usize`:
///
/// ```
/// use palisade_batch::Batcher;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), palisade_core::ConfigError> {
/// // Texts to embed: at most 64 of them and 8 KiB of text per batch.
/// let batcher = Batcher::builder("embed")
///     .max_size(64)
///     .max_weight(8 * 1024)
///     .weigh(|text: &String| text.len())
///     .build()?;
/// # let _ = batcher; Ok(()) }
/// ```
pub trait Weigh<T>: Send + Sync + 'static {
    /// The weight of `item`. An item heavier than `max_weight` on its own is
    /// sent in a batch of its own. It runs in the worker task; if it panics,
    /// that caller gets an [`error::Panicked`](crate::error::Panicked) and the
    /// worker goes on.
    fn weigh(&self, item: &T) -> usize;
}

/// Weighs `item`, catching a panic of the weigh function (the worker runs
/// it and must survive it).
pub(crate) fn weigh_caught<T, W: Weigh<T>>(weigh: &W, item: &T) -> Result<usize, Panicked> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| weigh.weigh(item)))
        .map_err(|payload| Panicked::new(site::WEIGH, &*payload))
}

impl<T> Weigh<T> for () {
    fn weigh(&self, _item: &T) -> usize {
        1
    }
}

impl<T, F> Weigh<T> for F
where
    F: Fn(&T) -> usize + Send + Sync + 'static,
{
    fn weigh(&self, item: &T) -> usize {
        self(item)
    }
}
