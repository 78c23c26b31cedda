//! [`ConcurrencyLimitBuilder`].

use super::{ConcurrencyLimit, UntilBodyEnd, UntilResponse, state::Shared};
use palisade_core::ConfigError;
use palisade_core::lane::Lanes;
use std::{marker::PhantomData, sync::Arc, time::Duration};

/// The `retry_after` of a rejection unless configured.
pub(crate) const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Builds a [`ConcurrencyLimit`]; made by [`ConcurrencyLimit::builder`].
///
/// One setting is required: [`max_in_flight`](Self::max_in_flight) (at
/// least 1). Without it, [`build`](Self::build) fails with
/// `max_in_flight: must be set`. `retry_after` defaults to 1 s.
#[derive(Debug)]
#[must_use = "call .build() to get the limit"]
pub struct ConcurrencyLimitBuilder<P = UntilResponse> {
    name: Arc<str>,
    max_in_flight: Option<usize>,
    retry_after: Duration,
    _release: PhantomData<fn() -> P>,
}

impl<P> Clone for ConcurrencyLimitBuilder<P> {
    fn clone(&self) -> Self {
        Self {
            name: Arc::clone(&self.name),
            max_in_flight: self.max_in_flight,
            retry_after: self.retry_after,
            _release: PhantomData,
        }
    }
}

impl ConcurrencyLimitBuilder<UntilResponse> {
    pub(crate) fn new(name: Arc<str>) -> Self {
        Self {
            name,
            max_in_flight: None,
            retry_after: DEFAULT_RETRY_AFTER,
            _release: PhantomData,
        }
    }
}

impl<P> ConcurrencyLimitBuilder<P> {
    /// The most requests that may run at once (required; at least 1).
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = Some(max);
        self
    }

    /// The `retry_after` of every rejection (default 1 s; greater than zero).
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// Holds the slot until the HTTP response body has been fully sent or
    /// dropped, not only until the response head is ready: a streaming
    /// response is still work. The service's response becomes
    /// `http::Response<LimitBody<B>>`.
    pub fn hold_until_body_end(self) -> ConcurrencyLimitBuilder<UntilBodyEnd> {
        ConcurrencyLimitBuilder {
            name: self.name,
            max_in_flight: self.max_in_flight,
            retry_after: self.retry_after,
            _release: PhantomData,
        }
    }

    /// Checks the configuration and builds the limit.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming `max_in_flight` when it was not set or is
    /// zero, or `retry_after` when it is zero.
    pub fn build(self) -> Result<ConcurrencyLimit<P>, ConfigError> {
        let max = self
            .max_in_flight
            .ok_or_else(|| ConfigError::custom("max_in_flight", "must be set"))?;
        if max == 0 || max > usize::MAX / 2 {
            return Err(ConfigError::new(
                "max_in_flight",
                format_args!("in [1, {}]", usize::MAX / 2),
                max,
            ));
        }
        if self.retry_after.is_zero() {
            return Err(ConfigError::new(
                "retry_after",
                "greater than zero",
                self.retry_after,
            ));
        }
        Ok(ConcurrencyLimit::new(Arc::new(Lanes::new(Shared::new(
            self.name,
            max,
            self.retry_after,
        )))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_validated() {
        let err = ConcurrencyLimit::builder("l").build().unwrap_err();
        assert_eq!(err.to_string(), "max_in_flight: must be set");
        let err = ConcurrencyLimit::builder("l")
            .max_in_flight(0)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "max_in_flight");
        assert!(err.to_string().starts_with("max_in_flight must be in [1, "));
        let err = ConcurrencyLimit::builder("l")
            .max_in_flight(1)
            .retry_after(Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "retry_after must be greater than zero, got 0ns"
        );
        let limit = ConcurrencyLimit::builder("l")
            .max_in_flight(3)
            .hold_until_body_end()
            .build()
            .unwrap();
        assert_eq!(limit.max_in_flight(), 3);
        assert_eq!(limit.retry_after(), DEFAULT_RETRY_AFTER);
        assert_eq!(limit.name(), "l");
    }
}
