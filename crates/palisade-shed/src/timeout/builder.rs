//! [`TimeoutBuilder`].

use super::{HttpHeaders, Timeout, state::TimeoutSettings, telemetry::TimeoutTelemetry};
use http::HeaderName;
use palisade_core::ConfigError;
use palisade_core::lane::Lanes;
use std::{sync::Arc, time::Duration};

/// The longest timeout a builder accepts.
const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 86_400);

/// Builds a [`Timeout`]; made by [`Timeout::builder`].
///
/// One setting is required: [`timeout`](Self::timeout). Without it,
/// [`build`](Self::build) fails with `timeout: must be set`. Every other
/// setting has a default, given on its method.
#[derive(Debug, Clone)]
#[must_use = "call .build() to get the timeout"]
pub struct TimeoutBuilder<X = HttpHeaders> {
    name: Arc<str>,
    timeout: Option<Duration>,
    include_ready: bool,
    source: X,
}

impl TimeoutBuilder<HttpHeaders> {
    pub(crate) fn new(name: Arc<str>) -> Self {
        Self {
            name,
            timeout: None,
            include_ready: false,
            source: HttpHeaders::default(),
        }
    }
}

impl<X> TimeoutBuilder<X> {
    /// The most any request may take here (required; in (0, 365 days]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The deadline also bounds waiting for the inner service's readiness:
    /// the clock starts at the first `poll_ready` that has to wait, and a
    /// request whose deadline passes before the inner service is ready is
    /// rejected without being sent to it. Off by default (as in tower, the
    /// clock then starts in `call`).
    pub fn include_ready(mut self) -> Self {
        self.include_ready = true;
        self
    }

    /// Reads request deadlines with `source` instead: [`Ambient`](super::Ambient)
    /// for request types other than `http::Request`, or a
    /// [`DeadlineSource`](super::DeadlineSource) of your own.
    pub fn source<Y>(self, source: Y) -> TimeoutBuilder<Y> {
        TimeoutBuilder {
            name: self.name,
            timeout: self.timeout,
            include_ready: self.include_ready,
            source,
        }
    }

    /// Checks the configuration and builds the timeout.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming `timeout` when it was not set, is zero, or is
    /// longer than 365 days.
    pub fn build(self) -> Result<Timeout<X>, ConfigError> {
        let timeout = self
            .timeout
            .ok_or_else(|| ConfigError::custom("timeout", "must be set"))?;
        if timeout.is_zero() || timeout > MAX_TIMEOUT {
            return Err(ConfigError::new("timeout", "in (0s, 365 days]", timeout));
        }
        Ok(Timeout {
            settings: Arc::new(Lanes::new(TimeoutSettings {
                telemetry: TimeoutTelemetry::new(&self.name),
                name: self.name,
                timeout,
                include_ready: self.include_ready,
            })),
            source: self.source,
        })
    }
}

impl TimeoutBuilder<HttpHeaders> {
    /// Whether a `grpc-timeout` request header shortens the deadline
    /// (default `true`).
    pub fn honor_grpc_timeout(mut self, honor: bool) -> Self {
        self.source.grpc_timeout = honor;
        self
    }

    /// A request header holding the caller's budget in whole milliseconds
    /// (e.g. `x-request-timeout-ms`) that shortens the deadline.
    pub fn honor_header(mut self, name: HeaderName) -> Self {
        self.source.header = Some(name);
        self
    }

    /// Whether each request's [`Deadline`](super::Deadline) is also put
    /// into the request's extensions (default `true`).
    ///
    /// The handler and the calls it makes read the deadline with
    /// [`Deadline::current()`](super::Deadline::current) either way; the
    /// extension serves code that runs in the synchronous part of an inner
    /// service's `call`, and an inner Palisade timeout on the same request
    /// (which otherwise still ends no later than this one's timer). Turning
    /// it off saves the extension's allocation on every request.
    pub fn deadline_in_extensions(mut self, put: bool) -> Self {
        self.source.extensions = put;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_is_validated() {
        let err = Timeout::builder("t").build().unwrap_err();
        assert_eq!(err.field(), "timeout");
        assert_eq!(err.to_string(), "timeout: must be set");
        let err = Timeout::builder("t")
            .timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "timeout must be in (0s, 365 days], got 0ns"
        );
        let err = Timeout::builder("t")
            .timeout(Duration::MAX)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "timeout");
        let ok = Timeout::builder("t")
            .timeout(MAX_TIMEOUT)
            .include_ready()
            .build()
            .unwrap();
        assert!(ok.includes_ready());
        assert_eq!(ok.name(), "t");
    }

    #[test]
    fn propagate_layer_uses_the_configured_header() {
        let name = HeaderName::from_static("x-request-timeout-ms");
        let t = Timeout::builder("t")
            .timeout(Duration::from_secs(1))
            .honor_header(name.clone())
            .build()
            .unwrap();
        assert_eq!(t.propagate_layer().header_name(), Some(&name));
        assert!(t.source().honors_grpc_timeout());
        let t = Timeout::builder("t")
            .timeout(Duration::from_secs(1))
            .honor_grpc_timeout(false)
            .build()
            .unwrap();
        assert_eq!(t.propagate_layer().header_name(), None);
        assert!(!t.source().honors_grpc_timeout());
    }
}
