//! The "recommendations" dependency: a small HTTP service the demo starts in
//! the same process on its own port ([`RecommendationsServer`]), which can be
//! told to fail or hang ([`RecommendationsSwitch`]), and the client every
//! `GET /users/{id}` calls it through ([`RecommendationsClient`]):
//!
//! retry with a budget → circuit breaker (`builder_for_http`) → deadline
//! (150 ms, or less when the request has less left) → deadline propagation
//! (`grpc-timeout`) → hyper client; and a fallback list when any of them
//! refuses or fails.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU8, AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    extract::{Path, State},
    routing::get,
};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Incoming;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use palisade::{breaker::State as BreakerState, prelude::*, shed::timeout::Ambient};
use tower::{ServiceBuilder, ServiceExt};

/// The users recommended when the recommendations service cannot answer.
pub const FALLBACK: [u64; 3] = [1, 2, 3];
/// The longest one call to the recommendations service may take.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(150);

/// What the recommendations service does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecommendationsMode {
    /// Answers at once.
    Up,
    /// Answers `503 Service Unavailable`.
    Failing,
    /// Never answers (until the caller's deadline, propagated in
    /// `grpc-timeout`, ends the request on its side).
    Hanging,
}

/// The switch that tells the recommendations service how to behave; shared
/// by the server, the admin endpoint, the scripted day and the tests.
#[derive(Debug, Clone, Default)]
pub struct RecommendationsSwitch(Arc<AtomicU8>);

impl RecommendationsSwitch {
    /// Sets the mode.
    pub fn set(&self, mode: RecommendationsMode) {
        let v = match mode {
            RecommendationsMode::Up => 0,
            RecommendationsMode::Failing => 1,
            RecommendationsMode::Hanging => 2,
        };
        self.0.store(v, Ordering::Relaxed);
    }

    /// The mode now.
    pub fn mode(&self) -> RecommendationsMode {
        match self.0.load(Ordering::Relaxed) {
            0 => RecommendationsMode::Up,
            1 => RecommendationsMode::Failing,
            _ => RecommendationsMode::Hanging,
        }
    }
}

#[derive(Debug, Clone)]
struct ServerState {
    switch: RecommendationsSwitch,
    calls: Arc<AtomicU64>,
}

/// The recommendations service, serving `GET /recommendations/{id}` on its
/// own port until dropped.
#[derive(Debug)]
pub struct RecommendationsServer {
    addr: std::net::SocketAddr,
    calls: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RecommendationsServer {
    /// Starts it on `127.0.0.1:0`, behaving as `switch` says.
    ///
    /// # Errors
    ///
    /// No port could be bound, or the server's timeout did not build.
    pub async fn start(switch: RecommendationsSwitch) -> Result<Self, BoxError> {
        let calls = Arc::new(AtomicU64::new(0));
        // Its own deadline: 1 s, or the caller's (`grpc-timeout`) if earlier.
        let timeout = Timeout::builder("recommendations-server")
            .timeout(Duration::from_secs(1))
            .build()?;
        let app = Router::new()
            .route("/recommendations/{id}", get(recommend))
            .with_state(ServerState {
                switch,
                calls: calls.clone(),
            })
            .layer(ServiceBuilder::new().http_errors().deadline(&timeout));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, calls, task })
    }

    /// Where it listens.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Requests it has received.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

impl Drop for RecommendationsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn recommend(State(state): State<ServerState>, Path(id): Path<u64>) -> (StatusCode, String) {
    state.calls.fetch_add(1, Ordering::Relaxed);
    match state.switch.mode() {
        RecommendationsMode::Up => {
            let ids: Vec<String> = (1..=3)
                .map(|k| (id.wrapping_mul(31).wrapping_add(k * 7) % 10_000 + 1).to_string())
                .collect();
            (StatusCode::OK, ids.join(","))
        }
        RecommendationsMode::Failing => (StatusCode::SERVICE_UNAVAILABLE, "down".to_owned()),
        RecommendationsMode::Hanging => std::future::pending().await,
    }
}

type Outbound = SharedStack<Request<Empty<Bytes>>, Response<Incoming>>;

/// Recommendations for one user, or the fallback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recommendations {
    /// The recommended user ids.
    pub ids: Vec<u64>,
    /// Whether these are the [`FALLBACK`] (the service was down, slow, or
    /// its breaker open).
    pub fallback: bool,
}

/// The client of the recommendations service; cheap to clone, every clone
/// shares the breaker, the retry budget and the connection pool.
#[derive(Debug, Clone)]
pub struct RecommendationsClient {
    base: Arc<str>,
    stack: Outbound,
    breaker: CircuitBreaker<HttpServerErrors>,
    fallbacks: Arc<AtomicU64>,
}

impl RecommendationsClient {
    /// A client of the service at `addr`; the breaker opens after 5
    /// failures in a row and probes again after `open_wait`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`](palisade::core::ConfigError) from a builder.
    pub fn new(addr: std::net::SocketAddr, open_wait: Duration) -> Result<Self, BoxError> {
        let breaker = CircuitBreaker::builder_for_http("recommendations")
            .consecutive_failures(5)
            .open_wait(open_wait)
            .build()?;
        let retry = Retry::builder("recommendations")
            .max_retries(2)
            .backoff(Duration::from_millis(5), Duration::from_millis(40))
            .own_breaker("recommendations")
            .build()?;
        let timeout = Timeout::builder("recommendations")
            .timeout(CALL_TIMEOUT)
            .source(Ambient)
            .build()?;
        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
        let stack: Outbound = share(
            ServiceBuilder::new()
                .retry_with(&retry)
                .circuit_breaker(&breaker)
                .deadline(&timeout)
                .layer(PropagateDeadlineLayer::new())
                .service(client),
        );
        Ok(Self {
            base: format!("http://{addr}").into(),
            stack,
            breaker,
            fallbacks: Arc::default(),
        })
    }

    /// The recommendations for user `id`; the fallback when the call fails,
    /// times out, or the breaker refuses it. Never an error.
    pub async fn for_user(&self, id: u64) -> Recommendations {
        match self.call(id).await {
            Some(ids) => Recommendations {
                ids,
                fallback: false,
            },
            None => {
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                Recommendations {
                    ids: FALLBACK.to_vec(),
                    fallback: true,
                }
            }
        }
    }

    async fn call(&self, id: u64) -> Option<Vec<u64>> {
        let uri = format!("{}/recommendations/{id}", self.base);
        let req = Request::get(uri).body(Empty::new()).ok()?;
        let res = self.stack.clone().oneshot(req).await.ok()?;
        if !res.status().is_success() {
            return None;
        }
        // A bounded read: a reply of more than 1 KiB is not a list of ids.
        let body = Limited::new(res.into_body(), 1024)
            .collect()
            .await
            .ok()?
            .to_bytes();
        std::str::from_utf8(&body)
            .ok()?
            .split(',')
            .map(|s| s.trim().parse().ok())
            .collect()
    }

    /// The breaker in front of the service.
    pub fn breaker(&self) -> &CircuitBreaker<HttpServerErrors> {
        &self.breaker
    }

    /// The breaker's state now.
    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    /// Answers that were the fallback so far.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }
}
