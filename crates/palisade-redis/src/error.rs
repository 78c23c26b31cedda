//! [`RedisFailure`]: why an operation on the shared connection did not complete.

use std::fmt;

use redis::RedisError;

/// Why an operation on a [`RedisConnection`](crate::RedisConnection) did not
/// complete.
#[derive(Debug)]
pub enum RedisFailure {
    /// It took longer than the connection's
    /// [`timeout`](crate::RedisConnectionBuilder::timeout).
    Timeout,
    /// Redis (or the connection to it) answered with an error, or the reply
    /// was not of the expected type.
    Error(RedisError),
}

impl fmt::Display for RedisFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("redis operation timed out"),
            Self::Error(e) => write!(f, "redis operation failed: {e}"),
        }
    }
}

impl std::error::Error for RedisFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Timeout => None,
            Self::Error(e) => Some(e),
        }
    }
}
