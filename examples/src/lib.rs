//! Shared pieces of the Palisade example stacks: the users service (the
//! main demo, in [`users`]), a simulated upstream that fails for a while and
//! then recovers, and a small load generator.
//!
//! The binaries in `src/bin/` are the examples:
//!
//! - `users_service`: the main demo. The guidelines' own service on
//!   PostgreSQL (or embedded SQLite) and Redis, with every Palisade layer,
//!   driven through a scripted day of faults
//!   (`cargo run -p palisade-examples --bin users_service`).
//! - `full_stack`: an axum server with every Palisade layer in the order of
//!   `docs/layer-order.md`, in front of a flaky, slow user service, driven
//!   by a built-in load generator (`cargo run -p palisade-examples --bin full_stack`).
//! - `grpc_stack`: a tonic server with deadlines, a concurrency limit,
//!   latency tracking and gRPC status mapping
//!   (`cargo run -p palisade-examples --bin grpc_stack`).
//!
//! # Contributor notes
//!
//! - `src/bin/`: one file per example binary, `main` and its printing only.
//! - `src/users/`: the users service, one module per part: `mod.rs` (the
//!   running [`users::UsersService`] handle: start-up and shutdown),
//!   `builder.rs` (its validated settings), `database.rs` (the sqlx pool,
//!   schema, seed and bulk query), `repository.rs` (the Palisade data path),
//!   `recommendations.rs` (the dependency and its client stack), `http.rs`
//!   (routes and the inbound stack), `state.rs` (the live handles the load
//!   generator reads), `user.rs` (the row type), `load.rs` (the scripted
//!   day), `bench.rs` (the batching figure), `redis_server.rs` (a private
//!   `redis-server` for fault runs). Lower modules never import `mod.rs`.
//! - `tests/`: the users service through real sockets, on embedded SQLite
//!   and, when `DATABASE_URL` answers, on PostgreSQL.

pub mod users;

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::time::Instant;

/// A user record, as the simulated upstream returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user's id.
    pub id: u64,
    /// The user's display name.
    pub name: String,
}

/// A simulated bulk user service (`SELECT ... WHERE id IN (...)`): each call
/// costs a round trip plus a little per id, and the service is down during a
/// configured outage.
#[derive(Debug, Clone)]
pub struct FlakyUpstream {
    started: Instant,
    outage: (Duration, Duration),
    round_trip: Duration,
    calls: Arc<AtomicU64>,
    ids: Arc<AtomicU64>,
}

impl FlakyUpstream {
    /// An upstream that fails between `outage.0` and `outage.1` after now.
    pub fn new(outage: (Duration, Duration), round_trip: Duration) -> Self {
        Self {
            started: Instant::now(),
            outage,
            round_trip,
            calls: Arc::default(),
            ids: Arc::default(),
        }
    }

    /// Whether the upstream is in its outage now.
    pub fn is_down(&self) -> bool {
        let t = self.started.elapsed();
        t >= self.outage.0 && t < self.outage.1
    }

    /// Bulk calls made so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Ids asked for so far, over all bulk calls.
    pub fn ids(&self) -> u64 {
        self.ids.load(Ordering::Relaxed)
    }

    /// Looks up `ids` in one call.
    pub async fn lookup(&self, ids: Vec<u64>) -> Result<HashMap<u64, User>, std::io::Error> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.ids.fetch_add(ids.len() as u64, Ordering::Relaxed);
        let per_item = Duration::from_micros(20) * u32::try_from(ids.len()).unwrap_or(u32::MAX);
        tokio::time::sleep(self.round_trip + per_item).await;
        if self.is_down() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "user service unavailable",
            ));
        }
        Ok(ids
            .into_iter()
            .filter(|id| *id % 97 != 0) // a few ids do not exist
            .map(|id| {
                let name = format!("user-{id}");
                (id, User { id, name })
            })
            .collect())
    }
}

/// Parses `--duration 8s` / `--duration 500ms` / `--serve` style arguments:
/// `None` means "serve until Ctrl-C".
pub fn run_duration(default: Duration) -> Option<Duration> {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--serve") {
        return None;
    }
    let value = args
        .windows(2)
        .find(|w| w[0] == "--duration")
        .map(|w| w[1].clone());
    let Some(value) = value else {
        return Some(default);
    };
    let parsed = if let Some(ms) = value.strip_suffix("ms") {
        ms.parse().ok().map(Duration::from_millis)
    } else if let Some(s) = value.strip_suffix('s') {
        s.parse().ok().map(Duration::from_secs)
    } else {
        value.parse().ok().map(Duration::from_secs)
    };
    match parsed {
        Some(d) => Some(d),
        None => {
            eprintln!("--duration must look like 8s or 500ms, got {value:?}; using {default:?}");
            Some(default)
        }
    }
}
