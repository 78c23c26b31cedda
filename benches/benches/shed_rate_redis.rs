//! palisade-shed's cluster-wide `RateLimit` (feature `redis`) against a raw
//! `EVALSHA` of the same GCRA script on the same multiplexed client, against
//! the Redis at `REDIS_URL` (default `redis://127.0.0.1:6379`).
//!
//! Interleaved rounds in one run: each round times `ITERS` sequential
//! checks through the limiter (key extraction, breaker permit, script
//! invocation, reply parsing, then the inner service) and `ITERS` raw
//! `EVALSHA` round trips, alternating which goes first. Prints the median
//! per-check time of each and their ratio (target: ≤ 1.2×).

use std::{convert::Infallible, hint::black_box, time::Duration};

use http::{Request, Response};
use palisade_redis::{RedisConnection, redis};
use palisade_shed::{RateLimit, rate_limit::CLUSTER_SCRIPT};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt, service_fn};

const ROUNDS: usize = 15;
const ITERS: u32 = 2_000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is understood.
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let conn = RedisConnection::builder(url.as_str())
            .name("bench")
            .timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        assert!(
            conn.connected(Duration::from_secs(5)).await,
            "no Redis at {url}"
        );
        let name = format!("bench-{}", std::process::id());
        let limit = RateLimit::builder(name.as_str())
            .rate(1_000_000)
            .burst(1_000_000_000)
            .redis(conn.clone())
            .replicas(2)
            .build()
            .unwrap();
        let mut svc = limit.layer().layer(service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(Response::new(()))
        }));
        // The same key, script and arguments as the limiter sends.
        let key = format!("{}{name}:", palisade_shed::rate_limit::DEFAULT_REDIS_PREFIX);
        let script = redis::Script::new(CLUSTER_SCRIPT);
        let mut raw = conn.manager();
        let _: String = script.prepare_invoke().load_async(&mut raw).await.unwrap();
        let mut evalsha = redis::cmd("EVALSHA");
        evalsha
            .arg(script.get_hash())
            .arg(1)
            .arg(&key)
            .arg(1u64)
            .arg(1_000_000_000u64);

        let mut limiter_ns = Vec::new();
        let mut raw_ns = Vec::new();
        for round in 0..ROUNDS {
            for first in [round % 2 == 0, round % 2 == 1] {
                let start = Instant::now();
                if first {
                    for _ in 0..ITERS {
                        let res = svc.ready().await.unwrap().call(Request::new(())).await;
                        black_box(res.expect("admitted"));
                    }
                    limiter_ns.push(start.elapsed().as_nanos() as f64 / f64::from(ITERS));
                } else {
                    for _ in 0..ITERS {
                        let res: (i64, i64) = evalsha.query_async(&mut raw).await.unwrap();
                        assert_eq!(black_box(res).0, 1);
                    }
                    raw_ns.push(start.elapsed().as_nanos() as f64 / f64::from(ITERS));
                }
            }
        }
        assert_eq!(
            conn.breaker().state(),
            palisade_breaker::State::Closed,
            "every check went to Redis"
        );
        let (l, r) = (median(limiter_ns), median(raw_ns));
        println!("rate_limit_redis/raw_evalsha        median {r:>9.0} ns/check");
        println!("rate_limit_redis/palisade_cluster   median {l:>9.0} ns/check");
        println!(
            "rate_limit_redis: palisade / raw EVALSHA = {:.3}x (target <= 1.2x): {}",
            l / r,
            if l / r <= 1.2 { "met" } else { "NOT met" }
        );
        let _: () = redis::cmd("DEL")
            .arg(&key)
            .query_async(&mut raw)
            .await
            .unwrap();
    });
}
