//! HTTP: classification of responses and the mapping of [`Rejected`] to responses.
//!
//! - [`HttpServerErrors`]: transport errors and `5xx` are failures, anything
//!   else a success; extra statuses (such as `429`) can be counted as failures.
//! - [`Rejected::http_status`]: `503` for a refusal, `504` for a passed deadline,
//!   `429` for a rejection marked [as a rate limit](Rejected::as_rate_limit).
//! - [`ErrorResponseLayer`]: turns a fallible service into one whose error is
//!   [`Infallible`](std::convert::Infallible), as axum requires, answering a
//!   `Rejected` with its status and `Retry-After`, and any other error with a
//!   `500` that leaks nothing of the error.
//! - With the `axum` feature, [`Rejected`] and [`HandlerError`] implement
//!   axum's `IntoResponse`, so a handler that calls a Palisade stack passes a
//!   rejection on with `?` and the client gets the same answer.

#[cfg(feature = "axum")]
mod axum;
mod body;
mod error_response;

use crate::{Classify, Outcome, RejectKind, Rejected};
use http::{Response, StatusCode};
use tower_http::classify::{ClassifiedResponse, ClassifyResponse, StatusInRangeAsFailures};

pub use body::ResponseBody;
pub use error_response::{ErrorResponseFuture, ErrorResponseLayer, ErrorResponseService};

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use self::axum::HandlerError;

/// Classifies HTTP responses: errors and `5xx` are failures, every other
/// status a success.
///
/// Built on `tower-http`'s [`StatusInRangeAsFailures`]; use
/// [`HttpServerErrors::also_failure`] to count more statuses as failures (a
/// `429` from a dependency that is rate limiting you, say).
///
/// ```
/// use http::{Response, StatusCode};
/// use palisade_core::{http::HttpServerErrors, Classify, Outcome};
///
/// let c = HttpServerErrors::new().also_failure(StatusCode::TOO_MANY_REQUESTS);
/// let res = |s: u16| Response::builder().status(s).body(()).unwrap();
/// let verdict = |s| Classify::<_, std::io::Error>::classify(&c, Ok(&res(s)));
/// assert_eq!(verdict(200), Outcome::Success);
/// assert_eq!(verdict(404), Outcome::Success);
/// assert_eq!(verdict(429), Outcome::Failure);
/// assert_eq!(verdict(503), Outcome::Failure);
/// ```
#[derive(Debug, Clone)]
pub struct HttpServerErrors {
    range: StatusInRangeAsFailures,
    extra: Vec<StatusCode>,
    ignore: Vec<StatusCode>,
}

impl Default for HttpServerErrors {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpServerErrors {
    /// Errors and `500..=599` are failures; everything else is a success.
    pub fn new() -> Self {
        Self {
            range: StatusInRangeAsFailures::new(500..=599),
            extra: Vec::new(),
            ignore: Vec::new(),
        }
    }

    /// Also counts `status` as a failure.
    #[must_use]
    pub fn also_failure(mut self, status: StatusCode) -> Self {
        self.ignore.retain(|s| *s != status);
        self.extra.push(status);
        self
    }

    /// Counts `status` as neither success nor failure ([`Outcome::Ignored`]).
    #[must_use]
    pub fn ignore(mut self, status: StatusCode) -> Self {
        self.extra.retain(|s| *s != status);
        self.ignore.push(status);
        self
    }

    /// Classifies a status code alone.
    pub fn classify_status(&self, status: StatusCode) -> Outcome {
        if self.ignore.contains(&status) {
            return Outcome::Ignored;
        }
        if self.extra.contains(&status) {
            return Outcome::Failure;
        }
        // Ask tower-http's range classifier; only the status matters to it.
        // `Response::new` does not allocate.
        let mut probe = Response::new(());
        *probe.status_mut() = status;
        match self.range.clone().classify_response(&probe) {
            ClassifiedResponse::Ready(Err(_)) => Outcome::Failure,
            // A status range never waits for the end of the stream.
            ClassifiedResponse::Ready(Ok(())) | ClassifiedResponse::RequiresEos(_) => {
                Outcome::Success
            }
        }
    }
}

impl<B, E> Classify<Response<B>, E> for HttpServerErrors {
    fn classify(&self, result: Result<&Response<B>, &E>) -> Outcome {
        match result {
            Ok(res) => self.classify_status(res.status()),
            Err(_) => Outcome::Failure,
        }
    }
}

impl Rejected {
    /// The HTTP status this rejection answers with: `504` for
    /// [`DeadlineExceeded`](RejectKind::DeadlineExceeded), `429` for a
    /// rejection marked [as a rate limit](Rejected::as_rate_limit), `503` for
    /// everything else.
    pub fn http_status(&self) -> StatusCode {
        match self.kind() {
            RejectKind::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            _ if self.is_rate_limit() => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_across_ranges() {
        let c = HttpServerErrors::new();
        for s in [100u16, 200, 204, 301, 304, 400, 404, 429, 499] {
            let st = StatusCode::from_u16(s).unwrap();
            assert_eq!(c.classify_status(st), Outcome::Success, "{s}");
        }
        for s in [500u16, 502, 503, 504, 599] {
            let st = StatusCode::from_u16(s).unwrap();
            assert_eq!(c.classify_status(st), Outcome::Failure, "{s}");
        }
        let c = c.ignore(StatusCode::NOT_IMPLEMENTED);
        assert_eq!(
            c.classify_status(StatusCode::NOT_IMPLEMENTED),
            Outcome::Ignored
        );
    }

    #[test]
    fn transport_errors_are_failures() {
        let c = HttpServerErrors::new();
        let err = std::io::Error::other("reset");
        assert_eq!(
            Classify::<Response<()>, _>::classify(&c, Err(&err)),
            Outcome::Failure
        );
    }

    #[test]
    fn rejection_statuses() {
        let r = |k| Rejected::new(k, "x").http_status();
        assert_eq!(r(RejectKind::CircuitOpen), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r(RejectKind::Overloaded), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r(RejectKind::QueueTimeout), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r(RejectKind::BatchFull), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r(RejectKind::DeadlineExceeded), StatusCode::GATEWAY_TIMEOUT);
        let limited = Rejected::new(RejectKind::Overloaded, "x").as_rate_limit();
        assert_eq!(limited.http_status(), StatusCode::TOO_MANY_REQUESTS);
        let late = Rejected::new(RejectKind::DeadlineExceeded, "x").as_rate_limit();
        assert_eq!(late.http_status(), StatusCode::GATEWAY_TIMEOUT);
    }
}
