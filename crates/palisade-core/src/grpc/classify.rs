use crate::{Classify, Outcome};
use http::{HeaderMap, Response};
use tower_http::classify::{
    ClassifiedResponse, ClassifyEos, ClassifyResponse, GrpcCode, GrpcErrorsAsFailures,
    GrpcFailureClass,
};

/// Every gRPC code, for building the complement of the failure set.
const ALL_CODES: [GrpcCode; 17] = [
    GrpcCode::Ok,
    GrpcCode::Cancelled,
    GrpcCode::Unknown,
    GrpcCode::InvalidArgument,
    GrpcCode::DeadlineExceeded,
    GrpcCode::NotFound,
    GrpcCode::AlreadyExists,
    GrpcCode::PermissionDenied,
    GrpcCode::ResourceExhausted,
    GrpcCode::FailedPrecondition,
    GrpcCode::Aborted,
    GrpcCode::OutOfRange,
    GrpcCode::Unimplemented,
    GrpcCode::Internal,
    GrpcCode::Unavailable,
    GrpcCode::DataLoss,
    GrpcCode::Unauthenticated,
];

/// The server-side codes: the ones that say the server, not the client, failed.
const SERVER_CODES: [GrpcCode; 6] = [
    GrpcCode::Unknown,
    GrpcCode::DeadlineExceeded,
    GrpcCode::Unimplemented,
    GrpcCode::Internal,
    GrpcCode::Unavailable,
    GrpcCode::DataLoss,
];

/// Classifies gRPC responses by their `grpc-status`.
///
/// By default the server-side codes are failures (`UNKNOWN`,
/// `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `INTERNAL`, `UNAVAILABLE`,
/// `DATA_LOSS`) and every other code a success; transport errors are
/// failures. Built on `tower-http`'s `GrpcErrorsAsFailures`.
///
/// The status of a *trailers-only* response is in its headers and is read at
/// once by [`Classify::classify`]. A streaming or unary response that sends
/// its status in trailers is only known at the end of the body: `classify`
/// then answers [`Outcome::Ignored`] for the head, and
/// [`GrpcErrors::classify_response`] tells the caller to wrap the body in a
/// [`ClassifiedBody`](super::ClassifiedBody), which reports the verdict once.
///
/// ```
/// use http::Response;
/// use palisade_core::{grpc::{GrpcCode, GrpcErrors, GrpcVerdict}, Classify, Outcome};
///
/// let c = GrpcErrors::new();
/// let trailers_only = Response::builder().header("grpc-status", "14").body(()).unwrap();
/// assert_eq!(Classify::<_, ()>::classify(&c, Ok(&trailers_only)), Outcome::Failure);
///
/// let not_found = Response::builder().header("grpc-status", "5").body(()).unwrap();
/// assert_eq!(Classify::<_, ()>::classify(&c, Ok(&not_found)), Outcome::Success);
///
/// // Count NOT_FOUND as a failure too.
/// let strict = GrpcErrors::new().failure(GrpcCode::NotFound);
/// assert_eq!(Classify::<_, ()>::classify(&strict, Ok(&not_found)), Outcome::Failure);
///
/// // The status comes later, in trailers.
/// let streaming = Response::new(());
/// assert!(matches!(c.classify_response(&streaming), GrpcVerdict::AtEndOfStream));
/// ```
#[derive(Debug, Clone)]
pub struct GrpcErrors {
    failures: Vec<GrpcCode>,
    inner: GrpcErrorsAsFailures,
}

/// The verdict on a gRPC response head, from [`GrpcErrors::classify_response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrpcVerdict {
    /// The status was in the headers (a trailers-only response).
    Ready(Outcome),
    /// The status will arrive in trailers: wrap the body in a
    /// [`ClassifiedBody`](super::ClassifiedBody) to learn it.
    AtEndOfStream,
}

impl Default for GrpcErrors {
    fn default() -> Self {
        Self::new()
    }
}

impl GrpcErrors {
    /// The server-side codes are failures; every other code is a success.
    pub fn new() -> Self {
        Self::with_failures(SERVER_CODES)
    }

