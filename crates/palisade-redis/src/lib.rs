//! The Redis connection Palisade's layers share: `palisade-cache`'s
//! `RedisStore` (its L2) and `palisade-shed`'s cluster-wide `RateLimit`
//! both run on a [`RedisConnection`].
//!
//! - **Multiplexed and self-reconnecting**: one redis-rs
//!   [`ConnectionManager`] for every clone; cheap to clone.
//! - **Never waits for Redis at start-up**:
//!   [`build`](RedisConnectionBuilder::build) returns at once and a
//!   background task pings Redis until it first answers (backing off from
//!   50 ms to 1 s). Until then the connection is
//!   [unavailable](RedisConnection::available), so users skip it at no
//!   cost; [`connected`](RedisConnection::connected) waits for it.
//! - **Guarded**: every operation ([`run`](RedisConnection::run)) has the
//!   configured timeout and reports its outcome to a
//!   [`palisade_breaker::CircuitBreaker`]; after repeated failures Redis is
//!   skipped ([`admit`](RedisConnection::admit) returns `None` with one
//!   atomic load and a clock read) until the breaker is due for a probe.
//!   An error *reply* from a live server (a wrong type, a script error) is
//!   not a failure of Redis: it is `Ignored` by the breaker.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use palisade_redis::RedisConnection;
//!
//! let redis = RedisConnection::builder("redis://127.0.0.1:6379")
//!     .name("sessions")
//!     .timeout(Duration::from_millis(20))
//!     .build()?;                      // Redis down? Still Ok
//! redis.connected(Duration::from_secs(1)).await;
//! if let Some(permit) = redis.admit() {
//!     let mut cmd = redis::cmd("INCR");
//!     cmd.arg("palisade:example:hits");
//!     let hits: Result<u64, _> = redis.run(permit, &cmd).await;
//!     println!("{hits:?}");
//! }
//! # Ok(()) }
//! ```
//!
//! # Contributor notes
//!
//! One building block, so its files sit directly in `src/`: `lib.rs` holds
//! the handle ([`RedisConnection`]), `builder.rs` its validated builder,
//! `state.rs` what the clones share (`ConnectionState`), `gate.rs` the
//! breaker-guarded gate, `readiness.rs` the first-answer flag and the
//! background connector, `request.rs` what can be sent ([`RedisRequest`]),
//! `error.rs` [`RedisFailure`] and `telemetry.rs` the `tracing` events.
//! Lower modules never import `lib.rs` except `builder.rs`, which makes
//! the handle.

#![cfg_attr(docsrs, feature(doc_cfg))]

/// The README's code, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

mod builder;
mod error;
mod gate;
mod readiness;
mod request;
mod state;
mod telemetry;

pub use builder::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, RedisConnectionBuilder};
pub use error::RedisFailure;
pub use palisade_breaker::Permit;
/// The redis-rs crate this connection runs on, for building requests.
pub use redis;
pub use request::RedisRequest;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use palisade_breaker::CircuitBreaker;
use palisade_core::Outcome;
use redis::FromRedisValue;
use redis::aio::ConnectionManager;

use request::is_server_reply;
use state::ConnectionState;

/// A shared, guarded Redis connection; see the [crate docs](crate).
///
/// Cheap to clone: clones share one multiplexed connection, one breaker and
/// one connector task (stopped when the last clone is dropped).
#[derive(Clone)]
pub struct RedisConnection {
    state: Arc<ConnectionState>,
}

impl RedisConnection {
    /// Starts configuring a connection to the Redis at `url`
    /// (`redis://[user:password@]host:port[/db]`).
    pub fn builder(url: impl Into<String>) -> RedisConnectionBuilder {
        RedisConnectionBuilder::new(url.into())
    }

