//! [`StatusClass`]: the class a finished request is recorded under.

use std::fmt;

/// The class of a finished request: the first digit of its status, or
/// `error` when the inner service returned an error (or the request was
/// dropped before its response).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatusClass {
    /// `100..=199` (a WebSocket upgrade answers `101`).
    Informational,
    /// `200..=299`.
    Success,
    /// `300..=399`.
    Redirection,
    /// `400..=499`.
    ClientError,
    /// `500..=599`.
    ServerError,
    /// The inner service returned an error, or the request was dropped before
    /// its response head.
    Error,
}

impl StatusClass {
    /// Every class, in label order.
    pub const ALL: [StatusClass; 6] = [
        StatusClass::Informational,
        StatusClass::Success,
        StatusClass::Redirection,
        StatusClass::ClientError,
        StatusClass::ServerError,
        StatusClass::Error,
    ];

    /// The class of a status code (codes outside `100..=599` count as `5xx`).
    pub const fn from_code(code: u16) -> Self {
        match code {
            100..=199 => StatusClass::Informational,
            200..=299 => StatusClass::Success,
            300..=399 => StatusClass::Redirection,
            400..=499 => StatusClass::ClientError,
            _ => StatusClass::ServerError,
        }
    }

    /// The label: `1xx`, `2xx`, `3xx`, `4xx`, `5xx` or `error`.
    pub const fn as_str(self) -> &'static str {
        match self {
            StatusClass::Informational => "1xx",
            StatusClass::Success => "2xx",
            StatusClass::Redirection => "3xx",
            StatusClass::ClientError => "4xx",
            StatusClass::ServerError => "5xx",
            StatusClass::Error => "error",
        }
    }

    /// Whether requests of this class count as errors (`5xx` and `error`).
    pub const fn is_error(self) -> bool {
        matches!(self, StatusClass::ServerError | StatusClass::Error)
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for StatusClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(StatusClass::from_code(101), StatusClass::Informational);
        assert_eq!(StatusClass::from_code(204).as_str(), "2xx");
        assert_eq!(StatusClass::from_code(404).as_str(), "4xx");
        assert_eq!(StatusClass::from_code(999).as_str(), "5xx");
        assert!(StatusClass::Error.is_error());
        assert!(!StatusClass::ClientError.is_error());
    }
}
