//! Lanes: per-thread counted references to shared state, so threads that
//! share one layer do not all bump and drop the same `Arc` counter.
//!
//! A response future (or a permit) must keep its layer's shared state alive
//! until it is done, so it holds a counted reference. If every request cloned
//! the one `Arc` of the shared state, the cache line of that counter would
//! bounce between cores on every request. Instead the state is reached
//! through a few lanes, each a separately allocated, cache-line-aligned `Arc`
//! pointing at it, and a request clones the lane of the thread it runs on.
//! Correctness never depends on which lane a thread uses: a lane only keeps
//! the state alive.
//!
//! This is an internal building block of the Palisade layer crates (the
//! breaker, the limits, the timeout), public only so that they can share it
//! and hidden from the docs: it is not part of the API and may change in any
//! release. [`Padded`] is the one cache-line padding of the workspace.
//!
//! ```
//! use palisade_core::lane::Lanes;
//!
//! let lanes = Lanes::new(vec![1, 2, 3]);
//! let lane = lanes.current().clone(); // what a response future would hold
//! drop(lanes);
//! assert_eq!(lane.len(), 3); // still alive through the lane
//! ```

use std::{
    cell::Cell,
    fmt,
    ops::Deref,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
};

/// Keeps a value on cache lines of its own (128 bytes covers the adjacent-
/// line prefetcher of current x86 and the line size of Apple silicon).
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Padded<T>(pub T);

impl<T> Deref for Padded<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// One lane: a counted reference to the shared state whose counter sits on
/// cache lines of its own. Dereferences to the state.
pub struct Lane<T>(Arc<Padded<Arc<T>>>);

impl<T> Clone for Lane<T> {
    #[inline]
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> Deref for Lane<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.0.0
    }
}

impl<T: fmt::Debug> fmt::Debug for Lane<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The shared state `T` and its lanes (a power of two of them). Dereferences
/// to `T`.
pub struct Lanes<T> {
    shared: Arc<T>,
    lanes: Box<[Lane<T>]>,
}

impl<T> Lanes<T> {
    /// Lanes to `shared`: one per core, up to 16.
    pub fn new(shared: T) -> Self {
        Self::with_count(Arc::new(shared), default_lanes())
    }

    /// `count` lanes (rounded up to a power of two, at least one) to an
    /// existing `Arc`. One lane suits state that is rarely shared between
    /// threads (a per-key breaker), to save memory.
    pub fn with_count(shared: Arc<T>, count: usize) -> Self {
        let count = count.max(1).next_power_of_two();
        let lanes = (0..count)
            .map(|_| Lane(Arc::new(Padded(Arc::clone(&shared)))))
            .collect();
        Self { shared, lanes }
    }

    /// The lane of the calling thread.
    #[inline]
    pub fn current(&self) -> &Lane<T> {
        &self.lanes[thread_index() & (self.lanes.len() - 1)]
    }

    /// How many lanes there are.
    pub fn count(&self) -> usize {
        self.lanes.len()
    }

    /// The shared state's own `Arc`.
    pub fn shared(&self) -> &Arc<T> {
        &self.shared
    }
}

impl<T> Deref for Lanes<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.shared
    }
}

impl<T: fmt::Debug> fmt::Debug for Lanes<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.shared, f)
    }
}

/// How many lanes shared state gets by default: one per core, up to 16
/// (computed once).
pub fn default_lanes() -> usize {
    static LANES: OnceLock<usize> = OnceLock::new();
    *LANES.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .clamp(1, 16)
    })
}

/// A small number per thread, handed out in order: consecutive threads get
/// different lanes.
#[inline]
fn thread_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    INDEX
        .try_with(|index| {
            let i = index.get();
            if i != usize::MAX {
                return i;
            }
            let i = NEXT.fetch_add(1, Ordering::Relaxed) & (usize::MAX >> 1);
            index.set(i);
            i
        })
        // During thread teardown: any lane will do.
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lane_reaches_the_shared_state_and_keeps_it_alive() {
        let lanes = Lanes::new(7_u32);
        assert!(lanes.count().is_power_of_two());
        let lane = lanes.current().clone();
        assert_eq!(*lane, 7);
        let other = std::thread::spawn({
            let lane = lanes.lanes[lanes.count() - 1].clone();
            move || *lane
        });
        assert_eq!(other.join().unwrap(), 7);
        drop(lanes);
        assert_eq!(*lane, 7);
    }

    #[test]
    fn counts_round_up_to_powers_of_two() {
        let shared = Arc::new(());
        assert_eq!(Lanes::with_count(shared.clone(), 0).count(), 1);
        assert_eq!(Lanes::with_count(shared.clone(), 3).count(), 4);
        assert_eq!(Lanes::with_count(shared, 16).count(), 16);
    }

    #[test]
    fn threads_get_different_lanes() {
        let a = thread_index();
        let b = std::thread::spawn(thread_index).join().unwrap();
        assert_ne!(a, b);
        assert_eq!(a, thread_index(), "stable per thread");
    }
}
