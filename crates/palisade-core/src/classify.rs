//! Deciding whether a finished call succeeded, failed, or should not count.

/// The verdict on one finished call, shared by every Palisade layer that
/// keeps score (the breaker's window, adaptive limits, latency error counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The call did what was asked of it.
    Success,
    /// The call failed in a way that says something about the dependency's health.
    Failure,
    /// The call neither counts for nor against the dependency (a cancelled
    /// call, a client error, a response whose verdict never arrived).
    Ignored,
}

impl Outcome {
    /// The outcome as a lowercase label, as used in metrics (`success`, `failure`, `ignored`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Ignored => "ignored",
        }
    }
}

/// Decides the [`Outcome`] of a finished call from its result.
///
/// Implemented for closures `Fn(Result<&Res, &Err>) -> Outcome`, for
/// [`ErrorsAsFailures`] (the default of every layer), and — behind the `http`
/// and `grpc` features — for [`HttpServerErrors`](crate::http::HttpServerErrors)
/// and [`GrpcErrors`](crate::grpc::GrpcErrors).
///
/// ```
/// use palisade_core::{Classify, Outcome};
///
/// // Count only timeouts as failures; everything else is ignored.
/// let only_timeouts = |res: Result<&u32, &std::io::Error>| match res {
///     Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Outcome::Failure,
///     Err(_) => Outcome::Ignored,
///     Ok(_) => Outcome::Success,
/// };
/// let err = std::io::Error::from(std::io::ErrorKind::TimedOut);
/// assert_eq!(only_timeouts.classify(Err(&err)), Outcome::Failure);
/// assert_eq!(only_timeouts.classify(Ok(&7)), Outcome::Success);
/// ```
pub trait Classify<Res, Err>: Send + Sync + 'static {
    /// Classifies one finished call.
    fn classify(&self, result: Result<&Res, &Err>) -> Outcome;
}

impl<F, Res, Err> Classify<Res, Err> for F
where
    F: Fn(Result<&Res, &Err>) -> Outcome + Send + Sync + 'static,
{
    #[inline]
    fn classify(&self, result: Result<&Res, &Err>) -> Outcome {
        self(result)
    }
}

/// The default classification: an `Err` is a failure, an `Ok` is a success.
///
/// ```
/// use palisade_core::{Classify, ErrorsAsFailures, Outcome};
///
/// let c = ErrorsAsFailures;
/// assert_eq!(Classify::<(), &str>::classify(&c, Ok(&())), Outcome::Success);
/// assert_eq!(Classify::<(), &str>::classify(&c, Err(&"boom")), Outcome::Failure);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorsAsFailures;

impl<Res, Err> Classify<Res, Err> for ErrorsAsFailures {
    #[inline]
    fn classify(&self, result: Result<&Res, &Err>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_as_failures() {
        let c = ErrorsAsFailures;
        assert_eq!(Classify::<u8, ()>::classify(&c, Ok(&1)), Outcome::Success);
        assert_eq!(Classify::<u8, ()>::classify(&c, Err(&())), Outcome::Failure);
    }

    #[test]
    fn outcome_labels() {
        assert_eq!(Outcome::Success.as_str(), "success");
        assert_eq!(Outcome::Failure.as_str(), "failure");
        assert_eq!(Outcome::Ignored.as_str(), "ignored");
    }
}
