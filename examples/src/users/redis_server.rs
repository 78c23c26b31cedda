//! [`PrivateRedis`]: a `redis-server` of our own on a free port, which the
//! scripted day and the tests may stop and start again without touching
//! anyone else's Redis.

use std::{net::SocketAddr, process::Stdio, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    process::{Child, Command},
};
use tower::BoxError;

/// A private `redis-server` (no persistence), killed when dropped.
#[derive(Debug)]
pub struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Whether a `redis-server` binary can be started.
    pub fn available() -> bool {
        std::process::Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts one on a free port of 127.0.0.1 and waits until it answers.
    ///
    /// # Errors
    ///
    /// `redis-server` is not installed, or did not answer within 5 s.
    pub async fn start() -> Result<Self, BoxError> {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
            probe.local_addr()?.port()
        };
        let mut redis = Self { port, child: None };
        redis.restart().await?;
        Ok(redis)
    }

    /// Its URL, `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Whether it is running (as far as we started it).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills it (its data is gone: it keeps none on disk).
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts it again on the same port (after [`kill`](Self::kill)) and
    /// waits until it answers.
    ///
    /// # Errors
    ///
    /// It could not be started or did not answer within 5 s.
    pub async fn restart(&mut self) -> Result<(), BoxError> {
        self.kill().await;
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        self.child = Some(child);
        for _ in 0..100 {
            if ping(SocketAddr::from(([127, 0, 0, 1], self.port))).await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("redis-server on port {} did not answer", self.port).into())
    }
}

/// A `PING` over a fresh connection.
async fn ping(addr: SocketAddr) -> bool {
    let attempt = async {
        let mut conn = TcpStream::connect(addr).await?;
        conn.write_all(b"PING\r\n").await?;
        let mut buf = [0u8; 5];
        conn.read_exact(&mut buf).await?;
        Ok::<_, std::io::Error>(&buf == b"+PONG")
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(500), attempt).await,
        Ok(Ok(true))
    )
}
