//! What happens to the response of a call that may be stored: look at the
//! head, buffer the body up to the limit, store, share with the waiters.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Response, header, response::Parts};
use http_body::Body;
use palisade_core::BoxError;
use tokio::time::Instant;

use super::{
    CacheBody, HttpCore, HttpValue, Stored,
    key::variant_suffix,
    policy::{self, Defaults, X_CACHE, x_cache},
};
use crate::{
    core::LeadGuard,
    entry::{Lifetime, SharedEntry},
    flight::Phase,
    l1::PendingInsert,
    stats::Event,
};

/// What a leading (or own) call needs besides its response.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub(crate) core: Arc<HttpCore>,
    pub(crate) defaults: Arc<Defaults>,
    /// The key without variant (authority + path + query).
    pub(crate) base: Bytes,
    /// The request's headers, to build the variant key from `Vary`.
    pub(crate) req_headers: HeaderMap,
    /// Answer with no body (the request was HEAD).
    pub(crate) head: bool,
}

pub(crate) type Guard = LeadGuard<Bytes, HttpValue>;

/// The next step after the response head.
pub(crate) enum Step<B> {
    Done(Result<Response<CacheBody<B>>, BoxError>),
    Buffer {
        parts: Parts,
        body: B,
        lifetime: Lifetime,
    },
}

/// A response built from a stored one (the body is shared, not copied).
pub(crate) fn respond<B>(
    stored: &Stored,
    head: bool,
    x: HeaderValue,
    age: Option<std::time::Duration>,
) -> Response<CacheBody<B>> {
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
    resp.headers_mut().insert(X_CACHE, x);
    if let Some(age) = age {
        resp.headers_mut()
            .insert(header::AGE, policy::age_value(age));
    }
    resp
}

pub(crate) fn stale_response<B>(
    entry: &SharedEntry<HttpValue>,
    head: bool,
) -> Option<Response<CacheBody<B>>> {
    match &entry.value {
        HttpValue::Response(stored) => Some(respond(
            stored,
            head,
            x_cache::STALE,
            Some(entry.age(Instant::now())),
        )),
        HttpValue::Vary(_) => None,
    }
}

