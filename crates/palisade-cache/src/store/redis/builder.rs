//! [`RedisStoreBuilder`]: validated configuration of a [`RedisStore`].

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use palisade_breaker::CircuitBreaker;
use palisade_core::ConfigError;
use palisade_redis::RedisConnection;

use super::subscriber::{Sinks, Subscriber};
use super::{Keys, RedisStore, Shared, stats::Counters};

const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_NAMESPACE_LEN: usize = 128;

/// Configures a [`RedisStore`]; made by [`RedisStore::builder`].
///
/// **Required**: a [`namespace`](Self::namespace); without one, `build()`
/// fails with `namespace: must be set (...)`. Zero for `timeout` or
/// `connect_timeout` is a [`ConfigError`] (`timeout must be greater than
/// zero, got 0ns`); `Duration::MAX` means "no limit".
///
/// ```no_run
/// # async fn run() -> Result<(), palisade_core::ConfigError> {
/// use std::time::Duration;
/// use palisade_cache::RedisStore;
///
/// let l2 = RedisStore::builder("redis://127.0.0.1:6379")
///     .namespace("users")
///     .timeout(Duration::from_millis(50))
///     .build()
///     .await?;
/// # drop(l2);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until `.build().await`"]
pub struct RedisStoreBuilder {
    url: String,
    namespace: Option<String>,
    timeout: Duration,
    connect_timeout: Duration,
    breaker: Option<CircuitBreaker>,
}

impl RedisStoreBuilder {
    pub(super) fn new(url: String) -> Self {
        Self {
            url,
            namespace: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            breaker: None,
        }
    }

    /// The namespace (required): the prefix of every key this store touches
    /// (`palisade:<namespace>:`) and its purge channel. Replicas that should
    /// share entries use the same namespace; 1 to 128 bytes, no whitespace
    /// or control characters.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// The longest any single Redis operation may take before it counts as
    /// a miss (default 50 ms). Must be greater than zero.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest a connection attempt may take: at build time and for
    /// the purge subscription (default 1 s). Must be greater than zero.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The circuit breaker that decides when Redis is skipped. By default:
    /// open after 5 consecutive failures (errors or timeouts), probe again
    /// after 1 s. While it is open, lookups and writes cost nothing and
    /// count as `skipped`.
    pub fn breaker(mut self, breaker: CircuitBreaker) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Validates the configuration and starts the store. Returns at once:
    /// it never waits for Redis.
    ///
    /// A malformed URL, a missing or invalid namespace, or a zero timeout is
    /// a [`ConfigError`] naming the field. An unreachable Redis is **not**
    /// an error: the store connects in the background and reports itself
    /// [unavailable](crate::store::L2Store::available) until Redis first
    /// answers (caches skip it meanwhile: every lookup is an L1 miss going
    /// to the inner service, counted as `skipped`; a warning is logged), so
    /// a Redis outage never stops or slows the application's start. To
    /// start only once the L2 is there, await
    /// [`RedisStore::connected`].
    ///
    /// Must be called within a tokio runtime (it starts the connection and
    /// purge subscriber tasks, which end when the last clone of the store
    /// is dropped).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for `url`, `namespace`, `timeout` or `connect_timeout`.
    pub async fn build(self) -> Result<RedisStore, ConfigError> {
        let namespace = validate_namespace(self.namespace)?;
        // `palisade-redis` validates `timeout`, `connect_timeout` and `url`
        // (in that order, with those field names) and connects in the
        // background: `build` never waits for Redis, and the store reports
        // itself unavailable until Redis first answers.
        let namespace: Arc<str> = namespace.into();
        // (The default breaker's fixed settings never fail to build.)
        let breaker = match self.breaker {
            Some(breaker) => breaker,
            None => CircuitBreaker::builder(format!("{namespace}-l2"))
                .consecutive_failures(5)
                .open_wait(Duration::from_secs(1))
                .build()?,
        };
        let redis = RedisConnection::builder(self.url)
            .name(Arc::clone(&namespace))
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .breaker(breaker)
            .build()?;

        let keys = Keys::new(&namespace);
        let counters = Arc::new(Counters::new(&namespace));
        let sinks = Arc::new(Sinks::default());
        let origin = fastrand::u64(..);
        let subscriber = Subscriber {
            client: redis.client().clone(),
            namespace: namespace.clone(),
            channel: keys.channel().to_owned(),
            origin,
            connect_timeout: self.connect_timeout,
            sinks: sinks.clone(),
            counters: counters.clone(),
        };
        let task = tokio::spawn(subscriber.run());

        Ok(RedisStore {
            shared: Arc::new(Shared {
                namespace,
                redis,
                keys,
                origin,
                sinks,
                counters,
                writes_in_flight: AtomicUsize::new(0),
                subscriber: task.abort_handle(),
            }),
        })
    }
}

fn validate_namespace(namespace: Option<String>) -> Result<String, ConfigError> {
    let Some(namespace) = namespace else {
        return Err(ConfigError::custom(
            "namespace",
            "must be set (the key prefix and purge channel shared by replicas)",
        ));
    };
    if namespace.is_empty()
        || namespace.len() > MAX_NAMESPACE_LEN
        || namespace
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ConfigError::new(
            "namespace",
            "1 to 128 bytes without whitespace or control characters",
            namespace,
        ));
    }
    Ok(namespace)
}