    /// The name given at build time.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// The per-operation timeout.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.state.timeout
    }

    /// The connection timeout.
    #[must_use]
    pub fn connect_timeout(&self) -> Duration {
        self.state.connect_timeout
    }

    /// The breaker that decides when Redis is skipped (for its state and
    /// snapshot; forcing it open turns Redis off for every user).
    #[must_use]
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.state.breaker
    }

    /// The redis-rs client, for what needs a connection of its own (a
    /// pub/sub subscription).
    #[must_use]
    pub fn client(&self) -> &redis::Client {
        &self.state.client
    }

    /// A handle on the multiplexed connection itself, unguarded (no
    /// timeout, no breaker): for benchmarks and one-off administration.
    #[must_use]
    pub fn manager(&self) -> ConnectionManager {
        self.state.conn.clone()
    }

    /// Whether Redis has answered since the connection was built.
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.state.readiness.is_up()
    }

    /// Waits until Redis first answers, for at most `within`; returns
    /// whether it did. [`build`](RedisConnectionBuilder::build) never
    /// waits: an application that wants Redis from its very first request
    /// awaits this at start-up.
    pub async fn connected(&self, within: Duration) -> bool {
        tokio::time::timeout(within, self.state.readiness.wait_up())
            .await
            .is_ok()
    }

    /// Whether asking Redis is worth it now: `false` until Redis first
    /// answered, and while the breaker is forced open, or open and not yet
    /// due for a probe. Two atomic loads when closed, no clock read.
    #[inline]
    #[must_use]
    pub fn available(&self) -> bool {
        self.state.readiness.is_up() && self.state.gate.available(&self.state.breaker)
    }

    /// A permit to send one guarded operation, or `None` while the breaker
    /// refuses (then skip Redis).
    #[inline]
    #[must_use]
    pub fn admit(&self) -> Option<Permit> {
        self.state.gate.admit(&self.state.breaker)
    }

    /// Sends `request` with the timeout and records its outcome on the
    /// breaker through `permit` (from [`admit`](Self::admit)): a timeout or
    /// connection error is a failure; an error reply from a live server, or
    /// a reply that does not convert to `T`, is ignored.
    ///
    /// # Errors
    ///
    /// [`RedisFailure::Timeout`], or [`RedisFailure::Error`] with the error.
    pub async fn run<T: FromRedisValue>(
        &self,
        permit: Permit,
        request: &(impl RedisRequest + ?Sized),
    ) -> Result<T, RedisFailure> {
        let mut conn = self.state.conn.clone();
        match tokio::time::timeout(self.state.timeout, request.send(&mut conn)).await {
            Ok(Ok(value)) => match T::from_redis_value(value) {
                Ok(v) => {
                    permit.record(Outcome::Success);
                    Ok(v)
                }
                Err(e) => {
                    // Redis answered: it is alive, the reply was unexpected.
                    permit.record(Outcome::Ignored);
                    Err(RedisFailure::Error(e.into()))
                }
            },
            Ok(Err(e)) => {
                permit.record(if is_server_reply(&e) {
                    Outcome::Ignored
                } else {
                    Outcome::Failure
                });
                Err(RedisFailure::Error(e))
            }
            Err(_) => {
                permit.record(Outcome::Failure);
                Err(RedisFailure::Timeout)
            }
        }
    }

    /// Like [`run`](Self::run), without a breaker permit and discarding the
    /// reply: for rare operations worth attempting even when Redis looked
    /// dead (a cache invalidation).
    ///
    /// # Errors
    ///
    /// [`RedisFailure::Timeout`], or [`RedisFailure::Error`] with the error.
    pub async fn run_unguarded(
        &self,
        request: &(impl RedisRequest + ?Sized),
    ) -> Result<(), RedisFailure> {
        let mut conn = self.state.conn.clone();
        match tokio::time::timeout(self.state.timeout, request.send(&mut conn)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(RedisFailure::Error(e)),
            Err(_) => Err(RedisFailure::Timeout),
        }
    }
}

impl fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConnection")
            .field("name", &self.state.name)
            .field("timeout", &self.state.timeout)
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}
