//! What happens to the response of a call that may be stored: look at the
//! head, buffer the body up to the limit, store, share with the waiters;
//! 304s freshen the stored response; cache answers to conditional and range
//! requests.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::{Duration, SystemTime},
};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header, response::Parts};
use http_body::Body;
use palisade_core::BoxError;
use tokio::time::Instant;

use super::{
    CacheBody, HttpState, HttpValue, Stored,
    key::variant_suffix,
    policy::{self, Answer, Decided, Defaults, Scan, Times, X_CACHE_NAME, x_cache},
};
use crate::{
    entry::SharedEntry, flight::Phase, l1::PendingInsert, leader::LeadGuard, policy::Decision,
    telemetry::Event,
};

/// What a leading (or own) call needs besides its response.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub(crate) state: Arc<HttpState>,
    pub(crate) defaults: Arc<Defaults>,
    /// The key without variant (authority + path + query).
    pub(crate) base: Bytes,
    /// The request's headers as the client sent them: the variant key is
    /// built from them, and its conditionals are answered with them.
    pub(crate) req_headers: HeaderMap,
    /// What was read from the request.
    pub(crate) scan: Scan,
    /// When the request was made (wall clock, for the response's age).
    pub(crate) request_time: SystemTime,
    /// Answer with no body (the request was HEAD).
    pub(crate) head: bool,
}

pub(crate) type Guard = LeadGuard<Bytes, HttpValue>;

/// The next step after the response head.
pub(crate) enum Step<B, E> {
    Done(Result<Response<CacheBody<B>>, E>),
    Buffer {
        parts: Parts,
        body: B,
        decided: Decided,
    },
}

/// A response built from a stored one (the body is shared, not copied).
/// `age`: the time it has been stored; the `Age` sent adds the age it had
/// when it arrived (RFC 9111 §4.2.3).
pub(crate) fn respond<B>(
    stored: &Stored,
    head: bool,
    x: HeaderValue,
    age: Option<Duration>,
) -> Response<CacheBody<B>> {
    if !head
        && let Some(age) = age
        && x == x_cache::HIT
    {
        // A hit on GET: the precomputed hit headers (same headers, same
        // order as below).
        let mut resp = Response::new(CacheBody::full(stored.body.clone()));
        *resp.status_mut() = stored.status;
        let headers = resp.headers_mut();
        *headers = stored.hit_headers.clone();
        // The slot is always there (`Stored::new`): overwrite it in place.
        if let Some(slot) = headers.get_mut(header::AGE) {
            *slot = policy::age_value(age.saturating_add(stored.initial_age));
        }
        return resp;
    }
    let body = if head {
        CacheBody::empty()
    } else {
        CacheBody::full(stored.body.clone())
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = stored.status;
    *resp.headers_mut() = stored.headers.clone();
    if head && !resp.headers().contains_key(header::CONTENT_LENGTH) {
        // HEAD carries the length GET would have.
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(stored.body.len()));
    }
    resp.headers_mut().insert(X_CACHE_NAME, x);
    if let Some(age) = age {
        resp.headers_mut().insert(
            header::AGE,
            policy::age_value(age.saturating_add(stored.initial_age)),
        );
    }
    resp
}

/// A response built from a stored one for a request that may be
/// conditional or ask for a range: 304, 206, 416 or the full response.
pub(crate) fn answer<B>(
    stored: &Stored,
    head: bool,
    x: HeaderValue,
    age: Option<Duration>,
    req: &HeaderMap,
) -> Response<CacheBody<B>> {
    let len = stored.body.len();
    match policy::evaluate(stored.status, &stored.headers, len, req, head) {
        Answer::Full => respond(stored, head, x, age),
        Answer::NotModified => {
            let mut resp = respond(stored, true, x, age);
            *resp.status_mut() = StatusCode::NOT_MODIFIED;
            resp.headers_mut().remove(header::CONTENT_LENGTH);
            resp
        }
        Answer::Range(first, last) => {
            let mut resp = respond(stored, true, x, age);
            // `evaluate` keeps `first <= last < len`.
            let (a, b) = (
                usize::try_from(first).unwrap_or(len),
                usize::try_from(last).unwrap_or(len),
            );
            if let Some(slice) = stored.body.get(a..=b) {
                *resp.body_mut() = CacheBody::full(stored.body.slice_ref(slice));
            }
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            let h = resp.headers_mut();
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(last - first + 1));
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {first}-{last}/{len}")) {
                h.insert(header::CONTENT_RANGE, v);
            }
            resp
        }
        Answer::Unsatisfiable => {
            let mut resp = respond(stored, true, x, age);
            *resp.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            let h = resp.headers_mut();
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                h.insert(header::CONTENT_RANGE, v);
            }
            resp
        }
    }
}

