//! The error of every Palisade configuration builder.

use std::fmt;

/// A configuration value was out of its allowed range, or a required one
/// was not given.
///
/// Every Palisade builder's `build()` returns `Result<_, ConfigError>`, and
/// every crate words its messages the same way. The field is spelled as its
/// builder method (`count_window`, not `window_size`) and comes first:
///
/// | made with | message |
/// |---|---|
/// | [`ConfigError::new`] — a value out of range | `<field> must be <allowed>, got <value>` |
/// | [`ConfigError::required`] — a required setting not given | `<field> must be set` |
/// | [`ConfigError::custom`] — a rule between settings | `<field>: <message>` |
///
/// `<value>` is the value as given, written with `{:?}`: a number as is
/// (`0`, `1.5`, `NaN`), a `Duration` as `0ns` or `250ms`, a string in quotes
/// (`""`). Pass the value itself, not a string made from it. `<allowed>`
/// is a range or a phrase: `in (0, 1]`, `at least 1`, `greater than zero`,
/// `in 1..=64`.
///
/// ```
/// use std::time::Duration;
/// use palisade_core::ConfigError;
///
/// let err = ConfigError::new("failure_rate", "in (0, 1]", 1.5);
/// assert_eq!(err.to_string(), "failure_rate must be in (0, 1], got 1.5");
/// assert_eq!(err.field(), "failure_rate");
///
/// let err = ConfigError::new("open_wait", "greater than zero", Duration::ZERO);
/// assert_eq!(err.to_string(), "open_wait must be greater than zero, got 0ns");
///
/// let err = ConfigError::required("timeout");
/// assert_eq!(err.to_string(), "timeout must be set");
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

    /// A setting that has no default was not given: `"<field> must be set"`.
    pub fn required(field: &'static str) -> Self {
        Self {
            field,
            message: format!("{field} must be set"),
        }
    }

    /// An error about `field` with a free-form message, for a rule between
    /// settings; the field is still named first (`"max_bytes: give either
    /// max_entries or max_bytes, not both"`). Prefer [`ConfigError::new`]
    /// for a value out of range and [`ConfigError::required`] for a missing
    /// one.
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
        let e = ConfigError::required("timeout");
        assert_eq!(e.to_string(), "timeout must be set");
        assert_eq!(e.field(), "timeout");
        let e = ConfigError::new("name", "non-empty", "");
        assert_eq!(e.to_string(), "name must be non-empty, got \"\"");
        let e = ConfigError::new("jitter", "in [0, 1]", f64::NAN);
        assert_eq!(e.to_string(), "jitter must be in [0, 1], got NaN");
        let e = ConfigError::custom("max_wait", "must be set when max_size > 1");
        assert_eq!(e.to_string(), "max_wait: must be set when max_size > 1");
        assert_eq!(e.field(), "max_wait");
    }
}
