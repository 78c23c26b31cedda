//! A composed stack (cache → breaker → keyed loader → bulk call) kept in axum
//! `State` as a `SharedStack`, called by a handler that passes failures on
//! with `?`, served over TCP and called with a real HTTP client.
#![cfg(all(
    feature = "cache",
    feature = "breaker",
    feature = "batch",
    feature = "axum"
))]

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    extract::{Path, State},
    routing::get,
};
use palisade::{breaker::State as BreakerState, prelude::*};
use tokio::{io::AsyncReadExt, io::AsyncWriteExt, net::TcpStream};
use tower::{ServiceBuilder, ServiceExt, service_fn};

type Users = SharedStack<u64, Option<Arc<str>>>;

async fn user(State(users): State<Users>, Path(id): Path<u64>) -> Result<String, HandlerError> {
    match users.oneshot(id).await? {
        Some(name) => Ok(name.to_string()),
        None => Ok("none".to_owned()),
    }
}

/// A minimal HTTP/1.1 client: one request, read until the server closes.
async fn get_raw(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[tokio::test]
async fn stack_in_state_caches_trips_and_answers_rejections_with_question_mark() {
    let cache = Cache::builder("state-users")
        .max_entries(100)
        .ttl(Duration::from_secs(600))
        .build()
        .unwrap();
    let breaker = CircuitBreaker::builder("state-user-db")
        .consecutive_failures(2)
        .open_wait(Duration::from_secs(30))
        .build()
        .unwrap();
    let loader = Loader::builder("state-users").max_size(16).build().unwrap();

    let bulk_calls = Arc::new(AtomicUsize::new(0));
    let down = Arc::new(AtomicBool::new(false));
    let bulk = {
        let (calls, down) = (bulk_calls.clone(), down.clone());
        service_fn(move |ids: Vec<u64>| {
            calls.fetch_add(1, Ordering::SeqCst);
            let down = down.load(Ordering::SeqCst);
            async move {
                if down {
                    return Err(BoxError::from("user db: connection refused"));
                }
                Ok(ids
                    .into_iter()
                    .map(|id| (id, Arc::<str>::from(format!("user-{id}"))))
                    .collect::<HashMap<_, _>>())
            }
        })
    };
    let users: Users = share(
        ServiceBuilder::new()
            .cache(&cache, |id: &u64| Some(*id))
            .circuit_breaker(&breaker)
            .load(&loader)
            .service(bulk),
    );
    let app = Router::new()
        .route("/users/{id}", get(user))
        .with_state(users);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // A miss goes through breaker and loader to one bulk call; the repeat is a hit.
    assert_eq!(get_raw(addr, "/users/1").await.2, "user-1");
    assert_eq!(get_raw(addr, "/users/1").await.2, "user-1");
    assert_eq!(bulk_calls.load(Ordering::SeqCst), 1);
    assert_eq!(cache.stats().hits, 1);

    // The dependency fails: two failures open the breaker; the handler's `?`
    // answers those with a 500 that leaks nothing.
    down.store(true, Ordering::SeqCst);
    for id in [2, 3] {
        let (status, _, body) = get_raw(addr, &format!("/users/{id}")).await;
        assert_eq!(status, 500);
        assert_eq!(body, "internal server error");
    }
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(bulk_calls.load(Ordering::SeqCst), 3);

    // Open: refused without a bulk call, as 503 with the open wait as Retry-After.
    let (status, head, body) = get_raw(addr, "/users/4").await;
    assert_eq!(status, 503);
    let retry_after: u64 = head
        .lines()
        .find_map(|l| l.strip_prefix("retry-after: "))
        .expect("a Retry-After header")
        .trim()
        .parse()
        .unwrap();
    // The time left until the probe, rounded up: the 30 s open wait less
    // the (real) time since the breaker opened.
    assert!(
        (1..=30).contains(&retry_after),
        "within the 30 s open wait, got {retry_after}"
    );
    assert_eq!(body, "service unavailable: circuit open");
    assert_eq!(bulk_calls.load(Ordering::SeqCst), 3);

    // The cache sits above the breaker: a cached user is still served.
    let (status, _, body) = get_raw(addr, "/users/1").await;
    assert_eq!((status, body.as_str()), (200, "user-1"));
    assert_eq!(bulk_calls.load(Ordering::SeqCst), 3);
}
