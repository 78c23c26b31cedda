//! [`HttpResponseFuture`].

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use http::{Request, Response, response::Parts};
use http_body::Body;
use palisade_core::BoxError;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::{
    CacheBody, HttpState, HttpValue,
    background::{ReplyRx, submit},
    invalidate::{Target, invalidate},
    key::variant_suffix,
    l2::{HttpL2Lookup, fill_from_l2},
    lead::{
        Buffered, Ctx, Guard, Step, answer, error_response, on_buffered, on_head, poll_buffer,
        shared_failure_response,
    },
    policy::{Decided, X_CACHE_NAME, key_names, x_cache},
};
use crate::{
    leader::guarded,
    waiter::{Waited, Waiter},
    worker::Background,
};

type Out<B, E> = Result<Response<CacheBody<B>>, E>;

pin_project! {
    /// The response future of [`HttpCacheService`](super::HttpCacheService).
    pub struct HttpResponseFuture<S: Service<Request<ReqB>>, ReqB, ResB> {
        #[pin]
        state: State<S, ReqB, ResB>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S: Service<Request<ReqB>>, ReqB, ResB> {
        Ready { out: Option<Response<CacheBody<ResB>>> },
        Bypass { #[pin] fut: S::Future },
        Invalidate {
            #[pin] fut: S::Future,
            state: Arc<HttpState>,
            target: Option<Target>,
        },
        Lead { #[pin] fut: S::Future, guard: Option<Guard>, ctx: Option<Ctx> },
        // The rare states are boxed, so that the future of a hit (and of
        // every request) stays small to move.
        Buffer { st: Box<BufferState<ResB>> },
        L2 { st: Box<L2State<S, ReqB>> },
        Wait { st: Box<WaitState<S, ReqB>> },
        Own { rx: ReplyRx<ResB, S::Error> },
    }
}

/// Reading a body to store it.
struct BufferState<ResB> {
    body: Option<Pin<Box<ResB>>>,
    parts: Option<Parts>,
    buf: Buffered,
    decided: Decided,
    guard: Option<Guard>,
    ctx: Option<Ctx>,
}

/// Leading, waiting for the L2 first.
struct L2State<S, ReqB> {
    lookup: HttpL2Lookup,
    req: Option<Request<ReqB>>,
    guard: Option<Guard>,
    ctx: Option<Ctx>,
    background: Arc<Background<S>>,
}

/// Waiting for another request's call.
struct WaitState<S, ReqB> {
    waiter: Waiter<Bytes, HttpValue>,
    req: Option<Request<ReqB>>,
    ctx: Option<Ctx>,
    background: Arc<Background<S>>,
}

impl<S: Service<Request<ReqB>>, ReqB, ResB> fmt::Debug for HttpResponseFuture<S, ReqB, ResB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Ready { .. } => "ready",
            State::Bypass { .. } => "bypass",
            State::Invalidate { .. } => "invalidate",
            State::Lead { .. } => "lead",
            State::Buffer { .. } => "buffer",
            State::L2 { .. } => "l2",
            State::Wait { .. } => "wait",
            State::Own { .. } => "own",
        };
        crate::debug::state_machine(f, "HttpResponseFuture", state)
    }
}

impl<S: Service<Request<ReqB>>, ReqB, ResB> HttpResponseFuture<S, ReqB, ResB> {
    pub(super) fn ready(out: Response<CacheBody<ResB>>) -> Self {
        Self {
            state: State::Ready { out: Some(out) },
        }
    }

    pub(super) fn invalidate(
        fut: S::Future,
        state: Arc<HttpState>,
        target: Option<Target>,
    ) -> Self {
        Self {
            state: State::Invalidate { fut, state, target },
        }
    }

    pub(super) fn bypass(fut: S::Future) -> Self {
        Self {
            state: State::Bypass { fut },
        }
    }

    pub(super) fn lead(fut: S::Future, guard: Guard, ctx: Ctx) -> Self {
        Self {
            state: State::Lead {
                fut,
                guard: Some(guard),
                ctx: Some(ctx),
            },
        }
    }

    pub(super) fn l2(
        lookup: HttpL2Lookup,
        req: Request<ReqB>,
        guard: Guard,
        ctx: Ctx,
        background: Arc<Background<S>>,
    ) -> Self {
        Self {
            state: State::L2 {
                st: Box::new(L2State {
                    lookup,
                    req: Some(req),
                    guard: Some(guard),
                    ctx: Some(ctx),
                    background,
                }),
            },
        }
    }

    pub(super) fn wait(
        waiter: Waiter<Bytes, HttpValue>,
        req: Request<ReqB>,
        ctx: Ctx,
        background: Arc<Background<S>>,
    ) -> Self {
        Self {
            state: State::Wait {
                st: Box::new(WaitState {
                    waiter,
                    req: Some(req),
                    ctx: Some(ctx),
                    background,
                }),
            },
        }
    }
}

/// A state that cannot happen (polled after completion, a lost take-over):
/// answered as the cache's own failure.
fn gone<B, E>() -> Out<B, E> {
    Ok(error_response())
}

