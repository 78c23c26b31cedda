//! The batching figure of issue 16: database queries per request and p99
//! latency of user lookups with the [`Loader`](palisade::batch::Loader)
//! (50 keys or 5 ms) against one query per request, at 64 and 256
//! concurrent clients, in interleaved rounds of the same run. The cache is
//! off in both, so every lookup reaches the database.

use std::time::Duration;

use tokio::time::Instant;
use tower::BoxError;

use super::{
    database::Database,
    load::quantile,
    repository::{RepositoryOptions, UserRepository},
};

/// One configuration's totals over all its rounds.
#[derive(Debug, Clone)]
pub struct BatchingRow {
    /// Concurrent clients.
    pub clients: usize,
    /// Whether lookups went through the loader.
    pub batching: bool,
    /// Lookups answered.
    pub requests: u64,
    /// Lookups that failed.
    pub failures: u64,
    /// Queries the database received.
    pub queries: u64,
    /// Median latency of a lookup.
    pub p50: Duration,
    /// 99th percentile latency of a lookup.
    pub p99: Duration,
}

impl BatchingRow {
    /// Database queries per lookup.
    pub fn queries_per_request(&self) -> f64 {
        self.queries as f64 / self.requests.max(1) as f64
    }
}

/// Runs `rounds` interleaved rounds of `round_time` per configuration
/// (64 and 256 clients, loader and one query per request) against the
/// database at `url` (`None`: embedded SQLite) in table `table`.
///
/// # Errors
///
/// The database could not be opened.
pub async fn bench_batching(
    url: Option<&str>,
    table: &str,
    rounds: usize,
    round_time: Duration,
) -> Result<Vec<BatchingRow>, BoxError> {
    let db = Database::open(url, table, 10_000, Duration::from_secs(30)).await?;
    let options = |batching| RepositoryOptions {
        deadline: Duration::from_secs(30),
        breaker_open_wait: Duration::from_secs(1),
        cache: false,
        batching,
        l2: None,
    };
    let loader = UserRepository::new(db.clone(), options(true))?;
    let direct = UserRepository::new(db.clone(), options(false))?;
    let mut rows = Vec::new();
    for clients in [64usize, 256] {
        let mut lat: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
        let mut counts = [(0u64, 0u64, 0u64); 2]; // requests, failures, queries
        for round in 0..rounds {
            // Alternate which goes first, so neither always runs warm.
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for which in order {
                let repo = if which == 0 { &loader } else { &direct };
                let before = db.stats().queries;
                let (l, ok, failed) = drive(repo, clients, round_time).await;
                counts[which].0 += ok;
                counts[which].1 += failed;
                counts[which].2 += db.stats().queries - before;
                lat[which].extend(l);
            }
        }
        for which in [0, 1] {
            lat[which].sort_unstable();
            rows.push(BatchingRow {
                clients,
                batching: which == 0,
                requests: counts[which].0,
                failures: counts[which].1,
                queries: counts[which].2,
                p50: quantile(&lat[which], 0.5),
                p99: quantile(&lat[which], 0.99),
            });
        }
    }
    db.drop_table().await?;
    db.close().await;
    Ok(rows)
}

/// `clients` tasks looking up random users until `time` has passed.
async fn drive(repo: &UserRepository, clients: usize, time: Duration) -> (Vec<u64>, u64, u64) {
    let stop = Instant::now() + time;
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let repo = repo.clone();
            tokio::spawn(async move {
                let (mut lat, mut ok, mut failed) = (Vec::new(), 0u64, 0u64);
                while Instant::now() < stop {
                    let id = fastrand::u64(1..=10_000);
                    let sent = Instant::now();
                    match repo.user(id).await {
                        Ok(_) => {
                            ok += 1;
                            lat.push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
                        }
                        Err(_) => failed += 1,
                    }
                }
                (lat, ok, failed)
            })
        })
        .collect();
    let (mut lat, mut ok, mut failed) = (Vec::new(), 0, 0);
    for t in tasks {
        if let Ok((l, o, f)) = t.await {
            lat.extend(l);
            ok += o;
            failed += f;
        }
    }
    (lat, ok, failed)
}

/// Prints the rows as a table, each one-query-per-request row as the
/// baseline of the loader row above it.
pub fn print_rows(rows: &[BatchingRow]) {
    println!(
        "| clients | lookups | queries / request | p50 | p99 | p99 vs one query per request |"
    );
    println!("|---|---|---|---|---|---|");
    for pair in rows.chunks(2) {
        let [loader, direct] = pair else { continue };
        for row in [loader, direct] {
            let ratio = row.p99.as_secs_f64() / direct.p99.as_secs_f64().max(1e-9);
            println!(
                "| {} {} | {} ({} failed) | {:.3} | {:.2} ms | {:.2} ms | {:.2}x |",
                row.clients,
                if row.batching {
                    "loader"
                } else {
                    "one query per request"
                },
                row.requests,
                row.failures,
                row.queries_per_request(),
                row.p50.as_secs_f64() * 1000.0,
                row.p99.as_secs_f64() * 1000.0,
                ratio,
            );
        }
    }
}