/// The answer when the cache itself cannot answer (the upstream's body
/// failed while buffered, a shared upstream failure, a lost take-over):
/// `502 Bad Gateway`, so the layer adds no error type of its own.
pub(crate) fn error_response<B>() -> Response<CacheBody<B>> {
    status_response(StatusCode::BAD_GATEWAY)
}

/// The answer to a waiter whose leader's call failed: `500` when the handler
/// panicked (what the leader's own client sees from hyper or axum), `502`
/// for any other failure shared with it.
pub(crate) fn shared_failure_response<B>(err: &BoxError) -> Response<CacheBody<B>> {
    let panicked = err
        .downcast_ref::<crate::error::SharedError>()
        .is_some_and(|shared| shared.inner().is::<crate::error::CallPanicked>())
        || err.is::<crate::error::CallPanicked>();
    if panicked {
        status_response(StatusCode::INTERNAL_SERVER_ERROR)
    } else {
        error_response()
    }
}

fn status_response<B>(status: StatusCode) -> Response<CacheBody<B>> {
    let mut resp = Response::new(CacheBody::empty());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    resp.headers_mut().insert(X_CACHE_NAME, x_cache::MISS);
    resp
}

/// Whether a stored entry may answer a failed fetch at `now`: within the
/// stale-if-error window the response allows (a stored lifetime kept for
/// validation does not count).
pub(crate) fn usable_on_error(entry: &SharedEntry<HttpValue>, d: &Defaults, now: Instant) -> bool {
    let HttpValue::Response(stored) = &entry.value else {
        return false;
    };
    let window = policy::stale_if_error(&stored.headers, d);
    entry.age(now) < entry.lifetime.ttl.saturating_add(window)
}

/// Removes the client's own conditionals and range (the cache evaluates
/// them on the stored response) and, when a stored response is to be
/// validated, adds its validators (RFC 9111 §4.3.1).
pub(crate) fn prepare<ReqB>(req: &mut Request<ReqB>, stale: Option<&SharedEntry<HttpValue>>) {
    let h = req.headers_mut();
    for name in [
        header::IF_NONE_MATCH,
        header::IF_MODIFIED_SINCE,
        header::RANGE,
        header::IF_RANGE,
    ] {
        h.remove(name);
    }
    add_validators(h, stale);
}

/// Adds `If-None-Match` / `If-Modified-Since` from a stored response.
pub(crate) fn add_validators(h: &mut HeaderMap, stale: Option<&SharedEntry<HttpValue>>) {
    let Some(HttpValue::Response(stored)) = stale.map(|s| &s.value) else {
        return;
    };
    if let Some(etag) = stored.headers.get(header::ETAG) {
        h.insert(header::IF_NONE_MATCH, etag.clone());
    }
    if let Some(lm) = stored.headers.get(header::LAST_MODIFIED) {
        h.insert(header::IF_MODIFIED_SINCE, lm.clone());
    }
}

pub(crate) fn stale_response<B>(
    entry: &SharedEntry<HttpValue>,
    ctx: &Ctx,
) -> Option<Response<CacheBody<B>>> {
    match &entry.value {
        HttpValue::Response(stored) => Some(answer(
            stored,
            ctx.head,
            x_cache::STALE,
            Some(entry.age(Instant::now())),
            &ctx.req_headers,
        )),
        HttpValue::Vary(_) => None,
    }
}

fn mark<B>(mut resp: Response<B>, x: HeaderValue) -> Response<B> {
    resp.headers_mut().insert(X_CACHE_NAME, x);
    resp
}

fn stream<B>(resp: Response<B>, head: bool) -> Response<CacheBody<B>> {
    let resp = resp.map(|b| {
        if head {
            CacheBody::empty()
        } else {
            CacheBody::inner(b)
        }
    });
    mark(resp, x_cache::MISS)
}

/// The stale fallback of the lead, if it may answer a failure now.
fn usable_stale(ctx: &Ctx, guard: Option<&Guard>) -> Option<SharedEntry<HttpValue>> {
    let stale = guard?.stale.as_ref()?;
    usable_on_error(stale, &ctx.defaults, Instant::now()).then(|| Arc::clone(stale))
}

/// Ends a failed lead: the stale response if one may answer (also to the
/// waiters), else the failure is shared with the waiters (`None`).
fn fail<B>(ctx: &Ctx, guard: Option<Guard>, err: BoxError) -> Option<Response<CacheBody<B>>> {
    let mut guard = guard?;
    if usable_stale(ctx, Some(&guard)).is_none() {
        guard.stale = None;
    }
    match guard.complete(Err(err)) {
        Ok(HttpValue::Response(stored)) => Some(answer(
            &stored,
            ctx.head,
            x_cache::STALE,
            None,
            &ctx.req_headers,
        )),
        Ok(HttpValue::Vary(_)) | Err(_) => None,
    }
}