    /// Exactly `failures` are failures; every other code is a success.
    /// (`OK` is always a success.)
    pub fn with_failures(failures: impl IntoIterator<Item = GrpcCode>) -> Self {
        let failures: Vec<GrpcCode> = failures
            .into_iter()
            .filter(|c| *c != GrpcCode::Ok)
            .collect();
        let inner = ALL_CODES
            .into_iter()
            .filter(|c| !failures.contains(c))
            .fold(
                GrpcErrorsAsFailures::new(),
                GrpcErrorsAsFailures::with_success,
            );
        Self { failures, inner }
    }

    /// Also counts `code` as a failure.
    #[must_use]
    pub fn failure(self, code: GrpcCode) -> Self {
        let mut failures = self.failures;
        failures.push(code);
        Self::with_failures(failures)
    }

    /// Counts `code` as a success.
    #[must_use]
    pub fn success(self, code: GrpcCode) -> Self {
        let failures = self.failures.into_iter().filter(|c| *c != code);
        Self::with_failures(failures)
    }

    /// The codes counted as failures.
    pub fn failures(&self) -> &[GrpcCode] {
        &self.failures
    }

    /// Classifies a response head: [`GrpcVerdict::Ready`] when the status is
    /// in the headers, [`GrpcVerdict::AtEndOfStream`] when it is not.
    pub fn classify_response<B>(&self, res: &Response<B>) -> GrpcVerdict {
        match self.inner.clone().classify_response(res) {
            ClassifiedResponse::Ready(Ok(())) => GrpcVerdict::Ready(Outcome::Success),
            ClassifiedResponse::Ready(Err(class)) => GrpcVerdict::Ready(failure_outcome(&class)),
            ClassifiedResponse::RequiresEos(_) => GrpcVerdict::AtEndOfStream,
        }
    }

    /// Classifies the end of a stream from its trailers (`None` when the
    /// stream ended without any; a missing status is a success, as gRPC
    /// clients read it).
    pub fn classify_trailers(&self, trailers: Option<&HeaderMap>) -> Outcome {
        match self.inner.clone().classify_response(&Response::new(())) {
            ClassifiedResponse::RequiresEos(eos) => match eos.classify_eos(trailers) {
                Ok(()) => Outcome::Success,
                Err(class) => failure_outcome(&class),
            },
            // Unreachable for a response without headers, but answer sensibly.
            ClassifiedResponse::Ready(Ok(())) => Outcome::Success,
            ClassifiedResponse::Ready(Err(class)) => failure_outcome(&class),
        }
    }
}

/// Every failure class tower-http gives (a non-success status, an error) is a failure.
fn failure_outcome(_class: &GrpcFailureClass) -> Outcome {
    Outcome::Failure
}

impl<B, E> Classify<Response<B>, E> for GrpcErrors {
    fn classify(&self, result: Result<&Response<B>, &E>) -> Outcome {
        match result {
            Ok(res) => match self.classify_response(res) {
                GrpcVerdict::Ready(outcome) => outcome,
                GrpcVerdict::AtEndOfStream => Outcome::Ignored,
            },
            Err(_) => Outcome::Failure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_status(code: &str) -> Response<()> {
        Response::builder()
            .header("grpc-status", code)
            .body(())
            .unwrap()
    }

    #[test]
    fn default_failures_are_server_codes() {
        let c = GrpcErrors::new();
        for code in 0..=16 {
            let expected = if [2, 4, 12, 13, 14, 15].contains(&code) {
                Outcome::Failure
            } else {
                Outcome::Success
            };
            let res = with_status(&code.to_string());
            assert_eq!(
                c.classify_response(&res),
                GrpcVerdict::Ready(expected),
                "code {code}"
            );
        }
    }

    #[test]
    fn trailers() {
        let c = GrpcErrors::new();
        let mut t = HeaderMap::new();
        t.insert("grpc-status", "13".parse().unwrap());
        assert_eq!(c.classify_trailers(Some(&t)), Outcome::Failure);
        t.insert("grpc-status", "0".parse().unwrap());
        assert_eq!(c.classify_trailers(Some(&t)), Outcome::Success);
        assert_eq!(c.classify_trailers(None), Outcome::Success);
        let c = c.success(GrpcCode::Internal);
        t.insert("grpc-status", "13".parse().unwrap());
        assert_eq!(c.classify_trailers(Some(&t)), Outcome::Success);
    }
}
