//! gRPC: the status of a gRPC response, for its class and its labels.
//!
//! Whether a status is a failure is decided by `palisade-core`'s
//! [`GrpcErrors`](palisade_core::grpc::GrpcErrors) (feature `grpc`); this
//! module only tells gRPC responses apart and names their code for the
//! `error_type` label.

/// The names of the gRPC status codes, by code (the `error_type` label of a
/// failed gRPC call).
#[cfg(any(feature = "grpc", feature = "metrics"))]
pub(crate) const CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// No gRPC failure code (an HTTP response, or an error of the inner service).
pub(crate) const NO_CODE: u8 = u8::MAX;

/// `UNKNOWN`: what a gRPC client reads from a missing or malformed status.
#[cfg(feature = "grpc")]
const UNKNOWN: u8 = 2;

/// Whether a response is a gRPC one: `content-type: application/grpc`, or
/// `application/grpc+proto`, `application/grpc-web`, ...
#[cfg(feature = "grpc")]
#[inline]
pub(crate) fn is_grpc(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// The `grpc-status` code in `headers` (headers of a trailers-only response,
/// or trailers); `UNKNOWN` when missing or not a known code.
#[cfg(feature = "grpc")]
pub(crate) fn status_code(headers: &http::HeaderMap) -> u8 {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u8>().ok())
        .filter(|c| usize::from(*c) < CODE_NAMES.len())
        .unwrap_or(UNKNOWN)
}

#[cfg(all(test, feature = "grpc"))]
mod tests {
    use super::*;

    #[test]
    fn content_types_and_codes() {
        let mut h = http::HeaderMap::new();
        assert!(!is_grpc(&h));
        h.insert("content-type", "application/json".parse().unwrap());
        assert!(!is_grpc(&h));
        for ct in [
            "application/grpc",
            "application/grpc+proto",
            "application/grpc-web",
        ] {
            h.insert("content-type", ct.parse().unwrap());
            assert!(is_grpc(&h), "{ct}");
        }
        assert_eq!(status_code(&h), UNKNOWN);
        h.insert("grpc-status", "14".parse().unwrap());
        assert_eq!(status_code(&h), 14);
        assert_eq!(CODE_NAMES[usize::from(status_code(&h))], "UNAVAILABLE");
        h.insert("grpc-status", "99".parse().unwrap());
        assert_eq!(status_code(&h), UNKNOWN);
        h.insert("grpc-status", "x".parse().unwrap());
        assert_eq!(status_code(&h), UNKNOWN);
    }
}
