//! Errors a caller can get from a batcher or loader besides
//! [`Rejected`](palisade_core::Rejected).
//!
//! - [`BatchFailed`]: the inner service failed the batch the caller was in.
//!   Every caller of that batch gets one; they share the cause (an `Arc`), and
//!   `source()` returns it.
//! - [`WrongLength`]: a positional inner service answered a batch with a
//!   different number of responses than it got requests.
//! - [`Panicked`]: user code run by the worker panicked. A panic in the inner
//!   service (`poll_ready`, `call` or its response future) is the cause of
//!   the [`BatchFailed`] every caller of that batch gets; a panic in a
//!   [`weigh`](crate::BatcherBuilder::weigh) function is the error of the one
//!   caller whose item was weighed. The worker goes on serving either way.
//!
//! A caller whose batcher is full (with `reject_when_full`) gets a
//! [`Rejected`](palisade_core::Rejected) of kind
//! [`BatchFull`](palisade_core::RejectKind::BatchFull); a caller whose worker
//! is gone (its runtime shut down) gets one of kind
//! [`Closed`](palisade_core::RejectKind::Closed).

use std::{error::Error, fmt, sync::Arc};

/// The shared cause of a failed batch.
pub(crate) type SharedError = Arc<dyn Error + Send + Sync + 'static>;

/// The inner service failed the batch this caller was in.
///
/// Every caller of the batch gets its own `BatchFailed`; the cause is shared
/// between them (an `Arc`, not a copy) and is the error's
/// [`source()`](Error::source), so the inner service's error type can still be
/// downcast:
///
/// ```
/// use std::error::Error;
/// use palisade_batch::error::BatchFailed;
///
/// fn inner_cause(err: &(dyn Error + 'static)) -> Option<String> {
///     let failed = err.downcast_ref::<BatchFailed>()?;
///     Some(failed.source()?.to_string())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct BatchFailed {
    name: Arc<str>,
    batch_len: usize,
    cause: SharedError,
}

impl BatchFailed {
    pub(crate) fn new(name: Arc<str>, batch_len: usize, cause: SharedError) -> Self {
        Self {
            name,
            batch_len,
            cause,
        }
    }

    /// The name of the batcher or loader.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many items the failed inner call carried.
    pub fn batch_len(&self) -> usize {
        self.batch_len
    }

    /// The inner service's error, shared by every caller of the batch.
    pub fn cause(&self) -> &Arc<dyn Error + Send + Sync + 'static> {
        &self.cause
    }
}

impl fmt::Display for BatchFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "batch of {} failed ({}): {}",
            self.batch_len, self.name, self.cause
        )
    }
}

impl Error for BatchFailed {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.cause)
    }
}

/// A positional inner service answered a batch of `expected` requests with
/// `actual` responses, so no response can be matched to its caller. Every
/// caller of the batch gets this error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrongLength {
    name: Arc<str>,
    expected: usize,
    actual: usize,
}

impl WrongLength {
    pub(crate) fn new(name: Arc<str>, expected: usize, actual: usize) -> Self {
        Self {
            name,
            expected,
            actual,
        }
    }

    /// The name of the batcher.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many requests the batch carried.
    pub fn expected(&self) -> usize {
        self.expected
    }

    /// How many responses the inner service returned.
    pub fn actual(&self) -> usize {
        self.actual
    }
}

impl fmt::Display for WrongLength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "inner service answered a batch of {} requests with {} responses ({})",
            self.expected, self.actual, self.name
        )
    }
}

impl Error for WrongLength {}

/// User code run by a batcher's worker panicked; the worker caught the panic
/// and goes on serving later batches.
///
/// For a panic in the inner service (`poll_ready`, `call`, or the future
/// `call` returned) every caller of the batch gets a [`BatchFailed`] whose
/// cause is this error; with `bisect_on_error` the batch is split like any
/// other failed batch, so an item that makes the inner service panic is
/// isolated too. For a panic in a `weigh` function only the caller whose
/// item was weighed gets it.
///
/// The worker keeps using the same inner service after a panic: a service
/// whose state a panic leaves broken should be wrapped so that it recovers
/// (or fails every later call with an error).
#[derive(Debug, Clone)]
pub struct Panicked {
    site: &'static str,
    message: Arc<str>,
}

impl Panicked {
    /// Takes the message out of a panic payload (a `&str` or a `String`, as
    /// `panic!` makes them).
    pub(crate) fn new(site: &'static str, payload: &(dyn std::any::Any + Send)) -> Self {
        let message: Arc<str> = if let Some(s) = payload.downcast_ref::<&'static str>() {
            Arc::from(*s)
        } else if let Some(s) = payload.downcast_ref::<String>() {
            Arc::from(s.as_str())
        } else {
            Arc::from("a panic payload that is not a string")
        };
        Self { site, message }
    }

    /// Where the panic happened: `"inner service's poll_ready"`,
    /// `"inner service's call"`, `"inner service's response future"` or
    /// `"weigh function"`.
    pub fn site(&self) -> &'static str {
        self.site
    }

    /// The panic's message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "panic in the {}: {}", self.site, self.message)
    }
}

impl Error for Panicked {}

/// Where a panic can happen in a worker.
pub(crate) mod site {
    pub(crate) const POLL_READY: &str = "inner service's poll_ready";
    pub(crate) const CALL: &str = "inner service's call";
    pub(crate) const FUTURE: &str = "inner service's response future";
    pub(crate) const WEIGH: &str = "weigh function";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_failed_shares_its_cause() {
        let cause: SharedError = Arc::new(std::io::Error::other("db down"));
        let a = BatchFailed::new("users".into(), 3, cause.clone());
        let b = a.clone();
        assert!(Arc::ptr_eq(a.cause(), b.cause()));
        assert_eq!(a.to_string(), "batch of 3 failed (users): db down");
        let source = a.source().expect("source");
        assert!(source.downcast_ref::<std::io::Error>().is_some());
    }

    #[test]
    fn wrong_length_names_both_lengths() {
        let e = WrongLength::new("embed".into(), 4, 3);
        assert_eq!(
            e.to_string(),
            "inner service answered a batch of 4 requests with 3 responses (embed)"
        );
        assert_eq!((e.expected(), e.actual()), (4, 3));
    }

    #[test]
    fn panicked_names_the_site_and_the_message() {
        let p = Panicked::new(site::CALL, &"boom");
        assert_eq!(p.to_string(), "panic in the inner service's call: boom");
        let p = Panicked::new(site::FUTURE, &String::from("id 7"));
        assert_eq!(p.message(), "id 7");
        assert_eq!(p.site(), site::FUTURE);
        let p = Panicked::new(site::WEIGH, &42_u32);
        assert_eq!(p.message(), "a panic payload that is not a string");
    }
}
