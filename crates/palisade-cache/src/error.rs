//! Errors of the cache services.

use std::{fmt, sync::Arc};

use palisade_core::BoxError;

/// The error of a call that several coalesced requests waited for.
///
/// When the one inner call made for a key fails while other requests wait
/// for it, each of them (and the request that made the call) gets this error;
/// [`source`](std::error::Error::source) is the inner service's error. With
/// no waiter, the inner error passes through unchanged. Errors are never
/// cached: the next request for the key calls the inner service again.
///
/// ```
/// use palisade_cache::error::SharedError;
/// # fn check(err: &palisade_core::BoxError) -> bool {
/// err.is::<SharedError>()
/// # }
/// ```
#[derive(Clone)]
pub struct SharedError {
    inner: Arc<dyn std::error::Error + Send + Sync>,
}

impl SharedError {
    pub(crate) fn new(err: BoxError) -> Self {
        Self {
            inner: Arc::from(err),
        }
    }

    /// The inner service's error.
    #[must_use]
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.inner
    }
}

impl fmt::Debug for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SharedError").field(&self.inner).finish()
    }
}

impl fmt::Display for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "coalesced call failed: {}", self.inner)
    }
}

impl std::error::Error for SharedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.inner)
    }
}

/// The inner service could not be reached for a coalesced call whose leader
/// was cancelled: no tokio runtime to run the take-over on, or the cache's
/// background worker is gone.
#[derive(Debug, Clone, Copy, Default)]
pub struct TakeOverFailed;

impl fmt::Display for TakeOverFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cache could not take over a cancelled call")
    }
}

impl std::error::Error for TakeOverFailed {}
