//! The error of every Palisade configuration builder.

use std::fmt;

/// A configuration value was out of its allowed range.
///
/// Every Palisade builder's `build()` returns `Result<_, ConfigError>`. The
/// message names the field, what it must be, and what it got:
///
/// ```
/// use palisade_core::ConfigError;
///
/// let err = ConfigError::new("failure_rate", "in (0, 1]", 1.5);
/// assert_eq!(err.to_string(), "failure_rate must be in (0, 1], got 1.5");
/// assert_eq!(err.field(), "failure_rate");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    field: &'static str,
    message: String,
}

impl ConfigError {
    /// A value of `field` that is not `expected` (e.g. `"in (0, 1]"`, `"at least 1"`).
    pub fn new(field: &'static str, expected: impl fmt::Display, got: impl fmt::Debug) -> Self {
        Self {
            field,
            message: format!("{field} must be {expected}, got {got:?}"),
        }
    }

    /// An error about `field` with a free-form message; the field is still
    /// named first (`"max_wait: must not exceed ..."`).
    pub fn custom(field: &'static str, message: impl fmt::Display) -> Self {
        Self {
            field,
            message: format!("{field}: {message}"),
        }
    }

    /// The name of the offending field, as spelled by its builder method.
    pub fn field(&self) -> &'static str {
        self.field
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn messages_name_the_field() {
        let e = ConfigError::new("count_window", "at least 1", 0);
        assert_eq!(e.to_string(), "count_window must be at least 1, got 0");
        let e = ConfigError::new("open_wait", "greater than zero", Duration::ZERO);
        assert_eq!(
            e.to_string(),
            "open_wait must be greater than zero, got 0ns"
        );
        let e = ConfigError::custom("max_wait", "must be set when max_size > 1");
        assert_eq!(e.to_string(), "max_wait: must be set when max_size > 1");
        assert_eq!(e.field(), "max_wait");
    }
}
