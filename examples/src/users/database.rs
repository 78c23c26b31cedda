//! [`Database`]: the users table in PostgreSQL (through a `sqlx` pool with the
//! guideline numbers) or in an embedded in-memory SQLite, with the one bulk
//! query the [`UserRepository`](super::UserRepository) batches lookups into.

use std::{
    collections::HashMap,
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use sqlx::{
    PgPool, Row, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqlitePoolOptions},
};
use tower::BoxError;

use super::user::User;

/// The pool settings of the guidelines: 5 to 20 connections, 30 s to
/// acquire one, closed after 300 s idle, pinged before each acquire.
pub const MIN_CONNECTIONS: u32 = 5;
/// The most connections the pool opens.
pub const MAX_CONNECTIONS: u32 = 20;
/// How long a caller may wait for a connection.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an unused connection stays open.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Where the users live.
#[derive(Debug, Clone)]
enum Pool {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// What the database has been asked, for the tests, the report and the
/// batching figure. Counters only grow.
#[derive(Debug, Default)]
struct Counters {
    queries: AtomicU64,
    ids: AtomicU64,
    failures: AtomicU64,
}

/// A snapshot of a [`Database`]'s counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DatabaseStats {
    /// Bulk lookup queries sent (one per batch).
    pub queries: u64,
    /// Ids asked for over all those queries.
    pub ids: u64,
    /// Lookups that failed (an error, or longer than the query timeout).
    pub failures: u64,
}

/// The users table and the bulk lookup on it. Cheap to clone: every clone
/// shares the pool, the counters and the slow-down switch.
#[derive(Debug, Clone)]
pub struct Database {
    pool: Pool,
    table: Arc<str>,
    counters: Arc<Counters>,
    slow_ms: Arc<AtomicU64>,
    query_timeout: Duration,
}

impl Database {
    /// Connects to `url` (`postgres://...`) with the guideline pool, or, when
    /// `url` is `None`, opens an embedded in-memory SQLite database. Creates
    /// `table` and seeds `seed` users into it when they are missing.
    ///
    /// `table` must be a plain identifier (letters, digits, `_`); callers
    /// validate it (see [`UsersServiceBuilder::table`](super::UsersServiceBuilder::table)).
    ///
    /// # Errors
    ///
    /// The connection or the schema statements failed.
    pub async fn open(
        url: Option<&str>,
        table: &str,
        seed: u64,
        query_timeout: Duration,
    ) -> Result<Self, BoxError> {
        let pool = match url {
            Some(url) => Pool::Postgres(
                PgPoolOptions::new()
                    .min_connections(MIN_CONNECTIONS)
                    .max_connections(MAX_CONNECTIONS)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .idle_timeout(Some(IDLE_TIMEOUT))
                    .test_before_acquire(true)
                    .connect(url)
                    .await?,
            ),
            None => {
                // `sqlite::memory:` gives this pool one private in-memory
                // database shared by its connections; it lives while one of
                // them is open, so none is ever closed for being idle.
                let options = SqliteConnectOptions::from_str("sqlite::memory:")?;
                Pool::Sqlite(
                    SqlitePoolOptions::new()
                        .min_connections(MIN_CONNECTIONS)
                        .max_connections(MAX_CONNECTIONS)
                        .acquire_timeout(ACQUIRE_TIMEOUT)
                        .idle_timeout(None)
                        .max_lifetime(None)
                        .test_before_acquire(true)
                        .connect_with(options)
                        .await?,
                )
            }
        };
        let db = Self {
            pool,
            table: table.into(),
            counters: Arc::default(),
            slow_ms: Arc::default(),
            query_timeout,
        };
        db.create_and_seed(seed).await?;
        Ok(db)
    }

    async fn create_and_seed(&self, seed: u64) -> Result<(), BoxError> {
        let t = &self.table;
        let seed = i64::try_from(seed)?;
        match &self.pool {
            Pool::Postgres(pool) => {
                sqlx::query(&format!(
                    "CREATE TABLE IF NOT EXISTS {t} (id BIGINT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL)"
                ))
                .execute(pool)
                .await?;
                sqlx::query(&format!(
                    "INSERT INTO {t} (id, name, email) \
                     SELECT g, 'user-' || g, 'user' || g || '@example.com' FROM generate_series(1, $1::BIGINT) g \
                     ON CONFLICT (id) DO NOTHING"
                ))
                .bind(seed)
                .execute(pool)
                .await?;
            }
            Pool::Sqlite(pool) => {
                sqlx::query(&format!(
                    "CREATE TABLE IF NOT EXISTS {t} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL)"
                ))
                .execute(pool)
                .await?;
                sqlx::query(&format!(
                    "WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < ?1) \
                     INSERT OR IGNORE INTO {t} (id, name, email) \
                     SELECT x, 'user-' || x, 'user' || x || '@example.com' FROM seq"
                ))
                .bind(seed)
                .execute(pool)
                .await?;
            }
        }
        Ok(())
    }

