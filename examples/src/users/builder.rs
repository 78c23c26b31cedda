//! [`UsersServiceBuilder`]: the validated settings of the users service.

use std::time::Duration;

use palisade::core::ConfigError;

/// Validated settings, from [`UsersServiceBuilder::build`]; start a service
/// with them through [`UsersService::start`](super::UsersService::start).
#[derive(Debug, Clone)]
pub struct Settings {
    pub(crate) database_url: Option<String>,
    pub(crate) redis_url: Option<String>,
    pub(crate) table: String,
    pub(crate) seed: u64,
    pub(crate) request_deadline: Duration,
    pub(crate) db_deadline: Duration,
    pub(crate) query_timeout: Duration,
    pub(crate) breaker_open_wait: Duration,
    pub(crate) rate_per_client: u32,
    pub(crate) burst_per_client: u32,
    pub(crate) min_limit: usize,
    pub(crate) max_limit: usize,
    pub(crate) drain: Duration,
}

impl Settings {
    /// The table the users live in.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The longest a request may take before it is answered 504.
    pub fn request_deadline(&self) -> Duration {
        self.request_deadline
    }

    /// The longest a user lookup may take.
    pub fn db_deadline(&self) -> Duration {
        self.db_deadline
    }

    /// The longest graceful shutdown waits for requests in flight.
    pub fn drain(&self) -> Duration {
        self.drain
    }
}

/// Configures the users service; from [`UsersService::builder`](super::UsersService::builder).
///
/// Nothing is required. Defaults: embedded SQLite, no Redis, table `palisade_users`,
/// 10,000 seeded users, a 1 s request deadline, 250 ms for a user lookup
/// and 2 s for one query, breakers open for 2 s, 50 requests a second per
/// client (burst 25), an adaptive concurrency limit (Gradient2) between 20
/// and 200, and a 5 s drain on shutdown.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `.build()`"]
pub struct UsersServiceBuilder {
    settings: Settings,
}

impl Default for UsersServiceBuilder {
    fn default() -> Self {
        Self {
            settings: Settings {
                database_url: None,
                redis_url: None,
                table: "palisade_users".to_owned(),
                seed: 10_000,
                request_deadline: Duration::from_secs(1),
                db_deadline: Duration::from_millis(250),
                query_timeout: Duration::from_secs(2),
                breaker_open_wait: Duration::from_secs(2),
                rate_per_client: 50,
                burst_per_client: 25,
                min_limit: 20,
                max_limit: 200,
                drain: Duration::from_secs(5),
            },
        }
    }
}

impl UsersServiceBuilder {
    /// PostgreSQL to use (`postgres://...`); `None` (the default) for the
    /// embedded in-memory SQLite.
    pub fn database_url(mut self, url: Option<String>) -> Self {
        self.settings.database_url = url;
        self
    }

    /// Redis for the cache's second tier (`redis://...`); used when it
    /// answers at start-up. `None` (the default): L1 only.
    pub fn redis_url(mut self, url: Option<String>) -> Self {
        self.settings.redis_url = url;
        self
    }