/// Decides on the response head.
pub(crate) fn on_head<B, E>(
    ctx: &Ctx,
    guard: Option<Guard>,
    result: Result<Response<B>, E>,
) -> (Step<B, E>, Option<Guard>)
where
    B: Body<Data = Bytes>,
{
    let resp = match result {
        Ok(resp) => resp,
        Err(err) => {
            let out = match fail(ctx, guard, "the inner service failed".into()) {
                Some(stale) => Ok(stale),
                None => Err(err),
            };
            return (Step::Done(out), None);
        }
    };
    let times = Times {
        request: ctx.request_time,
        response: SystemTime::now(),
    };
    if guard.as_ref().is_some_and(|g| g.background) && resp.status().is_server_error() {
        ctx.state.recorder.record(Event::RefreshFailure);
    }
    if resp.status().is_server_error()
        && let Some(stale) = usable_stale(ctx, guard.as_ref())
        && let Some(out) = stale_response(&stale, ctx)
    {
        ctx.state.recorder.record(Event::StaleIfError);
        if let Some(guard) = guard {
            guard.finish_phase(Phase::Done(Ok(stale.value.clone())));
        }
        return (Step::Done(Ok(out)), None);
    }
    if resp.status() == StatusCode::NOT_MODIFIED
        && let Some(stale) = guard.as_ref().and_then(|g| g.stale.clone())
        && let HttpValue::Response(old) = &stale.value
    {
        return (
            Step::Done(Ok(freshen(ctx, guard, old, resp.headers(), times))),
            None,
        );
    }
    let Some(decided) = policy::decide(
        resp.status(),
        resp.headers(),
        ctx.scan.authorized,
        &ctx.defaults,
        times,
    ) else {
        if let Some(guard) = guard {
            guard.finish_phase(Phase::Pass);
        }
        return (Step::Done(Ok(stream(resp, ctx.head))), None);
    };
    let limit = ctx.defaults.max_body_bytes as u64;
    let declared = resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) || resp.body().size_hint().lower() > limit {
        if let Some(guard) = guard {
            guard.finish_phase(Phase::Pass);
        }
        return (Step::Done(Ok(stream(resp, ctx.head))), None);
    }
    let (parts, body) = resp.into_parts();
    (
        Step::Buffer {
            parts,
            body,
            decided,
        },
        guard,
    )
}

/// A 304 to a validation: the stored response with the 304's headers
/// (RFC 9111 §3.2, §4.3.4), stored again with the freshness they give, and
/// the client gets the stored body.
fn freshen<B>(
    ctx: &Ctx,
    guard: Option<Guard>,
    old: &Stored,
    fresh: &HeaderMap,
    times: Times,
) -> Response<CacheBody<B>> {
    let mut headers = policy::merge_304(&old.headers, fresh);
    let decided = policy::decide(
        old.status,
        &headers,
        ctx.scan.authorized,
        &ctx.defaults,
        times,
    );
    policy::strip_for_storage(&mut headers);
    let stored = Stored::new(
        old.status,
        headers,
        old.body.clone(),
        old.variant.clone(),
        decided.map_or(Duration::ZERO, |d| d.initial_age),
    );
    let out = answer(
        &stored,
        ctx.head,
        x_cache::REVALIDATED,
        None,
        &ctx.req_headers,
    );
    match (decided, guard) {
        (Some(decided), guard) => {
            let (stored, pending) = store(ctx, stored, decided);
            match guard {
                Some(guard) => guard.finish_stored(HttpValue::Response(stored), pending),
                None => finish_detached(pending),
            }
        }
        (None, Some(guard)) => guard.finish_phase(Phase::Pass),
        (None, None) => {}
    }
    out
}

/// A body being read up to the limit.
#[derive(Debug, Default)]
pub(crate) struct Buffered {
    chunks: Vec<Bytes>,
    len: usize,
    trailers: Option<HeaderMap>,
}

pub(crate) enum Buffering {
    Complete,
    TooBig,
    Failed(BoxError),
}

pub(crate) fn poll_buffer<B>(
    mut body: Pin<&mut B>,
    buf: &mut Buffered,
    limit: usize,
    cx: &mut Context<'_>,
) -> Poll<Buffering>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    loop {
        match ready!(body.as_mut().poll_frame(cx)) {
            None => return Poll::Ready(Buffering::Complete),
            Some(Err(err)) => return Poll::Ready(Buffering::Failed(err.into())),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    buf.len += data.len();
                    buf.chunks.push(data);
                    if buf.len > limit {
                        return Poll::Ready(Buffering::TooBig);
                    }
                }
                Err(frame) => {
                    if let Ok(t) = frame.into_trailers() {
                        buf.trailers = Some(t);
                    }
                }
            },
        }
    }
}

