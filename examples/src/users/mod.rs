//! The users service: the guidelines' own service, end to end, as the
//! project's main demo (binary `users_service`).
//!
//! `GET /users/{id}` reads a user through the [`UserRepository`] (deadline →
//! typed cache with a Redis L2 → breaker → keyed loader → one
//! `WHERE id = ANY($1)` per batch on PostgreSQL, or embedded SQLite), then
//! asks the recommendations service (started in the same process, on its own
//! port) through a client with retry, breaker, deadline propagation and a
//! fallback. The inbound stack follows `docs/layer-order.md`: latency →
//! deadline → per-client rate limit → adaptive concurrency limit; on the
//! public pages, latency → rate limit → `HttpCache` → deadline → limit. `/health`, `/status` (the live status
//! page), `/latency` and `/metrics` sit outside the limits, and so do the
//! admin switches (`POST /admin/recommendations/{up|fail|hang}`,
//! `POST /admin/db/slow/{ms}`).
//!
//! ```no_run
//! # async fn run() -> Result<(), tower::BoxError> {
//! use palisade_examples::users::UsersService;
//!
//! let settings = UsersService::builder()
//!     .database_url(std::env::var("DATABASE_URL").ok())
//!     .redis_url(std::env::var("REDIS_URL").ok())
//!     .build()?;
//! let service = UsersService::start(settings).await?;
//! println!("serving on http://{}", service.addr());
//! service.shutdown().await;
//! # Ok(()) }
//! ```

mod builder;
mod database;
mod http;
mod recommendations;
mod repository;
mod state;
mod user;

pub mod bench;
pub mod load;
pub mod redis_server;

pub use builder::{Settings, UsersServiceBuilder};
pub use database::{
    ACQUIRE_TIMEOUT, Database, DatabaseStats, IDLE_TIMEOUT, MAX_CONNECTIONS, MIN_CONNECTIONS,
};
pub use http::POPULAR;
pub use recommendations::{
    CALL_TIMEOUT, FALLBACK, Recommendations, RecommendationsClient, RecommendationsMode,
    RecommendationsServer, RecommendationsSwitch,
};
pub use repository::{
    BATCH_KEYS, BATCH_WAIT, FRESH_FOR, L1_ENTRIES, NOT_FOUND_FOR, RepositoryOptions,
    STALE_IF_ERROR, UserLookup, UserRepository,
};
pub use state::Vitals;
pub use user::User;

use std::{net::SocketAddr, sync::OnceLock, time::Duration};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use palisade::prelude::*;
use tokio::{sync::oneshot, task::JoinHandle, time::Instant};

use self::http::{AppState, InboundLayers, router};

/// A running users service: its address, its live handles, and graceful
/// shutdown.
#[derive(Debug)]
pub struct UsersService {
    addr: SocketAddr,
    vitals: Vitals,
    settings: Settings,
    health: Health,
    started_in: Duration,
    l2_note: String,
    recommendations_server: RecommendationsServer,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
    upkeep: JoinHandle<()>,
}

/// How a graceful shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Whether every request in flight finished within the drain bound.
    pub drained: bool,
}

/// The `/metrics` recorder: installed once per process (the `metrics`
/// facade has one global recorder); a later service in the same process
/// (tests) renders the same registry.
fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder().handle())
        })
        .clone()
}

/// Connects the Redis second tier when `url` is set and Redis answers
/// within a second; says which it is.
async fn connect_l2(
    url: Option<&str>,
    namespace: &str,
) -> Result<(Option<RedisStore>, String), BoxError> {
    let Some(url) = url else {
        return Ok((None, "cache: L1 only (REDIS_URL is not set)".to_owned()));
    };
    let store = RedisStore::builder(url)
        .namespace(namespace)
        .timeout(Duration::from_millis(50))
        .build()
        .await?;
    if store.connected(Duration::from_secs(1)).await {
        Ok((Some(store), format!("cache: L1 + Redis L2 at {url}")))
    } else {
        Ok((
            None,
            format!("cache: L1 only (Redis at {url} does not answer)"),
        ))
    }
}

impl UsersService {
    /// Starts configuring a users service.
    pub fn builder() -> UsersServiceBuilder {
        UsersServiceBuilder::default()
    }

