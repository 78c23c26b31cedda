//! Whether Redis answered since the connection was built, and the
//! background task that waits for its first answer.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::telemetry;

/// Whether Redis answered since the connection was built. Until it does the
/// connection reports itself unavailable, so users skip it without waiting.
#[derive(Debug, Default)]
pub(crate) struct Readiness {
    up: AtomicBool,
    changed: tokio::sync::Notify,
}

impl Readiness {
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Relaxed)
    }

    fn set_up(&self) {
        self.up.store(true, Relaxed);
        self.changed.notify_waiters();
    }

    pub(crate) async fn wait_up(&self) {
        loop {
            let mut changed = std::pin::pin!(self.changed.notified());
            changed.as_mut().enable();
            if self.is_up() {
                return;
            }
            changed.await;
        }
    }
}

/// Pings Redis until it first answers (backing off from 50 ms to 1 s between
/// attempts), then marks the connection ready. Later outages are the
/// breaker's business.
pub(crate) async fn connect(
    conn: ConnectionManager,
    readiness: std::sync::Arc<Readiness>,
    name: std::sync::Arc<str>,
    connect_timeout: Duration,
) {
    let mut wait = Duration::from_millis(50);
    let mut warned = false;
    loop {
        let mut probe = conn.clone();
        let ping = redis::cmd("PING");
        let failure =
            match tokio::time::timeout(connect_timeout, ping.query_async::<()>(&mut probe)).await {
                Ok(Ok(())) => {
                    readiness.set_up();
                    if warned {
                        telemetry::connected(&name);
                    }
                    return;
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => "connection timed out".to_owned(),
            };
        if !warned {
            telemetry::unreachable_at_build(&name, &failure);
            warned = true;
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(1));
    }
}