    /// The users table (also the Redis namespace), created and seeded if
    /// missing: 1 to 48 lowercase letters, digits and `_`, starting with a
    /// letter. Tests give each run its own.
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.settings.table = table.into();
        self
    }

    /// Users seeded into a new table (at least 1).
    pub fn seed(mut self, users: u64) -> Self {
        self.settings.seed = users;
        self
    }

    /// The deadline of every request (504 past it), unless the request asks
    /// for less (`grpc-timeout`, or `x-request-timeout-ms`).
    pub fn request_deadline(mut self, deadline: Duration) -> Self {
        self.settings.request_deadline = deadline;
        self
    }

    /// The longest a user lookup (cache, breaker, batch, query) may take.
    pub fn db_deadline(mut self, deadline: Duration) -> Self {
        self.settings.db_deadline = deadline;
        self
    }

    /// The longest one SQL query may take before it counts as a failure
    /// for the database breaker.
    pub fn query_timeout(mut self, timeout: Duration) -> Self {
        self.settings.query_timeout = timeout;
        self
    }

    /// How long the database and recommendations breakers stay open before
    /// probing again.
    pub fn breaker_open_wait(mut self, wait: Duration) -> Self {
        self.settings.breaker_open_wait = wait;
        self
    }

    /// The rate limit of each client (`x-client-id`): `rate` requests a
    /// second after a burst of `burst`.
    pub fn rate_per_client(mut self, rate: u32, burst: u32) -> Self {
        self.settings.rate_per_client = rate;
        self.settings.burst_per_client = burst;
        self
    }

    /// The bounds of the adaptive concurrency limit (it starts at `min`).
    pub fn concurrency(mut self, min: usize, max: usize) -> Self {
        self.settings.min_limit = min;
        self.settings.max_limit = max;
        self
    }

    /// The longest graceful shutdown waits for requests in flight.
    pub fn drain(mut self, drain: Duration) -> Self {
        self.settings.drain = drain;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad field: a table name that is
    /// not a plain identifier, no users to seed, a zero duration or rate, or
    /// concurrency bounds out of order.
    pub fn build(self) -> Result<Settings, ConfigError> {
        let s = self.settings;
        let t = s.table.as_bytes();
        let plain = !t.is_empty()
            && t.len() <= 48
            && t[0].is_ascii_lowercase()
            && t.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_');
        if !plain {
            return Err(ConfigError::new(
                "table",
                "1 to 48 lowercase letters, digits or _ starting with a letter",
                &s.table,
            ));
        }
        if s.seed == 0 {
            return Err(ConfigError::new("seed", "at least 1", 0));
        }
        for (field, d) in [
            ("request_deadline", s.request_deadline),
            ("db_deadline", s.db_deadline),
            ("query_timeout", s.query_timeout),
            ("breaker_open_wait", s.breaker_open_wait),
            ("drain", s.drain),
        ] {
            if d.is_zero() {
                return Err(ConfigError::new(field, "greater than zero", d));
            }
        }
        if s.rate_per_client == 0 {
            return Err(ConfigError::new("rate_per_client", "at least 1", 0));
        }
        if s.burst_per_client == 0 {
            return Err(ConfigError::new("burst_per_client", "at least 1", 0));
        }
        if s.min_limit == 0 {
            return Err(ConfigError::new("concurrency min", "at least 1", 0));
        }
        if s.max_limit < s.min_limit {
            return Err(ConfigError::new(
                "concurrency max",
                format!("at least the min ({})", s.min_limit),
                s.max_limit,
            ));
        }
        for (field, url, scheme) in [
            ("database_url", &s.database_url, "postgres"),
            ("redis_url", &s.redis_url, "redis"),
        ] {
            if let Some(url) = url
                && !(url.starts_with(&format!("{scheme}://"))
                    || (scheme == "postgres" && url.starts_with("postgresql://")))
            {
                return Err(ConfigError::new(field, format!("a {scheme}:// URL"), url));
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_name_their_field() {
        let err = |b: UsersServiceBuilder| b.build().unwrap_err().to_string();
        assert!(
            err(UsersServiceBuilder::default().table("users; drop")).starts_with("table must be")
        );
        assert_eq!(
            err(UsersServiceBuilder::default().seed(0)),
            "seed must be at least 1, got 0"
        );
        assert!(
            err(UsersServiceBuilder::default().concurrency(50, 10)).starts_with("concurrency max")
        );
        assert!(
            err(UsersServiceBuilder::default().database_url(Some("mysql://x".into())))
                .starts_with("database_url must be a postgres:// URL")
        );
        assert!(
            UsersServiceBuilder::default()
                .table("users_t1")
                .build()
                .is_ok()
        );
    }
}