    /// Starts the service on `127.0.0.1:0`: the database (schema and seed),
    /// the Redis tier and the recommendations service are set up in
    /// parallel, each client is created once, then the server starts.
    ///
    /// # Errors
    ///
    /// The database could not be opened or seeded, no port could be bound,
    /// or a layer's configuration was rejected.
    pub async fn start(settings: Settings) -> Result<Self, BoxError> {
        let started = Instant::now();
        let prometheus = prometheus();
        let switch = RecommendationsSwitch::default();
        // Independent initialisations, in parallel.
        let (database, l2, recommendations_server) = tokio::join!(
            Database::open(
                settings.database_url.as_deref(),
                &settings.table,
                settings.seed,
                settings.query_timeout,
            ),
            connect_l2(settings.redis_url.as_deref(), &settings.table),
            RecommendationsServer::start(switch.clone()),
        );
        let (database, (l2, l2_note), recommendations_server) =
            (database?, l2?, recommendations_server?);

        let repository = UserRepository::new(
            database.clone(),
            RepositoryOptions {
                deadline: settings.db_deadline,
                breaker_open_wait: settings.breaker_open_wait,
                cache: true,
                batching: true,
                l2: l2.clone(),
            },
        )?;
        let recommendations =
            RecommendationsClient::new(recommendations_server.addr(), settings.breaker_open_wait)?;
        let layers = InboundLayers::new(
            settings.request_deadline,
            settings.rate_per_client,
            settings.burst_per_client,
            settings.min_limit,
            settings.max_limit,
        )?;

        let db = database.clone();
        let mut health = Health::builder()
            .name("users-service")
            .page_refresh(Duration::from_secs(1))
            .component(repository.breaker().clone())
            .component(recommendations.breaker().clone())
            .component(repository.cache().clone())
            .component(repository.loader().clone())
            .component(layers.pages.clone())
            .component(layers.tracker.clone())
            .component_with(
                Probe::new("database", move || {
                    let db = db.clone();
                    async move { db.ping().await }
                }),
                HealthOptions::new()
                    .interval(Duration::from_secs(2))
                    .timeout(Duration::from_millis(500)),
            );
        if let Some(l2) = &l2 {
            health = health.component(l2.clone());
        }
        let health = health.build()?;

        let state = AppState {
            repository: repository.clone(),
            recommendations: recommendations.clone(),
            switch: switch.clone(),
            database: database.clone(),
        };
        let app = router(state, &layers, &health, prometheus.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        let upkeep = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(5));
            loop {
                every.tick().await;
                prometheus.run_upkeep();
            }
        });
        Ok(Self {
            addr,
            vitals: Vitals {
                database,
                repository,
                recommendations,
                switch,
                limit: layers.limit.clone(),
                tracker: layers.tracker.clone(),
                l2,
            },
            settings,
            health,
            started_in: started.elapsed(),
            l2_note,
            recommendations_server,
            stop: Some(stop),
            server,
            upkeep,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its live handles and switches.
    pub fn vitals(&self) -> &Vitals {
        &self.vitals
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Its health (the components behind `/health` and `/status`).
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// How long start-up took.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// Which cache tiers it uses, in one line (said once at start-up).
    pub fn cache_tiers(&self) -> &str {
        &self.l2_note
    }

    /// The recommendations service it started (its request count).
    pub fn recommendations_server(&self) -> &RecommendationsServer {
        &self.recommendations_server
    }

    /// Graceful shutdown: stops accepting connections, waits for the
    /// requests in flight (at most the drain bound), then closes the pool.
    pub async fn shutdown(mut self) -> ShutdownReport {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let drained = tokio::time::timeout(self.settings.drain, &mut self.server)
            .await
            .is_ok();
        if !drained {
            self.server.abort();
        }
        self.upkeep.abort();
        self.vitals.database.close().await;
        ShutdownReport { drained }
    }
}

impl Drop for UsersService {
    /// Dropped without [`shutdown`](Self::shutdown): the server stops at once.
    fn drop(&mut self) {
        self.server.abort();
        self.upkeep.abort();
    }
}
