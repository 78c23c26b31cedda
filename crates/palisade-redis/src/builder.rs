//! [`RedisConnectionBuilder`]: validated configuration of a [`RedisConnection`].

use std::sync::Arc;
use std::time::Duration;

use palisade_breaker::CircuitBreaker;
use palisade_core::ConfigError;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::RedisConnection;
use crate::gate::Gate;
use crate::readiness::{Readiness, connect};
use crate::state::ConnectionState;

/// Default per-operation timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);
/// Default connection timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Configures a [`RedisConnection`]; made by [`RedisConnection::builder`].
///
/// **Required**: a [`name`](Self::name) (the label of its breaker and log
/// events). Zero for `timeout` or `connect_timeout` is a [`ConfigError`]
/// (`timeout must be greater than zero, got 0ns`); `Duration::MAX` means
/// "no limit".
#[derive(Debug)]
#[must_use = "a builder does nothing until `.build()`"]
pub struct RedisConnectionBuilder {
    url: String,
    name: Option<Arc<str>>,
    timeout: Duration,
    connect_timeout: Duration,
    breaker: Option<CircuitBreaker>,
}

impl RedisConnectionBuilder {
    pub(crate) fn new(url: String) -> Self {
        Self {
            url,
            name: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            breaker: None,
        }
    }

    /// The name of what uses the connection (required): the `name` of its
    /// log events and, with `-redis` appended, of its default breaker.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The longest any single operation may take before it counts as a
    /// failure (default 50 ms). Must be greater than zero.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest a connection attempt may take (default 1 s). Must be
    /// greater than zero.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The circuit breaker that decides when Redis is skipped. By default:
    /// open after 5 consecutive failures (errors or timeouts), probe again
    /// after 1 s.
    pub fn breaker(mut self, breaker: CircuitBreaker) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Validates the configuration and starts connecting in the background.
    /// Returns at once: it never waits for Redis.
    ///
    /// An unreachable Redis is **not** an error: the connection reports
    /// itself [unavailable](RedisConnection::available) until Redis first
    /// answers (a warning is logged). To wait for it, await
    /// [`RedisConnection::connected`].
    ///
    /// Must be called within a tokio runtime (it starts the connector task,
    /// which ends when Redis first answers or the last clone is dropped).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for `name` (missing), `url` (malformed), `timeout` or
    /// `connect_timeout` (zero).
    pub fn build(self) -> Result<RedisConnection, ConfigError> {
        let Some(name) = self.name else {
            return Err(ConfigError::required("name"));
        };
        if self.timeout.is_zero() {
            return Err(ConfigError::new(
                "timeout",
                "greater than zero",
                self.timeout,
            ));
        }
        if self.connect_timeout.is_zero() {
            return Err(ConfigError::new(
                "connect_timeout",
                "greater than zero",
                self.connect_timeout,
            ));
        }
        let client = redis::Client::open(self.url.as_str()).map_err(|e| {
            ConfigError::custom("url", format_args!("not a usable Redis URL ({e})"))
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(None)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| ConfigError::custom("url", e))?;
        let breaker = match self.breaker {
            Some(breaker) => breaker,
            None => CircuitBreaker::builder(format!("{name}-redis"))
                .consecutive_failures(5)
                .open_wait(Duration::from_secs(1))
                .build()?,
        };
        // Connect in the background: `build` never waits for Redis, and the
        // connection reports itself unavailable until Redis first answers.
        let readiness = Arc::new(Readiness::default());
        let connector = tokio::spawn(connect(
            conn.clone(),
            Arc::clone(&readiness),
            Arc::clone(&name),
            self.connect_timeout,
        ));
        Ok(RedisConnection {
            state: Arc::new(ConnectionState {
                name,
                client,
                conn,
                timeout: self.timeout,
                connect_timeout: self.connect_timeout,
                breaker,
                gate: Gate::new(),
                readiness,
                connector: connector.abort_handle(),
            }),
        })
    }
}