    /// Looks up `ids` in ONE query (`WHERE id = ANY($1)` on PostgreSQL,
    /// `WHERE id IN (...)` on SQLite); ids not found are absent from the map.
    /// A lookup longer than the query timeout fails (and its connection goes
    /// back to the pool or is closed).
    ///
    /// # Errors
    ///
    /// The query failed or took too long.
    pub async fn users_by_id(&self, ids: Vec<u64>) -> Result<HashMap<u64, User>, BoxError> {
        self.counters.queries.fetch_add(1, Ordering::Relaxed);
        self.counters
            .ids
            .fetch_add(ids.len() as u64, Ordering::Relaxed);
        let result = tokio::time::timeout(self.query_timeout, self.query(ids)).await;
        match result {
            Ok(Ok(users)) => Ok(users),
            Ok(Err(e)) => {
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
            Err(_) => {
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
                Err("database query timed out".into())
            }
        }
    }

    async fn query(&self, ids: Vec<u64>) -> Result<HashMap<u64, User>, BoxError> {
        let ids: Vec<i64> = ids
            .into_iter()
            .filter_map(|id| i64::try_from(id).ok())
            .collect();
        let slow = self.slow_ms.load(Ordering::Relaxed);
        let t = &self.table;
        // The rows of either database into users (one shape, two row types).
        macro_rules! users_from {
            ($rows:expr) => {{
                let rows = $rows;
                let mut users = HashMap::with_capacity(rows.len());
                for row in rows {
                    let id: i64 = row.try_get("id")?;
                    let id = u64::try_from(id)?;
                    let user = User {
                        id,
                        name: row.try_get("name")?,
                        email: row.try_get("email")?,
                    };
                    users.insert(id, user);
                }
                users
            }};
        }
        let users = match &self.pool {
            Pool::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                if slow > 0 {
                    // The database itself is slow: the connection is busy
                    // for that long, as with a lock or a bad plan.
                    sqlx::query("SELECT pg_sleep($1)")
                        .bind(slow as f64 / 1000.0)
                        .execute(&mut *conn)
                        .await?;
                }
                users_from!(
                    sqlx::query(&format!(
                        "SELECT id, name, email FROM {t} WHERE id = ANY($1)"
                    ))
                    .bind(&ids)
                    .fetch_all(&mut *conn)
                    .await?
                )
            }
            Pool::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                if slow > 0 {
                    // SQLite has no sleep function: hold the connection.
                    tokio::time::sleep(Duration::from_millis(slow)).await;
                }
                let placeholders = vec!["?"; ids.len()].join(",");
                let sql = format!("SELECT id, name, email FROM {t} WHERE id IN ({placeholders})");
                let mut query = sqlx::query(&sql);
                for id in &ids {
                    query = query.bind(*id);
                }
                users_from!(query.fetch_all(&mut *conn).await?)
            }
        };
        Ok(users)
    }

    /// A cheap round trip (`SELECT 1`), for the health check.
    ///
    /// # Errors
    ///
    /// The database did not answer.
    pub async fn ping(&self) -> Result<(), BoxError> {
        match &self.pool {
            Pool::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await?,
            Pool::Sqlite(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
                return Ok(());
            }
        };
        Ok(())
    }

    /// Makes every lookup take `delay` longer (zero: back to normal): the
    /// database slowing down, for the scripted day and the tests.
    pub fn set_slow(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.slow_ms.store(ms, Ordering::Relaxed);
    }

    /// The extra delay of each lookup now.
    pub fn slow(&self) -> Duration {
        Duration::from_millis(self.slow_ms.load(Ordering::Relaxed))
    }

    /// `"postgres"` or `"sqlite (in memory)"`.
    pub fn kind(&self) -> &'static str {
        match self.pool {
            Pool::Postgres(_) => "postgres",
            Pool::Sqlite(_) => "sqlite (in memory)",
        }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Connections open and connections in use right now.
    pub fn pool_usage(&self) -> (u32, u32) {
        let (size, idle) = match &self.pool {
            Pool::Postgres(p) => (p.size(), p.num_idle()),
            Pool::Sqlite(p) => (p.size(), p.num_idle()),
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX);
        (size, size.saturating_sub(idle))
    }

    /// The counters so far.
    pub fn stats(&self) -> DatabaseStats {
        DatabaseStats {
            queries: self.counters.queries.load(Ordering::Relaxed),
            ids: self.counters.ids.load(Ordering::Relaxed),
            failures: self.counters.failures.load(Ordering::Relaxed),
        }
    }

    /// Drops the table (tests clean up their per-test tables with it).
    ///
    /// # Errors
    ///
    /// The statement failed.
    pub async fn drop_table(&self) -> Result<(), BoxError> {
        let sql = format!("DROP TABLE IF EXISTS {}", self.table);
        match &self.pool {
            Pool::Postgres(p) => sqlx::query(&sql).execute(p).await?,
            Pool::Sqlite(p) => {
                sqlx::query(&sql).execute(p).await?;
                return Ok(());
            }
        };
        Ok(())
    }

    /// Closes the pool: waits for connections in use to come back, then
    /// closes every connection.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Postgres(p) => p.close().await,
            Pool::Sqlite(p) => p.close().await,
        }
    }
}
