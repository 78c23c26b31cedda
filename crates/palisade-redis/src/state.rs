//! [`ConnectionState`]: what every clone of a `RedisConnection` shares.

use std::sync::Arc;
use std::time::Duration;

use palisade_breaker::CircuitBreaker;
use redis::aio::ConnectionManager;
use tokio::task::AbortHandle;

use crate::gate::Gate;
use crate::readiness::Readiness;

/// The multiplexed connection, its client, timeout, breaker, gate and
/// readiness, shared by every clone of one `RedisConnection`.
#[derive(Debug)]
pub(crate) struct ConnectionState {
    pub(crate) name: Arc<str>,
    pub(crate) client: redis::Client,
    pub(crate) conn: ConnectionManager,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) breaker: CircuitBreaker,
    /// Remembers how long the open breaker will refuse, to skip at once.
    pub(crate) gate: Gate,
    /// Set once Redis first answered (by the connector task).
    pub(crate) readiness: Arc<Readiness>,
    pub(crate) connector: AbortHandle,
}

impl Drop for ConnectionState {
    fn drop(&mut self) {
        self.connector.abort();
    }
}
