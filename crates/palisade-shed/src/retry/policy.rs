use super::{state::Shared, telemetry::Skip};
use crate::Deadline;
use palisade_core::{BoxError, RejectKind, Rejected};
use std::{any::Any, fmt, sync::Arc, time::Duration};
use tokio::time::{Instant, Sleep};
use tower::retry::{Policy, budget::Budget};

/// Which requests may be retried, and how to copy them for another attempt.
pub trait RetrySafe<Req> {
    /// A copy of `req` for a later attempt, or `None` if it must not be retried.
    fn clone_if_safe(&self, req: &Req) -> Option<Req>;
}

/// The default: HTTP requests with an idempotent method (`GET`, `HEAD`,
/// `OPTIONS`, `TRACE`, `PUT`, `DELETE`; RFC 9110 §9.2.2) whose body can be
/// cloned. The copy keeps the method, URI, version, headers and extensions.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdempotentMethods;

impl<B: Clone> RetrySafe<http::Request<B>> for IdempotentMethods {
    fn clone_if_safe(&self, req: &http::Request<B>) -> Option<http::Request<B>> {
        use http::Method;
        let m = req.method();
        let idempotent = m == Method::GET
            || m == Method::HEAD
            || m == Method::OPTIONS
            || m == Method::TRACE
            || m == Method::PUT
            || m == Method::DELETE;
        idempotent.then(|| clone_http(req))
    }
}

fn clone_http<B: Clone>(req: &http::Request<B>) -> http::Request<B> {
    let mut copy = http::Request::new(req.body().clone());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    *copy.extensions_mut() = req.extensions().clone();
    copy
}

/// Requests for which a predicate holds are retried (cloned with `Clone`);
/// from [`RetryBuilder::safe_if`](super::RetryBuilder::safe_if).
#[derive(Clone)]
pub struct SafeIf<F>(pub(crate) F);

impl<F> fmt::Debug for SafeIf<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SafeIf")
    }
}

impl<Req: Clone, F: Fn(&Req) -> bool> RetrySafe<Req> for SafeIf<F> {
    fn clone_if_safe(&self, req: &Req) -> Option<Req> {
        (self.0)(req).then(|| req.clone())
    }
}

/// Whether a response (as opposed to an error) calls for a retry.
pub trait RetryOn<Res> {
    /// `None`: the response is final. `Some(at_least)`: retry, waiting at
    /// least `at_least` (from `Retry-After` or gRPC pushback) if given.
    fn retry_response(&self, res: &Res) -> Option<Option<Duration>>;
}

/// The default: HTTP `502`, `503`, `504` and `429` (honouring `Retry-After`
/// in seconds), and gRPC `UNAVAILABLE` in a trailers-only response
/// (honouring `grpc-retry-pushback-ms`; a negative or malformed pushback
/// means "do not retry", as gRPC specifies). Other responses are final.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpResponses;

impl<B> RetryOn<http::Response<B>> for HttpResponses {
    fn retry_response(&self, res: &http::Response<B>) -> Option<Option<Duration>> {
        let headers = res.headers();
        if let Some(status) = headers.get("grpc-status") {
            // 14 UNAVAILABLE is the one code safe to retry by default.
            if status.as_bytes() != b"14" {
                return None;
            }
            return match headers.get("grpc-retry-pushback-ms") {
                None => Some(None),
                Some(v) => {
                    let ms: u64 = v.to_str().ok()?.trim().parse().ok()?;
                    Some(Some(Duration::from_millis(ms)))
                }
            };
        }
        let code = res.status().as_u16();
        if !matches!(code, 429 | 502 | 503 | 504) {
            return None;
        }
        let after = headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        Some(after)
    }
}

/// Only errors are retried; every response is final. From
/// [`RetryBuilder::errors_only`](super::RetryBuilder::errors_only).
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorsOnly;

impl<Res> RetryOn<Res> for ErrorsOnly {
    fn retry_response(&self, _res: &Res) -> Option<Option<Duration>> {
        None
    }
}

