//! Test support: the shared Redis (`REDIS_URL`) and private `redis-server`s.
//!
//! Tests skip with a message when Redis is unavailable, unless
//! `PALISADE_REQUIRE_REDIS=1`, in which case they fail.

#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::time::Instant;

fn required() -> bool {
    std::env::var("PALISADE_REQUIRE_REDIS").is_ok_and(|v| v == "1")
}

fn skip(why: &str) {
    assert!(!required(), "PALISADE_REQUIRE_REDIS=1 but {why}");
    eprintln!("skipping: {why} (set PALISADE_REQUIRE_REDIS=1 to fail instead)");
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

/// The shared Redis of `REDIS_URL` (default `redis://127.0.0.1:6379`), or
/// `None` (after printing why) when it does not answer.
pub async fn shared_redis() -> Option<String> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    if ping(&url).await {
        Some(url)
    } else {
        skip(&format!("no Redis answers at {url}"));
        None
    }
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
    /// Starts a private server, or `None` (after printing why) when
    /// `redis-server` cannot be run.
    pub async fn start() -> Option<Self> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut server = Self { port, child: None };
        if let Err(why) = server.spawn().await {
            skip(&why);
            return None;
        }
        Some(server)
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
