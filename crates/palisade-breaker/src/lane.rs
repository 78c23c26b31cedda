//! Lanes: the reference counts a breaker's response futures hold, one per
//! group of threads, so that threads calling through one breaker do not
//! fight over a single `Arc` counter.
//!
//! A response future must keep the breaker alive until it records its
//! outcome, so it holds a counted reference. If every future cloned the one
//! `Arc` of the breaker, each call would bump and drop the same counter from
//! every thread, and that cache line would bounce between cores on every
//! call. Instead a breaker owns a few lanes, each a separately allocated,
//! cache-line-aligned `Arc` that points at the shared state, and a call
//! clones the lane of the thread it runs on.

use crate::breaker::Inner;
use std::{
    cell::Cell,
    fmt,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
};

/// Keeps a value on cache lines of its own (128 bytes covers the adjacent-
/// line prefetcher of current x86 and the line size of Apple silicon).
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

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

/// One lane: a counted reference to the breaker's shared state whose
/// counter sits on cache lines of its own.
pub(crate) struct Lane<C>(Arc<Padded<Arc<Inner<C>>>>);

impl<C> Lane<C> {
    fn new(inner: &Arc<Inner<C>>) -> Self {
        Self(Arc::new(Padded(inner.clone())))
    }
}

impl<C> Clone for Lane<C> {
    #[inline]
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<C> Owner for Lane<C> {
    type Classify = C;

    #[inline]
    fn inner(&self) -> &Inner<C> {
        &self.0.0
    }
}

impl<C> fmt::Debug for Lane<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lane").finish_non_exhaustive()
    }
}

/// The lanes of one breaker: a power-of-two number of them.
pub(crate) struct Lanes<C>(Box<[Lane<C>]>);

impl<C> Lanes<C> {
    /// `count` lanes (rounded up to a power of two, at least one).
    pub(crate) fn new(inner: &Arc<Inner<C>>, count: usize) -> Self {
        let count = count.max(1).next_power_of_two();
        Self((0..count).map(|_| Lane::new(inner)).collect())
    }

    /// The lane of the calling thread.
    #[inline]
    pub(crate) fn current(&self) -> &Lane<C> {
        &self.0[thread_index() & (self.0.len() - 1)]
    }
}

/// How many lanes a breaker gets: one per core, up to 16 (computed once).
pub(crate) fn default_lanes() -> usize {
    static LANES: OnceLock<usize> = OnceLock::new();
    *LANES.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .min(16)
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