/// Finds a [`Rejected`] in a service error: the error itself, or the
/// source chain of a `BoxError`. Other error types carry none.
fn rejected_in<E: Any>(err: &E) -> Option<&Rejected> {
    let any: &dyn Any = err;
    if let Some(boxed) = any.downcast_ref::<BoxError>() {
        return Rejected::find(boxed);
    }
    any.downcast_ref::<Rejected>()
}

/// The `tower::retry::Policy` of a [`Retry`](super::Retry): one copy per
/// request (tower clones it), sharing the budget and settings.
pub struct RetryPolicy<S = IdempotentMethods, C = HttpResponses> {
    shared: Arc<Shared>,
    safe: S,
    retry_on: C,
    /// Retries made for this request so far.
    retries: u32,
    /// When the current attempt started.
    started: Option<Instant>,
}

impl<S, C> RetryPolicy<S, C> {
    pub(crate) fn new(shared: Arc<Shared>, safe: S, retry_on: C) -> Self {
        Self {
            shared,
            safe,
            retry_on,
            retries: 0,
            started: None,
        }
    }
}

impl<S: Clone, C: Clone> Clone for RetryPolicy<S, C> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            safe: self.safe.clone(),
            retry_on: self.retry_on.clone(),
            retries: self.retries,
            started: self.started,
        }
    }
}

impl<S, C> fmt::Debug for RetryPolicy<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("name", &self.shared.name)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

impl<S, C> RetryPolicy<S, C> {
    /// Whether (and how long to wait before) a failed attempt is retried.
    fn decide(&mut self, at_least: Option<Duration>) -> Option<Duration> {
        let shared = &*self.shared;
        let next = self.retries + 1;
        if next > shared.settings.max_retries {
            shared.telemetry.skipped(&shared.name, Skip::Exhausted);
            return None;
        }
        let wait = shared.backoff(next).max(at_least.unwrap_or_default());
        if let Some(deadline) = Deadline::current() {
            // The next attempt is expected to take as long as the last one
            // (at least `min_attempt_time`); it must fit after the wait.
            let now = Instant::now();
            let last = self.started.map_or(Duration::ZERO, |s| now - s);
            let needed = wait.saturating_add(last.max(shared.settings.min_attempt_time));
            if deadline.instant().saturating_duration_since(now) <= needed {
                shared.telemetry.skipped(&shared.name, Skip::Deadline);
                return None;
            }
        }
        if !shared.budget.withdraw() {
            shared.telemetry.skipped(&shared.name, Skip::Budget);
            return None;
        }
        self.retries = next;
        shared.telemetry.retrying(&shared.name, next, wait);
        Some(wait)
    }
}

impl<Req, Res, E, S, C> Policy<Req, Res, E> for RetryPolicy<S, C>
where
    S: RetrySafe<Req>,
    C: RetryOn<Res>,
    E: Any,
{
    type Future = Sleep;

    fn retry(&mut self, _req: &mut Req, result: &mut Result<Res, E>) -> Option<Sleep> {
        let at_least = match result {
            Ok(res) => self.retry_on.retry_response(res)?,
            Err(err) => match rejected_in(err) {
                None => None,
                Some(r) => {
                    let final_ = match r.kind() {
                        RejectKind::CircuitOpen => self.shared.is_own_breaker(r.name()),
                        RejectKind::DeadlineExceeded | RejectKind::Closed => true,
                        _ => false,
                    };
                    if final_ {
                        self.shared
                            .telemetry
                            .skipped(&self.shared.name, Skip::Final);
                        return None;
                    }
                    r.retry_after()
                }
            },
        };
        let wait = self.decide(at_least)?;
        Some(tokio::time::sleep(wait))
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        if self.retries == 0 {
            // Each request (not each attempt) earns the budget its share.
            self.shared.budget.deposit();
        }
        self.started = Some(Instant::now());
        self.safe.clone_if_safe(req)
    }
}
