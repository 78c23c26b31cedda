//! Two replicas of one service, in one process, sharing a Redis L2.
//!
//! Each replica is an axum server with its own `HttpCache` (its own L1) in
//! front of its own upstream. They share the Redis at `REDIS_URL` (default
//! `redis://127.0.0.1:6379`): a page filled on replica A is served by
//! replica B from Redis without calling B's upstream, and a tag purge on A
//! empties both L1s. Without Redis the example still runs, and shows the
//! cache failing open.
//!
//! ```text
//! cargo run -p palisade-cache --features redis --example two_replicas
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use axum::{
    Router,
    body::Body,
    extract::Path,
    http::{HeaderName, Request, header},
    response::IntoResponse,
    routing::get,
};
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use palisade_cache::{HttpCache, RedisStore};
use palisade_core::BoxError;
use tokio::time::Instant;

struct Replica {
    name: &'static str,
    addr: SocketAddr,
    cache: HttpCache,
    l2: RedisStore,
    upstream_calls: Arc<AtomicUsize>,
}

impl Replica {
    async fn start(name: &'static str, redis_url: &str, namespace: &str) -> Result<Self, BoxError> {
        let l2 = RedisStore::builder(redis_url)
            .namespace(namespace)
            .timeout(Duration::from_millis(50))
            .connect_timeout(Duration::from_millis(300))
            .build()
            .await?;
        let cache = HttpCache::builder("pages").l2(l2.clone()).build()?;
        let upstream_calls = Arc::new(AtomicUsize::new(0));
        let calls = upstream_calls.clone();
        let upstream = move |Path(id): Path<u64>| {
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await; // a slow database
                (
                    [
                        (header::CACHE_CONTROL, "max-age=60".to_owned()),
                        (HeaderName::from_static("cache-tag"), format!("user:{id}")),
                    ],
                    format!("{{\"id\":{id},\"name\":\"user {id}\"}}"),
                )
                    .into_response()
            }
        };
        let app = Router::new()
            .route("/users/{id}", get(upstream))
            .layer(cache.layer());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self {
            name,
            addr,
            cache,
            l2,
            upstream_calls,
        })
    }

    /// GETs `path` as a client behind the load balancer would (same Host
    /// for every replica) and prints what happened.
    async fn get(&self, path: &str) -> Result<(), BoxError> {
        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
        let req = Request::get(format!("http://{}{path}", self.addr))
            .header(header::HOST, "users.example")
            .body(Empty::new())?;
        let res = client.request(req).await?.map(Body::new);
        let x_cache = res
            .headers()
            .get("x-cache")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned();
        let body = res.into_body().collect().await?.to_bytes();
        println!(
            "  replica {} GET {path}: x-cache {x_cache:<4} upstream calls so far {}  body {}",
            self.name,
            self.upstream_calls.load(SeqCst),
            String::from_utf8_lossy(&body),
        );
        Ok(())
    }

    async fn l1_entries(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.cache.stats().entries
    }
}

/// Polls `check` until it holds or two seconds pass.
async fn wait_for(mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let namespace = format!("two-replicas-example-{}", std::process::id());
    let a = Replica::start("A", &redis_url, &namespace).await?;
    let b = Replica::start("B", &redis_url, &namespace).await?;
    println!("two replicas sharing {redis_url} (namespace {namespace})\n");

    println!("1. the first request, on A, misses everywhere and fills Redis:");
    a.get("/users/42").await?;
    let written = wait_for(async || a.l2.stats().writes > 0).await;
    if !written {
        println!(
            "   (Redis is not answering: the caches fail open and work without it, so below \
             B calls its own upstream and the purge stays on A)"
        );
    }

    println!("2. B has never seen the page; it is served from Redis, B's upstream is not called:");
    b.get("/users/42").await?;
    b.get("/users/42").await?;

    println!("3. a purge of tag user:42 on A reaches B's L1 through Redis pub/sub:");
    // B's purge subscription connects in the background; wait until it hears A.
    wait_for(async || {
        a.cache.invalidate_tag("warm-up").await;
        b.l2.stats().invalidations_received > 0
    })
    .await;
    println!(
        "   L1 entries before: A {}, B {}",
        a.l1_entries().await,
        b.l1_entries().await
    );
    a.cache.invalidate_tag("user:42").await;
    wait_for(async || b.l1_entries().await == 0).await;
    println!(
        "   L1 entries after:  A {}, B {}",
        a.l1_entries().await,
        b.l1_entries().await
    );
    b.get("/users/42").await?;

    // Let B's background write land, then clean up (it would expire anyway).
    wait_for(async || b.l2.stats().writes > 0).await;
    a.cache.invalidate_tag("user:42").await;
    println!("\nRedis tier of A: {:?}", a.l2.stats());
    println!("Redis tier of B: {:?}", b.l2.stats());
    Ok(())
}
