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

/// The call made for a key panicked (in the inner service's `call`, or while
/// its future or, for [`HttpCache`](crate::HttpCache), the response body
/// being stored was polled).
///
/// The requests that waited for that call get it at once, as the
/// [`source`](std::error::Error::source) of a [`SharedError`]; they do not
/// make the call again. The request that made the call panics as it would
/// without the cache. Nothing is cached: the next request for the key calls
/// the inner service again. An [`HttpCache`](crate::HttpCache) answers such
/// a waiter like any other failed call.
#[derive(Debug, Clone)]
pub struct CallPanicked {
    message: Option<Arc<str>>,
}

impl CallPanicked {
    pub(crate) fn new(payload: Option<&(dyn std::any::Any + Send)>) -> Self {
        let message = payload.and_then(|p| {
            p.downcast_ref::<&'static str>()
                .map(|s| Arc::from(*s))
                .or_else(|| p.downcast_ref::<String>().map(|s| Arc::from(s.as_str())))
        });
        Self { message }
    }

    /// The panic's message, when it was a string.
    #[must_use]
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }
}

impl fmt::Display for CallPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(m) => write!(f, "the call for this key panicked: {m}"),
            None => f.write_str("the call for this key panicked"),
        }
    }
}

impl std::error::Error for CallPanicked {}