fn mark<B>(mut resp: Response<B>, x: HeaderValue) -> Response<B> {
    resp.headers_mut().insert(X_CACHE, x);
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

/// Ends the flight (if any) with the stale entry, or lets waiters call on
/// their own.
fn serve_stale_or_pass<B>(
    ctx: &Ctx,
    guard: Option<Guard>,
    resp: Response<B>,
) -> Result<Response<CacheBody<B>>, BoxError> {
    let stale = guard.as_ref().and_then(|g| g.stale.clone());
    let now = Instant::now();
    if guard.as_ref().is_some_and(|g| g.background) {
        ctx.core.recorder.record(Event::RefreshFailure);
    }
    if let Some(stale) = stale.filter(|s| s.usable_on_error(now))
        && let Some(out) = stale_response(&stale, ctx.head)
    {
        ctx.core.recorder.record(Event::StaleIfError);
        if let Some(guard) = guard {
            guard.finish_phase(Phase::Done(Ok(stale.value.clone())));
        }
        return Ok(out);
    }
    if let Some(guard) = guard {
        guard.finish_phase(Phase::Pass);
    }
    Ok(stream(resp, ctx.head))
}

/// Decides on the response head.
pub(crate) fn on_head<B>(
    ctx: &Ctx,
    guard: Option<Guard>,
    result: Result<Response<B>, BoxError>,
) -> (Step<B>, Option<Guard>)
where
    B: Body<Data = Bytes>,
{
    let resp = match result {
        Ok(resp) => resp,
        Err(err) => {
            let out = match guard {
                Some(guard) => match guard.complete(Err(err)) {
                    Ok(HttpValue::Response(stored)) => {
                        Ok(respond(&stored, ctx.head, x_cache::STALE, None))
                    }
                    Ok(HttpValue::Vary(_)) => Err("cache: vary marker served".into()),
                    Err(err) => Err(err),
                },
                None => Err(err),
            };
            return (Step::Done(out), None);
        }
    };
    if resp.status().is_server_error() {
        return (Step::Done(serve_stale_or_pass(ctx, guard, resp)), None);
    }
    let Some(lifetime) = policy::decide(resp.status(), resp.headers(), &ctx.defaults) else {
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
            lifetime,
        },
        guard,
    )
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
pub(crate) fn on_buffered<B>(
    ctx: &Ctx,
    guard: Option<Guard>,
    parts: Parts,
    body: Pin<Box<B>>,
    buf: Buffered,
    outcome: Buffering,
    lifetime: Lifetime,
) -> Result<Response<CacheBody<B>>, BoxError> {
    let complete = match outcome {
        Buffering::Failed(err) => {
            return match guard {
                Some(guard) => match guard.complete(Err(err)) {
                    Ok(HttpValue::Response(stored)) => {
                        Ok(respond(&stored, ctx.head, x_cache::STALE, None))
                    }
                    Ok(HttpValue::Vary(_)) => Err("cache: vary marker served".into()),
                    Err(err) => Err(err),
                },
                None => Err(err),
            };
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
        return Ok(mark(Response::from_parts(parts, body), x_cache::MISS));
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
    let (stored, pending) = store(ctx, parts, body, lifetime);
    let resp = respond(&stored, ctx.head, x_cache::MISS, None);
    if let Some(guard) = guard {
        guard.finish_stored(HttpValue::Response(stored), pending);
    } else {
        finish_detached(pending);
    }
    Ok(resp)
}

/// Finishes L1 inserts no flight waits for.
fn finish_detached(pending: Vec<PendingInsert>) {
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        for insert in pending {
            handle.spawn(insert);
        }
    }
}

/// Stores a complete response (and the `Vary` marker for its URL). Returns
/// it and the L1 inserts that did not complete at once.
fn store(
    ctx: &Ctx,
    parts: Parts,
    body: Bytes,
    lifetime: Lifetime,
) -> (Arc<Stored>, Vec<PendingInsert>) {
    let now = Instant::now();
    let mut headers = parts.headers;
    policy::strip_for_storage(&mut headers);
    let names = policy::vary_names(&headers).unwrap_or_default();
    let suffix = variant_suffix(&names, &ctx.req_headers);
    let mut decision = policy::decision(lifetime, &headers, body.len());
    if !ctx.defaults.by_bytes {
        decision.weight = 1;
    }
    let stored = Arc::new(Stored {
        status: parts.status,
        headers,
        body,
        variant: suffix.clone(),
    });
    let core = &ctx.core;
    let mut pending = Vec::new();
    if names.is_empty() {
        pending.extend(core.store_decided(
            &ctx.base,
            HttpValue::Response(Arc::clone(&stored)),
            decision,
            now,
            true,
        ));
    } else {
        let marker = crate::core::Decision {
            lifetime,
            tags: Box::new([]),
            weight: 1,
        };
        pending.extend(core.store_decided(
            &ctx.base,
            HttpValue::Vary(names.into()),
            marker,
            now,
            true,
        ));
        let mut key = BytesMut::with_capacity(ctx.base.len() + suffix.len());
        key.extend_from_slice(&ctx.base);
        key.extend_from_slice(suffix.as_bytes());
        pending.extend(core.store_decided(
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
) -> Result<Response<CacheBody<B>>, BoxError>
where
    F: std::future::Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let result = fut.await.map_err(Into::into);
    match on_head(&ctx, guard, result) {
        (Step::Done(out), _) => out,
        (
            Step::Buffer {
                parts,
                body,
                lifetime,
            },
            guard,
        ) => {
            let mut body = Box::pin(body);
            let mut buf = Buffered::default();
            let limit = ctx.defaults.max_body_bytes;
            let outcome =
                std::future::poll_fn(|cx| poll_buffer(body.as_mut(), &mut buf, limit, cx)).await;
            on_buffered(&ctx, guard, parts, body, buf, outcome, lifetime)
        }
    }
}