impl<S, ReqB, ResB> Future for HttpResponseFuture<S, ReqB, ResB>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
    S::Future: Send + 'static,
    ReqB: Send + 'static,
    ResB: Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    type Output = Out<ResB, S::Error>;

    #[allow(clippy::too_many_lines)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Ready { out } => {
                    return Poll::Ready(out.take().map_or_else(gone, Ok));
                }
                StateProj::Bypass { fut } => {
                    let mut resp = ready!(fut.poll(cx))?;
                    resp.headers_mut().insert(X_CACHE_NAME, x_cache::BYPASS);
                    return Poll::Ready(Ok(resp.map(CacheBody::inner)));
                }
                StateProj::Invalidate { fut, state, target } => {
                    let mut resp = ready!(fut.poll(cx))?;
                    let status = resp.status();
                    if (status.is_success() || status.is_redirection())
                        && let Some(target) = target.take()
                    {
                        invalidate(state, target.keys(resp.headers()));
                    }
                    resp.headers_mut().insert(X_CACHE_NAME, x_cache::BYPASS);
                    return Poll::Ready(Ok(resp.map(CacheBody::inner)));
                }
                StateProj::Lead { fut, guard, ctx } => {
                    let result = ready!(guarded(guard, || fut.poll(cx)));
                    let Some(ctx) = ctx.take() else {
                        return Poll::Ready(gone());
                    };
                    match on_head(&ctx, guard.take(), result) {
                        (Step::Done(out), _) => return Poll::Ready(out),
                        (
                            Step::Buffer {
                                parts,
                                body,
                                decided,
                            },
                            guard,
                        ) => State::Buffer {
                            st: Box::new(BufferState {
                                body: Some(Box::pin(body)),
                                parts: Some(parts),
                                buf: Buffered::default(),
                                decided,
                                guard,
                                ctx: Some(ctx),
                            }),
                        },
                    }
                }
                StateProj::Buffer { st } => {
                    let BufferState {
                        body,
                        parts,
                        buf,
                        decided,
                        guard,
                        ctx,
                    } = &mut **st;
                    let (Some(b), Some(c)) = (body.as_mut(), ctx.as_ref()) else {
                        return Poll::Ready(gone());
                    };
                    let limit = c.defaults.max_body_bytes;
                    let outcome =
                        ready!(guarded(guard, || poll_buffer(b.as_mut(), buf, limit, cx)));
                    let (Some(b), Some(p), Some(c)) = (body.take(), parts.take(), ctx.take())
                    else {
                        return Poll::Ready(gone());
                    };
                    let buf = std::mem::take(buf);
                    return Poll::Ready(Ok(on_buffered(
                        &c,
                        guard.take(),
                        p,
                        b,
                        buf,
                        outcome,
                        *decided,
                    )));
                }
                StateProj::L2 { st } => {
                    let L2State {
                        lookup,
                        req,
                        guard,
                        ctx,
                        background,
                    } = &mut **st;
                    let found = ready!(lookup.as_mut().poll(cx));
                    let (Some(g), Some(r), Some(c)) = (guard.take(), req.take(), ctx.take()) else {
                        return Poll::Ready(gone());
                    };
                    match fill_from_l2(&c, g, found) {
                        Ok(resp) => return Poll::Ready(Ok(resp)),
                        Err(g) => match submit::<S, ReqB, ResB>(background, r, Some(g), c) {
                            Some(rx) => State::Own { rx },
                            None => return Poll::Ready(gone()),
                        },
                    }
                }
                StateProj::Wait { st } => {
                    let WaitState {
                        waiter,
                        req,
                        ctx,
                        background,
                    } = &mut **st;
                    let waited = ready!(waiter.poll(cx));
                    let Some(c) = ctx.as_ref() else {
                        return Poll::Ready(gone());
                    };
                    let guard = match waited {
                        // The leader's failure: its own error went to it;
                        // the waiters get the cache's answer to a failure.
                        Waited::Ready(Err(err)) => {
                            return Poll::Ready(Ok(shared_failure_response(&err)));
                        }
                        Waited::Ready(Ok(HttpValue::Response(stored))) => {
                            let names = key_names(&stored.headers, &c.defaults).unwrap_or_default();
                            if variant_suffix(&names, &c.req_headers) == stored.variant
                                && (!c.scan.authorized || stored.authorized_ok)
                            {
                                return Poll::Ready(Ok(answer(
                                    &stored,
                                    c.head,
                                    x_cache::HIT,
                                    None,
                                    &c.req_headers,
                                )));
                            }
                            None // another variant, or not for this request: an own call
                        }
                        Waited::Ready(Ok(HttpValue::Vary(_))) | Waited::Pass => None,
                        Waited::TakeOver(guard) => Some(guard),
                    };
                    let (Some(r), Some(c)) = (req.take(), ctx.take()) else {
                        return Poll::Ready(gone());
                    };
                    match submit(background, r, guard, c) {
                        Some(rx) => State::Own { rx },
                        None => return Poll::Ready(gone()),
                    }
                }
                StateProj::Own { rx } => {
                    return Poll::Ready(ready!(Pin::new(rx).poll(cx)).unwrap_or_else(|_| gone()));
                }
            };
            this.state.set(next);
        }
    }
}
