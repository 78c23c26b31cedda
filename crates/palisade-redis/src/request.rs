//! [`RedisRequest`]: what can be sent on the shared connection.

use redis::RedisError;
use redis::aio::ConnectionManager;

/// A Redis command, pipeline or script invocation, sent on the multiplexed
/// connection by [`RedisConnection::run`](crate::RedisConnection::run).
pub trait RedisRequest: Sync {
    /// Sends the request and returns the raw reply.
    fn send<'a>(
        &'a self,
        conn: &'a mut ConnectionManager,
    ) -> impl Future<Output = redis::RedisResult<redis::Value>> + Send + 'a;
}

impl RedisRequest for redis::Cmd {
    fn send<'a>(
        &'a self,
        conn: &'a mut ConnectionManager,
    ) -> impl Future<Output = redis::RedisResult<redis::Value>> + Send + 'a {
        self.query_async(conn)
    }
}

impl RedisRequest for redis::Pipeline {
    fn send<'a>(
        &'a self,
        conn: &'a mut ConnectionManager,
    ) -> impl Future<Output = redis::RedisResult<redis::Value>> + Send + 'a {
        self.query_async(conn)
    }
}

/// `EVALSHA`, and on `NOSCRIPT` a `SCRIPT LOAD` and `EVALSHA` again
/// (redis-rs's [`redis::ScriptInvocation::invoke_async`]).
impl RedisRequest for redis::ScriptInvocation<'_> {
    fn send<'a>(
        &'a self,
        conn: &'a mut ConnectionManager,
    ) -> impl Future<Output = redis::RedisResult<redis::Value>> + Send + 'a {
        self.invoke_async(conn)
    }
}

/// An error reply from a live server, as opposed to a connection problem:
/// Redis answered, so it is up.
pub(crate) fn is_server_reply(e: &RedisError) -> bool {
    !(e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error())
}