/// After buffering: store and share, or stream what was read and the rest.
/// A body that failed while buffered: the stale response if one may
/// answer, else a 502 (and the waiters get the failure).
pub(crate) fn on_buffered<B>(
    ctx: &Ctx,
    guard: Option<Guard>,
    parts: Parts,
    body: Pin<Box<B>>,
    buf: Buffered,
    outcome: Buffering,
    decided: Decided,
) -> Response<CacheBody<B>> {
    let complete = match outcome {
        Buffering::Failed(err) => {
            return fail(ctx, guard, err).unwrap_or_else(error_response);
        }
        Buffering::Complete => true,
        Buffering::TooBig => false,
    };
    if !complete || buf.trailers.is_some() {
        // Not stored: too big, or with trailers (not kept by this cache).
        if let Some(guard) = guard {
            guard.finish_phase(Phase::Pass);
        }
        let body = if ctx.head {
            CacheBody::empty()
        } else {
            CacheBody::prefixed(buf.chunks, buf.trailers, body, complete)
        };
        return mark(Response::from_parts(parts, body), x_cache::MISS);
    }
    let body = match buf.chunks.len() {
        0 => Bytes::new(),
        1 => buf.chunks.into_iter().next().unwrap_or_default(),
        _ => {
            let mut all = BytesMut::with_capacity(buf.len);
            for c in buf.chunks {
                all.extend_from_slice(&c);
            }
            all.freeze()
        }
    };
    let mut headers = parts.headers;
    policy::strip_for_storage(&mut headers);
    let names = policy::key_names(&headers, &ctx.defaults).unwrap_or_default();
    let suffix = variant_suffix(&names, &ctx.req_headers);
    let stored = Stored::new(parts.status, headers, body, suffix, decided.initial_age);
    let resp = answer(&stored, ctx.head, x_cache::MISS, None, &ctx.req_headers);
    let (stored, pending) = store(ctx, stored, decided);
    if let Some(guard) = guard {
        guard.finish_stored(HttpValue::Response(stored), pending);
    } else {
        finish_detached(pending);
    }
    resp
}

/// Finishes L1 inserts no flight waits for.
fn finish_detached(pending: Vec<PendingInsert>) {
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        for insert in pending {
            handle.spawn(insert);
        }
    }
}

/// Stores a complete response (and the `Vary` marker for its URL when its
/// key has request headers). Returns it and the L1 inserts that did not
/// complete at once.
fn store(ctx: &Ctx, stored: Stored, decided: Decided) -> (Arc<Stored>, Vec<PendingInsert>) {
    let now = Instant::now();
    let names = policy::key_names(&stored.headers, &ctx.defaults).unwrap_or_default();
    let mut decision = policy::decision(decided.lifetime, &stored.headers, stored.body.len());
    if !ctx.defaults.by_bytes {
        decision.weight = 1;
    }
    let stored = Arc::new(stored);
    let state = &ctx.state;
    let mut pending = Vec::new();
    if names.is_empty() {
        pending.extend(state.store_decided(
            &ctx.base,
            HttpValue::Response(Arc::clone(&stored)),
            decision,
            now,
            true,
        ));
    } else {
        let marker = Decision {
            lifetime: decided.lifetime,
            tags: Box::new([]),
            weight: 1,
        };
        pending.extend(state.store_decided(
            &ctx.base,
            HttpValue::Vary(names.into()),
            marker,
            now,
            true,
        ));
        let mut key = BytesMut::with_capacity(ctx.base.len() + stored.variant.len());
        key.extend_from_slice(&ctx.base);
        key.extend_from_slice(stored.variant.as_bytes());
        pending.extend(state.store_decided(
            &key.freeze(),
            HttpValue::Response(Arc::clone(&stored)),
            decision,
            now,
            true,
        ));
    }
    (stored, pending)
}

/// The whole lead, as one async fn, for calls made in the background
/// (refreshes, take-overs, own calls after a pass).
pub(crate) async fn lead_async<F, B, E>(
    ctx: Ctx,
    guard: Option<Guard>,
    fut: F,
) -> Result<Response<CacheBody<B>>, E>
where
    F: std::future::Future<Output = Result<Response<B>, E>>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let result = fut.await;
    match on_head(&ctx, guard, result) {
        (Step::Done(out), _) => out,
        (
            Step::Buffer {
                parts,
                body,
                decided,
            },
            guard,
        ) => {
            let mut body = Box::pin(body);
            let mut buf = Buffered::default();
            let limit = ctx.defaults.max_body_bytes;
            let outcome =
                std::future::poll_fn(|cx| poll_buffer(body.as_mut(), &mut buf, limit, cx)).await;
            Ok(on_buffered(&ctx, guard, parts, body, buf, outcome, decided))
        }
    }
}
