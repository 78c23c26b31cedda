//! The users service, the project's main demo (issue 16): `GET /users/{id}`
//! on PostgreSQL (`DATABASE_URL`) or embedded SQLite, through a batching,
//! caching (L1 + Redis L2 when `REDIS_URL` answers), breaker-guarded
//! repository, with a recommendations call per request, behind the full
//! inbound stack; driven through a scripted day by its own load generator.
//!
//! `--load` (the default) runs the scripted day for `--duration` (60 s by
//! default) with `--clients` clients (16; four times as many in the
//! overload), then shuts down gracefully.
//!
//! ```sh
//! cargo run -p palisade-examples --bin users_service                    # a 60 s day
//! cargo run -p palisade-examples --bin users_service -- --duration 10s
//! cargo run -p palisade-examples --bin users_service -- --private-redis # with a Redis restart
//! cargo run -p palisade-examples --bin users_service -- --serve         # until Ctrl-C
//! cargo run --release -p palisade-examples --bin users_service -- --bench-batching
//! ```

use std::time::Duration;

use palisade::prelude::BoxError;
use palisade_examples::{
    run_duration,
    users::{
        UsersService,
        bench::{bench_batching, print_rows},
        load::{print_summary, run_day},
        redis_server::PrivateRedis,
    },
};

fn arg_value(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2).find(|w| w[0] == name).map(|w| w[1].clone())
}

fn has_flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // The faults of the scripted day are expected: keep the
                // per-request error logs out of the per-second lines.
                .unwrap_or_else(|_| {
                    "warn,palisade_batch=off,palisade_core=off,palisade_cache=off,sqlx=off".into()
                }),
        )
        .init();
    let database_url = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty());

    if has_flag("--bench-batching") {
        let rounds = arg_value("--rounds")
            .and_then(|r| r.parse().ok())
            .unwrap_or(3);
        let round_ms = arg_value("--round-ms")
            .and_then(|r| r.parse().ok())
            .unwrap_or(2_000);
        println!(
            "batching figure on {}: {rounds} interleaved rounds of {round_ms} ms per configuration",
            if database_url.is_some() {
                "PostgreSQL"
            } else {
                "embedded SQLite"
            }
        );
        let table = format!("users_bench_{}", std::process::id());
        let rows = bench_batching(
            database_url.as_deref(),
            &table,
            rounds,
            Duration::from_millis(round_ms),
        )
        .await?;
        print_rows(&rows);
        return Ok(());
    }

    let run_for = run_duration(Duration::from_secs(60));
    let clients = arg_value("--clients")
        .and_then(|c| c.parse().ok())
        .unwrap_or(16);
    let mut private_redis = if has_flag("--private-redis") {
        if PrivateRedis::available() {
            Some(PrivateRedis::start().await?)
        } else {
            println!("--private-redis: redis-server is not installed; using REDIS_URL if set");
            None
        }
    } else {
        None
    };
    let redis_url = match &private_redis {
        Some(r) => Some(r.url()),
        None => std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty()),
    };

    let settings = UsersService::builder()
        .database_url(database_url)
        .redis_url(redis_url)
        .build()?;
    let service = UsersService::start(settings).await?;
    let vitals = service.vitals().clone();
    let addr = service.addr();
    println!(
        "users service on http://{addr} (started in {:?}): database {} (table {}), {}",
        service.started_in(),
        vitals.database.kind(),
        vitals.database.table(),
        service.cache_tiers(),
    );
    println!(
        "  status page http://{addr}/status, health /health, metrics /metrics, latency /latency; recommendations on http://{}",
        service.recommendations_server().addr()
    );

    match run_for {
        None => {
            println!("--serve: press Ctrl-C to stop");
            tokio::signal::ctrl_c().await?;
        }
        Some(run_for) => {
            println!(
                "a scripted day of {run_for:?} with {clients} clients (x4 in the overload):\n"
            );
            let redis = if vitals.l2.is_some() {
                private_redis.as_mut()
            } else {
                None
            };
            let mut summary = run_day(addr, &vitals, run_for, clients, redis).await;
            print_summary(&mut summary);
            let db = vitals.database.stats();
            let cache = vitals.repository.cache().stats();
            println!(
                "\ndatabase: {} queries for {} ids (x{:.1} per query), {} failed; cache: {} hits, {} misses, {} coalesced; recommendations: {} calls received, {} fallbacks",
                db.queries,
                db.ids,
                db.ids as f64 / db.queries.max(1) as f64,
                db.failures,
                cache.hits,
                cache.misses,
                cache.coalesced,
                service.recommendations_server().calls(),
                vitals.recommendations.fallbacks(),
            );
            if let Some(l2) = &vitals.l2 {
                let s = l2.stats();
                println!(
                    "redis L2: {} hits, {} misses, {} errors, {} skipped, {} writes",
                    s.hits,
                    s.misses,
                    s.errors,
                    s.timeouts + s.skipped,
                    s.writes
                );
            }
        }
    }
    let shutdown = service.shutdown().await;
    println!(
        "shut down: {}",
        if shutdown.drained {
            "every request in flight finished, pool closed"
        } else {
            "drain bound reached, pool closed"
        }
    );
    Ok(())
}
