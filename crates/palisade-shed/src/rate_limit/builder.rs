use super::{
    RateLimit, Unkeyed,
    state::{Settings, State},
};
#[cfg(feature = "redis")]
use super::{cluster::ClusterLimiter, cluster_key::ClusterKey};
use palisade_core::ConfigError;
use std::{hash::Hash, marker::PhantomData, sync::Arc, time::Duration};

/// Makes the Redis side of a cluster-wide limit for the key type `K`
/// (captured by [`RateLimitBuilder::redis`], where `K: ClusterKey` is known).
#[cfg(feature = "redis")]
type MakeCluster<K> =
    fn(palisade_redis::RedisConnection, &str, &str, Duration, u32) -> ClusterLimiter<K>;

/// The cluster-mode settings of a builder.
#[cfg(feature = "redis")]
struct ClusterSettings<K> {
    redis: palisade_redis::RedisConnection,
    /// `None` when `redis` was set before `key`, whose key type it cannot know.
    make: Option<MakeCluster<K>>,
}

/// Builds a [`RateLimit`]; from [`RateLimit::builder`].
///
/// `rate` requests per `period` (default 1 s) are allowed in steady state,
/// up to `burst` at once (default: `rate`). Without [`key`](Self::key) the
/// whole limit is one bucket; with it, each key has its own.
#[must_use]
pub struct RateLimitBuilder<F = Unkeyed, K = ()> {
    name: Arc<str>,
    rate: Option<u32>,
    period: Duration,
    burst: Option<u32>,
    max_keys: usize,
    sweep_interval: Duration,
    key: F,
    keyed: bool,
    replicas: Option<u32>,
    redis_prefix: String,
    #[cfg(feature = "redis")]
    cluster: Option<ClusterSettings<K>>,
    _key: PhantomData<fn() -> K>,
}

/// The prefix of every Redis key of a cluster-wide limit, unless set with
/// `redis_prefix`: buckets are `<prefix><name>:<key>`.
pub const DEFAULT_REDIS_PREFIX: &str = "palisade:rate:";

impl<F, K> std::fmt::Debug for RateLimitBuilder<F, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitBuilder")
            .field("name", &self.name)
            .field("rate", &self.rate)
            .field("period", &self.period)
            .field("burst", &self.burst)
            .field("max_keys", &self.max_keys)
            .field("sweep_interval", &self.sweep_interval)
            .field("replicas", &self.replicas)
            .field("redis_prefix", &self.redis_prefix)
            .finish_non_exhaustive()
    }
}

/// Keys a keyed limit holds at most, unless set with `max_keys`.
pub const DEFAULT_MAX_KEYS: usize = 100_000;
/// How often a keyed limit drops stale keys, unless set with `sweep_interval`.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(10);

impl RateLimitBuilder {
    pub(crate) fn new(name: Arc<str>) -> Self {
        Self {
            name,
            rate: None,
            period: Duration::from_secs(1),
            burst: None,
            max_keys: DEFAULT_MAX_KEYS,
            sweep_interval: DEFAULT_SWEEP_INTERVAL,
            key: Unkeyed,
            keyed: false,
            replicas: None,
            redis_prefix: DEFAULT_REDIS_PREFIX.to_owned(),
            #[cfg(feature = "redis")]
            cluster: None,
            _key: PhantomData,
        }
    }
}

impl<F, K> RateLimitBuilder<F, K> {
    /// Steady-state requests per `period` (required, at least 1).
    pub fn rate(mut self, requests: u32) -> Self {
        self.rate = Some(requests);
        self
    }

    /// The period `rate` is counted over (default 1 s; `rate(100).period(60 s)` is 100 a minute).
    pub fn period(mut self, period: Duration) -> Self {
        self.period = period;
        self
    }

    /// Requests allowed at once after a quiet spell (default: `rate`, at least 1).
    pub fn burst(mut self, requests: u32) -> Self {
        self.burst = Some(requests);
        self
    }

    /// Keys held at most by a keyed limit (default 100 000). Once the table
    /// is full, new keys share one overflow bucket (one key's quota for all
    /// of them) until stale keys are swept out.
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// How often a keyed limit drops the keys whose bucket has refilled
    /// (default 10 s). The sweep runs as a short tokio task, started by the
    /// first request that finds it due.
    pub fn sweep_interval(mut self, interval: Duration) -> Self {
        self.sweep_interval = interval;
        self
    }

    /// How many replicas share a cluster-wide limit (required with
    /// [`redis`](Self::redis), at least 1). While Redis is down or slow each
    /// replica limits locally to `1 / replicas` of the rate and of the burst
    /// (at least 1), so the cluster as a whole stays near the configured
    /// limit.
    pub fn replicas(mut self, replicas: u32) -> Self {
        self.replicas = Some(replicas);
        self
    }

    /// The prefix of the limit's Redis keys (default
    /// [`DEFAULT_REDIS_PREFIX`], `palisade:rate:`); buckets are
    /// `<prefix><name>:<key>`. 1 to 128 bytes, no whitespace or control
    /// characters.
    pub fn redis_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.redis_prefix = prefix.into();
        self
    }

    /// Limits each key on its own: `key` maps a request to its key (client
    /// IP, API key, route...). Annotate the request type in the closure.
    ///
    /// ```
    /// use http::Request;
    /// use palisade_shed::RateLimit;
    ///
    /// let limit = RateLimit::builder("per-client")
    ///     .rate(10)
    ///     .key(|req: &Request<()>| {
    ///         req.headers().get("x-api-key").map(|v| v.as_bytes().to_vec())
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # drop(limit);
    /// ```
    pub fn key<Req, K2, F2>(self, key: F2) -> RateLimitBuilder<F2, K2>
    where
        F2: Fn(&Req) -> K2 + Clone + Send + Sync + 'static,
        K2: Hash + Eq + Clone + Send + Sync + 'static,
    {
        RateLimitBuilder {
            name: self.name,
            rate: self.rate,
            period: self.period,
            burst: self.burst,
            max_keys: self.max_keys,
            sweep_interval: self.sweep_interval,
            key,
            keyed: true,
            replicas: self.replicas,
            redis_prefix: self.redis_prefix,
            #[cfg(feature = "redis")]
            cluster: self.cluster.map(|c| ClusterSettings {
                redis: c.redis,
                make: None,
            }),
            _key: PhantomData,
        }
    }
}

