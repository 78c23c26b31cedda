//! The users service through real sockets on 127.0.0.1: on embedded SQLite
//! always, on PostgreSQL when `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) answers (required with
//! `PALISADE_REQUIRE_POSTGRES=1`), with a private `redis-server` for the
//! Redis fault. Each test has its own table (and Redis namespace).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use palisade::breaker::State as BreakerState;
use palisade_examples::users::{
    MAX_CONNECTIONS, RecommendationsMode, UsersService, UsersServiceBuilder,
    redis_server::PrivateRedis,
};

type Http = Client<HttpConnector, Empty<Bytes>>;

fn http() -> Http {
    Client::builder(TokioExecutor::new()).build_http()
}

/// A table name no other test (or run) uses.
fn table() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "users_t{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// PostgreSQL's URL when it answers; `None` (with a note) when it does not,
/// unless `PALISADE_REQUIRE_POSTGRES=1`, then the test fails.
async fn postgres(test: &str) -> Option<String> {
    let url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let required = std::env::var("PALISADE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
    let probe = UsersService::builder()
        .database_url(Some(url.clone()))
        .build()
        .map_err(|e| e.to_string());
    let answers = match probe {
        Ok(_) => {
            let host_port = url
                .rsplit('@')
                .next()
                .and_then(|rest| rest.split('/').next())
                .unwrap_or("127.0.0.1:5432")
                .to_owned();
            let host_port = if host_port.contains(':') {
                host_port
            } else {
                format!("{host_port}:5432")
            };
            tokio::time::timeout(
                Duration::from_secs(3),
                tokio::net::TcpStream::connect(host_port),
            )
            .await
            .is_ok_and(|r| r.is_ok())
        }
        Err(_) => false,
    };
    if answers {
        return Some(url);
    }
    assert!(
        !required,
        "{test}: PostgreSQL at {url} does not answer and PALISADE_REQUIRE_POSTGRES=1"
    );
    println!("{test}: skipped on PostgreSQL: nothing answers at {url}");
    None
}

/// Settings most tests share: generous limits, so only what a test
/// provokes refuses anything.
fn builder(database_url: Option<String>) -> UsersServiceBuilder {
    UsersService::builder()
        .database_url(database_url)
        .table(table())
        .rate_per_client(100_000, 100_000)
        .concurrency(1_000, 1_000)
        .request_deadline(Duration::from_secs(10))
        .db_deadline(Duration::from_secs(5))
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn get(http: &Http, addr: SocketAddr, path: &str, client: &str) -> Reply {
    let req = Request::get(format!("http://{addr}{path}"))
        .header("x-client-id", client)
        .body(Empty::new())
        .expect("request");
    let res = http.request(req).await.expect("a response");
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn json(reply: &Reply) -> serde_json::Value {
    serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", reply.body))
}

/// Shuts the service down; on PostgreSQL, drops its table.
async fn cleanup(service: UsersService, database_url: Option<&str>) {
    let table = service.settings().table().to_owned();
    let report = service.shutdown().await;
    assert!(report.drained);
    if let Some(url) = database_url {
        drop_pg_table(url, &table).await;
    }
}

/// Drops a PostgreSQL test table through a fresh pool.
async fn drop_pg_table(url: &str, table: &str) {
    if let Ok(db) =
        palisade_examples::users::Database::open(Some(url), table, 1, Duration::from_secs(5)).await
    {
        let _ = db.drop_table().await;
        db.close().await;
    }
}

async fn batching_case(database_url: Option<String>) {
    let service = UsersService::start(builder(database_url.clone()).build().unwrap())
        .await
        .unwrap();
    let (http, addr) = (http(), service.addr());
    // Seeded: the last user exists, the next does not (a 404, not an error).
    assert_eq!(
        get(&http, addr, "/users/10000", "c").await.status,
        StatusCode::OK
    );
    assert_eq!(
        get(&http, addr, "/users/10001", "c").await.status,
        StatusCode::NOT_FOUND
    );
    let before = service.vitals().database.stats();
    let tasks: Vec<_> = (0..500u64)
        .map(|n| {
            let http = http.clone();
            tokio::spawn(async move {
                let id = n % 100 + 1;
                (
                    id,
                    get(&http, addr, &format!("/users/{id}"), "batch-test").await,
                )
            })
        })
        .collect();
    for t in tasks {
        let (id, reply) = t.await.unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let user = json(&reply);
        assert_eq!(user["id"], id);
        assert_eq!(user["name"], format!("user-{id}"));
        assert_eq!(user["email"], format!("user{id}@example.com"));
    }
    let after = service.vitals().database.stats();
    let (queries, ids) = (after.queries - before.queries, after.ids - before.ids);
    println!(
        "{}: 500 requests for 100 ids made {queries} queries for {ids} ids",
        service.vitals().database.kind()
    );
    assert!(queries >= 2, "100 ids need at least two batches of 50");
    // Without the loader: 100. Arrivals spread over a few 5 ms windows.
    assert!(queries <= 12, "{queries} queries for 500 requests");
    assert_eq!(ids, 100, "every id asked for once");
    cleanup(service, database_url.as_deref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lookups_make_a_handful_of_queries_sqlite() {
    batching_case(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lookups_make_a_handful_of_queries_postgres() {
    if let Some(url) = postgres("concurrent_lookups_postgres").await {
        batching_case(Some(url)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recommendations_down_opens_the_breaker_and_falls_back_then_closes() {
    let service = UsersService::start(
        builder(None)
            .breaker_open_wait(Duration::from_millis(300))
            .request_deadline(Duration::from_secs(2))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let (http, addr) = (http(), service.addr());
    let vitals = service.vitals().clone();
    let up = get(&http, addr, "/users/7", "c").await;
    assert_eq!(up.status, StatusCode::OK);
    assert_eq!(json(&up)["recommendations_fallback"], false);

    // Failing (503), then hanging: every answer is a 200 with the fallback,
    // none waits for its 2 s deadline (no 504).
    for mode in [RecommendationsMode::Failing, RecommendationsMode::Hanging] {
        vitals.switch.set(mode);
        for id in 1..=12u64 {
            let reply = get(&http, addr, &format!("/users/{id}"), "c").await;
            assert_eq!(reply.status, StatusCode::OK, "{mode:?}: {}", reply.body);
            let user = json(&reply);
            assert_eq!(user["recommendations_fallback"], true, "{mode:?}");
            assert_eq!(user["recommended"], serde_json::json!([1, 2, 3]));
        }
    }
    assert_eq!(vitals.recommendations.breaker_state(), BreakerState::Open);
    // While open, the service is not called at all.
    let calls = service.recommendations_server().calls();
    for id in 20..30u64 {
        let reply = get(&http, addr, &format!("/users/{id}"), "c").await;
        assert_eq!(json(&reply)["recommendations_fallback"], true);
    }
    assert!(
        service.recommendations_server().calls() <= calls + 3,
        "an open breaker lets only its probes through"
    );

    // Back up: the breaker probes after its open wait and closes.
    vitals.switch.set(RecommendationsMode::Up);
    let mut closed = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let reply = get(&http, addr, "/users/8", "c").await;
        // Half-open lets a few probes through; it closes once they pass.
        if json(&reply)["recommendations_fallback"] == false
            && vitals.recommendations.breaker_state() == BreakerState::Closed
        {
            closed = true;
            break;
        }
    }
    assert!(closed, "recommendations never came back");
    assert_eq!(vitals.recommendations.breaker_state(), BreakerState::Closed);
    cleanup(service, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_traffic_fails_no_request_and_l2_hits_resume() {
    if !PrivateRedis::available() {
        assert!(
            std::env::var("PALISADE_REQUIRE_REDIS").as_deref() != Ok("1"),
            "redis-server is not installed and PALISADE_REQUIRE_REDIS=1"
        );
        println!("redis test skipped: redis-server is not installed");
        return;
    }
    let mut redis = PrivateRedis::start().await.unwrap();
    // Two replicas sharing the Redis namespace (their table name).
    let shared = table();
    let replica = |name: &str| {
        builder(None)
            .table(name)
            .redis_url(Some(redis.url()))
            .build()
            .unwrap()
    };
    let a = UsersService::start(replica(&shared)).await.unwrap();
    let b = UsersService::start(replica(&shared)).await.unwrap();
    assert!(a.vitals().l2.is_some() && b.vitals().l2.is_some());
    let http = http();

    // Traffic on both replicas while Redis dies.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traffic: Vec<_> = [a.addr(), b.addr()]
        .into_iter()
        .flat_map(|addr| (0..4).map(move |k| (addr, k)))
        .map(|(addr, k)| {
            let (http, stop) = (http.clone(), stop.clone());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let id = (n * 13 + k * 1000) % 3000 + 1;
                    statuses.push(get(&http, addr, &format!("/users/{id}"), "r").await.status);
                }
                statuses
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.kill().await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for t in traffic {
        for status in t.await.unwrap() {
            total += 1;
            assert_eq!(
                status,
                StatusCode::OK,
                "a request failed while Redis was down"
            );
        }
    }
    assert!(total > 0);

    // Restarted (empty): what A loads, B finds in Redis.
    redis.restart().await.unwrap();
    let l2_hits = |svc: &UsersService| svc.vitals().l2.as_ref().map_or(0, |l2| l2.stats().hits);
    let before = l2_hits(&b);
    let mut resumed = false;
    for round in 0..60u64 {
        let id = 5_000 + round;
        assert_eq!(
            get(&http, a.addr(), &format!("/users/{id}"), "r")
                .await
                .status,
            StatusCode::OK
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            get(&http, b.addr(), &format!("/users/{id}"), "r")
                .await
                .status,
            StatusCode::OK
        );
        if l2_hits(&b) > before {
            resumed = true;
            break;
        }
    }
    assert!(resumed, "no L2 hit after Redis came back");
    cleanup(a, None).await;
    cleanup(b, None).await;
}

async fn slow_database_case(database_url: Option<String>) -> String {
    let settings = builder(database_url)
        .db_deadline(Duration::from_millis(200))
        .request_deadline(Duration::from_secs(2))
        .breaker_open_wait(Duration::from_millis(300))
        .build()
        .unwrap();
    let table = settings.table().to_owned();
    let service = UsersService::start(settings).await.unwrap();
    let (http, addr) = (http(), service.addr());
    let vitals = service.vitals().clone();
    // A cached user, to show it is still served while the database is slow.
    assert_eq!(
        get(&http, addr, "/users/1", "c").await.status,
        StatusCode::OK
    );

    vitals.database.set_slow(Duration::from_millis(1_000));
    let tasks: Vec<_> = (0..40u64)
        .map(|n| {
            let http = http.clone();
            tokio::spawn(async move { get(&http, addr, &format!("/users/{}", 100 + n), "c").await })
        })
        .collect();
    let mut most_in_use = 0;
    let mut timeouts = 0;
    for t in tasks {
        let reply = t.await.unwrap();
        most_in_use = most_in_use.max(vitals.database.pool_usage().1);
        match reply.status {
            StatusCode::GATEWAY_TIMEOUT => timeouts += 1,
            // The breaker opened on the slow queries: refused at once.
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(reply.headers.contains_key("retry-after"));
            }
            other => panic!("slow database: {other} {}", reply.body),
        }
    }
    assert!(timeouts > 0, "the lookup deadline answers 504");
    // The cached user is still there.
    assert_eq!(
        get(&http, addr, "/users/1", "c").await.status,
        StatusCode::OK
    );
    most_in_use = most_in_use.max(vitals.database.pool_usage().1);
    assert!(
        most_in_use < MAX_CONNECTIONS,
        "pool exhausted: {most_in_use} of {MAX_CONNECTIONS} in use"
    );

    // Fast again: the service recovers by itself.
    vitals.database.set_slow(Duration::ZERO);
    let mut recovered = false;
    for n in 0..100u64 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if get(&http, addr, &format!("/users/{}", 500 + n), "c")
            .await
            .status
            == StatusCode::OK
        {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "never recovered from the slow database");
    cleanup(service, None).await;
    table
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_database_gives_504_within_the_deadline_and_recovers_sqlite() {
    slow_database_case(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_database_gives_504_within_the_deadline_and_recovers_postgres() {
    let Some(url) = postgres("slow_database_postgres").await else {
        return;
    };
    let table = slow_database_case(Some(url.clone())).await;
    drop_pg_table(&url, &table).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_refused_with_429_and_503_and_retry_after() {
    let service = UsersService::start(
        builder(None)
            .rate_per_client(20, 10)
            .concurrency(2, 4)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    // Each admitted lookup holds its slot for a while.
    service
        .vitals()
        .database
        .set_slow(Duration::from_millis(100));
    let (http, addr) = (http(), service.addr());
    let tasks: Vec<_> = (0..200u64)
        .map(|n| {
            let http = http.clone();
            tokio::spawn(async move {
                // Half from one greedy client, half from 50 polite ones.
                let client = if n % 2 == 0 {
                    "greedy".to_owned()
                } else {
                    format!("c{}", n % 50)
                };
                get(&http, addr, &format!("/users/{}", n + 1), &client).await
            })
        })
        .collect();
    let (mut ok, mut limited, mut shed) = (0, 0, 0);
    for t in tasks {
        let reply = t.await.unwrap();
        match reply.status {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            StatusCode::SERVICE_UNAVAILABLE => shed += 1,
            other => panic!("overload: {other} {}", reply.body),
        }
        if reply.status != StatusCode::OK {
            assert!(
                reply.headers.contains_key("retry-after"),
                "{} without Retry-After",
                reply.status
            );
        }
    }
    println!("overload: {ok} ok, {limited} rate limited, {shed} shed");
    assert!(ok > 0, "some requests are admitted");
    assert!(limited > 0, "the greedy client is rate limited");
    assert!(shed > 0, "the concurrency limit sheds");
    cleanup(service, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_loses_no_request_in_flight() {
    let service = UsersService::start(builder(None).build().unwrap())
        .await
        .unwrap();
    let vitals = service.vitals().clone();
    vitals.database.set_slow(Duration::from_millis(300));
    let (http, addr) = (http(), service.addr());
    let tasks: Vec<_> = (0..20u64)
        .map(|n| {
            let http = http.clone();
            tokio::spawn(async move { get(&http, addr, &format!("/users/{}", n + 1), "c").await })
        })
        .collect();
    // Wait until all 20 lookups are at the (slow) database: in flight.
    for _ in 0..2_000 {
        if vitals.database.stats().ids >= 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(vitals.database.stats().ids, 20);
    let report = service.shutdown().await;
    assert!(
        report.drained,
        "the requests in flight finished within the drain bound"
    );
    for t in tasks {
        let reply = t.await.unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    // It no longer accepts connections.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_pages_are_cached_and_the_operational_endpoints_answer() {
    let service = UsersService::start(builder(None).build().unwrap())
        .await
        .unwrap();
    let (http, addr) = (http(), service.addr());
    let first = get(&http, addr, "/users/popular", "c").await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.headers["x-cache"], "MISS");
    assert_eq!(json(&first)["popular"][0], "user-1");
    let queries = service.vitals().database.stats().queries;
    let second = get(&http, addr, "/users/popular", "c").await;
    assert_eq!(second.headers["x-cache"], "HIT");
    assert_eq!(second.body, first.body);
    assert_eq!(service.vitals().database.stats().queries, queries);
    // The ten users of the page were one batch.
    assert_eq!(queries, 1);

    for path in ["/health/live", "/status", "/latency", "/metrics"] {
        assert_eq!(
            get(&http, addr, path, "c").await.status,
            StatusCode::OK,
            "{path}"
        );
    }
    // Admin switches answer; a bad mode is a 400 that names the choices.
    let req = Request::post(format!("http://{addr}/admin/recommendations/sideways"))
        .body(Empty::new())
        .unwrap();
    let res = http.request(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    cleanup(service, None).await;
}
