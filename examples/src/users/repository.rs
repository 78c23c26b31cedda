//! [`UserRepository`]: `GET /users/{id}`'s data path, made of Palisade parts:
//!
//! deadline → typed cache (L1, Redis L2) → circuit breaker → keyed loader
//! (50 keys or 5 ms) → one `WHERE id = ANY($1)` per batch.

use std::{collections::HashMap, time::Duration};

use palisade::{breaker::State as BreakerState, prelude::*, shed::timeout::Ambient};
use tower::{ServiceBuilder, ServiceExt, service_fn};

use super::{database::Database, user::User};

/// The repository's stack as one nameable, cloneable service.
pub type UserLookup = SharedStack<u64, Option<User>>;

/// L1 entries: the guideline's 1,000.
pub const L1_ENTRIES: u64 = 1_000;
/// How long a user stays fresh in L1 and L2: 5 minutes.
pub const FRESH_FOR: Duration = Duration::from_secs(5 * 60);
/// How long a cached user may still answer while the database fails; with
/// [`FRESH_FOR`] it makes the guideline's 1 h lifetime of an L2 entry.
pub const STALE_IF_ERROR: Duration = Duration::from_secs(55 * 60);
/// How long "no such user" is remembered.
pub const NOT_FOUND_FOR: Duration = Duration::from_secs(30);
/// A batch is sent when it holds this many keys...
pub const BATCH_KEYS: usize = 50;
/// ... or when its first key has waited this long.
pub const BATCH_WAIT: Duration = Duration::from_millis(5);

/// How a [`UserRepository`] is put together.
#[derive(Debug, Clone)]
pub struct RepositoryOptions {
    /// The longest a lookup may take (a 504 past it); an earlier deadline of
    /// the request wins.
    pub deadline: Duration,
    /// How long the database breaker stays open before it probes again.
    pub breaker_open_wait: Duration,
    /// Whether the typed cache sits in front (the batching figure turns it
    /// off, so every request reaches the database).
    pub cache: bool,
    /// Whether lookups are batched by the loader; without it each request
    /// makes its own query (the baseline of the batching figure).
    pub batching: bool,
    /// The shared second tier, when Redis answers.
    pub l2: Option<RedisStore>,
}

impl Default for RepositoryOptions {
    fn default() -> Self {
        Self {
            deadline: Duration::from_millis(250),
            breaker_open_wait: Duration::from_secs(2),
            cache: true,
            batching: true,
            l2: None,
        }
    }
}

/// Users by id, through the deadline, the cache, the breaker and the loader.
/// Cheap to clone; every clone shares all of them.
#[derive(Debug, Clone)]
pub struct UserRepository {
    lookup: UserLookup,
    cache: Cache<u64, Option<User>>,
    breaker: CircuitBreaker,
    loader: Loader,
    database: Database,
}

impl UserRepository {
    /// Builds the stack over `database`. Must run inside a tokio runtime
    /// (the loader starts its worker).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`](palisade::core::ConfigError) from one of the
    /// builders (a zero deadline or open wait).
    pub fn new(database: Database, options: RepositoryOptions) -> Result<Self, BoxError> {
        let timeout = Timeout::builder("users-repository")
            .timeout(options.deadline)
            .source(Ambient)
            .build()?;
        let mut cache = Cache::builder("users")
            .max_entries(L1_ENTRIES)
            .ttl(FRESH_FOR)
            .stale_if_error(STALE_IF_ERROR)
            .ttl_for(|user: &Option<User>| {
                Some(if user.is_some() {
                    FRESH_FOR
                } else {
                    NOT_FOUND_FOR
                })
            });
        if let Some(l2) = options.l2 {
            cache = cache.l2(l2);
        }
        let cache = cache.build()?;
        let breaker = CircuitBreaker::builder("users-db")
            .consecutive_failures(5)
            .open_wait(options.breaker_open_wait)
            .build()?;
        let loader = Loader::builder("users-batches")
            .max_size(BATCH_KEYS)
            .max_wait(BATCH_WAIT)
            .build()?;

        let db = database.clone();
        let bulk = service_fn(move |ids: Vec<u64>| {
            let db = db.clone();
            async move { db.users_by_id(ids).await }
        });
        let db = database.clone();
        let single = service_fn(move |id: u64| {
            let db = db.clone();
            async move {
                let mut found: HashMap<u64, User> = db.users_by_id(vec![id]).await?;
                Ok::<_, BoxError>(found.remove(&id))
            }
        });
        let below_cache: UserLookup = if options.batching {
            share(
                ServiceBuilder::new()
                    .circuit_breaker(&breaker)
                    .load(&loader)
                    .service(bulk),
            )
        } else {
            share(
                ServiceBuilder::new()
                    .circuit_breaker(&breaker)
                    .service(single),
            )
        };
        let lookup: UserLookup = if options.cache {
            share(
                ServiceBuilder::new()
                    .deadline(&timeout)
                    .cache(&cache, |id: &u64| Some(*id))
                    .service(below_cache),
            )
        } else {
            share(
                ServiceBuilder::new()
                    .deadline(&timeout)
                    .service(below_cache),
            )
        };
        Ok(Self {
            lookup,
            cache,
            breaker,
            loader,
            database,
        })
    }

    /// One user (`None`: no such user).
    ///
    /// # Errors
    ///
    /// A [`Rejected`](palisade::core::Rejected) (deadline passed: 504;
    /// breaker open: 503 with `Retry-After`) or the database's error.
    pub async fn user(&self, id: u64) -> Result<Option<User>, BoxError> {
        self.lookup.clone().oneshot(id).await
    }

    /// The stack itself, for handlers that keep it in axum `State`.
    pub fn lookup(&self) -> &UserLookup {
        &self.lookup
    }

    /// The typed cache (stats, invalidation).
    pub fn cache(&self) -> &Cache<u64, Option<User>> {
        &self.cache
    }

    /// The database breaker.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// The database breaker's state now.
    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    /// The loader (queue and batches in flight).
    pub fn loader(&self) -> &Loader {
        &self.loader
    }

    /// The database below it all.
    pub fn database(&self) -> &Database {
        &self.database
    }
}
