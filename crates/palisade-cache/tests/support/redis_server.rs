//! Test support: the shared Redis (`REDIS_URL`) and private `redis-server`s.
//!
//! A test that needs Redis never passes without one:
//! - when something answers at `REDIS_URL` (default
//!   `redis://127.0.0.1:6379`), the test uses it;
//! - otherwise it starts a private `redis-server` on a free port (killed when
//!   the test ends) if the binary is installed;
//! - otherwise it **fails**, saying how to get one — unless
//!   `PALISADE_SKIP_REDIS=1` is set, which skips it with a message.
//!
//! `PALISADE_REQUIRE_REDIS=1` (set by `.ci/run`) fails even then.

#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::time::Instant;

fn flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1")
}

/// How to get a Redis, for the failure message.
const HOW: &str = "install redis-server (e.g. `apt-get install redis-server` or \
`brew install redis`) so the tests can start a private one, or point REDIS_URL at a \
running Redis; set PALISADE_SKIP_REDIS=1 to skip the Redis tests explicitly";

/// No Redis can be had: fail, or skip when `PALISADE_SKIP_REDIS=1` (and
/// `PALISADE_REQUIRE_REDIS=1` is not set).
fn unavailable(why: &str) {
    assert!(
        !flag("PALISADE_REQUIRE_REDIS"),
        "PALISADE_REQUIRE_REDIS=1 but {why}"
    );
    assert!(flag("PALISADE_SKIP_REDIS"), "{why}: {HOW}");
    eprintln!("skipping (PALISADE_SKIP_REDIS=1): {why}");
}

async fn ping(url: &str) -> bool {
    let Ok(client) = redis::Client::open(url) else {
        return false;
    };
    let attempt = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), attempt).await,
        Ok(Ok(_))
    )
}

/// A Redis a test may use: the shared one, or a private server that lives
/// as long as this value.
#[derive(Debug)]
pub struct Redis {
    url: String,
    _private: Option<RedisServer>,
}

impl Redis {
    /// Its URL.
    pub fn url(&self) -> String {
        self.url.clone()
    }
}

/// The shared Redis of `REDIS_URL` (default `redis://127.0.0.1:6379`), or a
/// private `redis-server` when nothing answers there. Fails the test when
/// neither can be had, unless `PALISADE_SKIP_REDIS=1` (then `None`).
pub async fn shared_redis() -> Option<Redis> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    if ping(&url).await {
        return Some(Redis {
            url,
            _private: None,
        });
    }
    let server = RedisServer::start_or(&format!("no Redis answers at {url}")).await?;
    eprintln!(
        "no Redis answers at {url}: using a private redis-server at {}",
        server.url()
    );
    Some(Redis {
        url: server.url(),
        _private: Some(server),
    })
}

/// A namespace no other test (or test run) uses.
pub fn unique_namespace(test: &str) -> String {
    format!(
        "palisade-test:{test}:{}:{:x}",
        std::process::id(),
        fastrand::u64(..)
    )
}

/// A raw connection for poking at Redis behind the store's back (no
/// response timeout, so it can wait out a `DEBUG SLEEP`).
pub async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap()
}

/// Polls `check` every few milliseconds until it holds or `within` passes.
pub async fn eventually(within: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A `redis-server` owned by one test, on a free port, killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a private server. When `redis-server` cannot be run the test
    /// fails, or with `PALISADE_SKIP_REDIS=1` gets `None`.
    pub async fn start() -> Option<Self> {
        Self::start_or("").await
    }

    async fn start_or(context: &str) -> Option<Self> {
        let mut server = Self::unstarted();
        match server.spawn().await {
            Ok(()) => Some(server),
            Err(why) if context.is_empty() => {
                unavailable(&why);
                None
            }
            Err(why) => {
                unavailable(&format!("{context}, and {why}"));
                None
            }
        }
    }

    /// A server not started yet, on a port free now: a URL where nothing
    /// answers until [`restart`](Self::restart).
    pub fn unstarted() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        Self { port, child: None }
    }

    /// Starts an [`unstarted`](Self::unstarted) server; `false` (after the
    /// failure or skip of [`start`](Self::start)) when it cannot run.
    pub async fn try_start(&mut self) -> bool {
        match self.spawn().await {
            Ok(()) => true,
            Err(why) => {
                unavailable(&why);
                false
            }
        }
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self) -> Result<(), String> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--enable-debug-command", "local"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run redis-server ({e})"))?;
        self.child = Some(child);
        let url = self.url();
        if eventually(Duration::from_secs(5), async || ping(&url).await).await {
            Ok(())
        } else {
            self.stop();
            Err(format!(
                "redis-server on port {} did not come up",
                self.port
            ))
        }
    }

    /// Kills the server (as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty: no persistence).
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn().await.expect("redis-server restarts");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