#[cfg(feature = "redis")]
impl<F, K: ClusterKey> RateLimitBuilder<F, K> {
    /// Makes the limit cluster-wide (feature `redis`): every replica built
    /// with the same name, prefix and Redis shares one GCRA bucket per key,
    /// kept in Redis and updated by one atomic script per request (one
    /// round trip, `EVALSHA`, loading the script on `NOSCRIPT`). Set it
    /// after [`key`](Self::key), and set [`replicas`](Self::replicas).
    ///
    /// The script reads **Redis's clock** (`TIME`), not the replica's: one
    /// clock for every replica, so skew between hosts cannot change the
    /// limit (tokio's paused clock does not apply to the Redis buckets).
    ///
    /// **Redis down or slow** never fails a request: when the connection is
    /// not up yet, its breaker is open, or a check errs or outlasts the
    /// connection's timeout, this replica's local limiter decides, with its
    /// share of the limit (see [`replicas`](Self::replicas)). Once the
    /// breaker lets a probe through and it succeeds, Redis decides again.
    pub fn redis(mut self, redis: palisade_redis::RedisConnection) -> Self {
        self.cluster = Some(ClusterSettings {
            redis,
            make: Some(ClusterLimiter::<K>::new),
        });
        self
    }
}

impl<F: Clone, K: Hash + Eq + Clone + Send + Sync + 'static> RateLimitBuilder<F, K> {
    /// Validates the settings and builds the shared limiter.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field: `rate` missing or 0, `period` 0,
    /// `burst` 0, `period / rate` under 1 ns, `max_keys` 0, `sweep_interval`
    /// 0; with `redis`: `replicas` missing or 0, `period / rate` under 1 µs,
    /// `redis_prefix` empty, too long or with whitespace, `redis` set before
    /// `key`; `replicas` without `redis`.
    pub fn build(self) -> Result<RateLimit<F, K>, ConfigError> {
        let rate = match self.rate {
            None => {
                return Err(ConfigError::custom(
                    "rate",
                    "is required (requests per period)",
                ));
            }
            Some(0) => return Err(ConfigError::new("rate", "at least 1", 0u32)),
            Some(r) => r,
        };
        if self.period.is_zero() {
            return Err(ConfigError::new("period", "greater than zero", self.period));
        }
        if (self.period / rate).is_zero() {
            return Err(ConfigError::new(
                "rate",
                "at most one request per nanosecond of period",
                rate,
            ));
        }
        let burst = self.burst.unwrap_or(rate);
        if burst == 0 {
            return Err(ConfigError::new("burst", "at least 1", 0u32));
        }
        if self.max_keys == 0 {
            return Err(ConfigError::new("max_keys", "at least 1", 0usize));
        }
        if self.sweep_interval.is_zero() {
            return Err(ConfigError::new(
                "sweep_interval",
                "greater than zero",
                self.sweep_interval,
            ));
        }
        let replicas = self.validate_cluster(rate)?;
        let settings = Settings {
            rate,
            period: self.period,
            burst,
            max_keys: self.max_keys,
            sweep_interval: self.sweep_interval,
            replicas,
        };
        let state = State::new(Arc::clone(&self.name), settings, self.keyed);
        #[cfg(feature = "redis")]
        let state = match self.cluster {
            Some(ClusterSettings {
                redis,
                make: Some(make),
            }) => state.with_cluster(make(
                redis,
                &self.redis_prefix,
                &self.name,
                self.period / rate,
                burst,
            )),
            _ => state,
        };
        Ok(RateLimit::from_parts(Arc::new(state), self.key))
    }

    /// Checks the cluster settings; returns the replica count (1 without Redis).
    fn validate_cluster(&self, rate: u32) -> Result<u32, ConfigError> {
        #[cfg(feature = "redis")]
        let clustered = match &self.cluster {
            None => false,
            Some(ClusterSettings { make: None, .. }) => {
                return Err(ConfigError::custom(
                    "redis",
                    "must be set after `key(..)` (it needs the key type)",
                ));
            }
            Some(_) => true,
        };
        #[cfg(not(feature = "redis"))]
        let clustered = false;
        if !clustered {
            return match self.replicas {
                None => Ok(1),
                Some(_) => Err(ConfigError::custom(
                    "replicas",
                    "is only used with `redis(..)` (a cluster-wide limit)",
                )),
            };
        }
        let replicas = match self.replicas {
            None => return Err(ConfigError::required("replicas")),
            Some(0) => return Err(ConfigError::new("replicas", "at least 1", 0u32)),
            Some(n) => n,
        };
        if (self.period / rate) < Duration::from_micros(1) {
            return Err(ConfigError::new(
                "rate",
                "at most one request per microsecond of period with `redis`",
                rate,
            ));
        }
        let prefix = &self.redis_prefix;
        if prefix.is_empty()
            || prefix.len() > 128
            || prefix.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ConfigError::new(
                "redis_prefix",
                "1 to 128 bytes without whitespace or control characters",
                prefix,
            ));
        }
        Ok(replicas)
    }
}
