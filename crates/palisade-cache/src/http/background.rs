//! Calls an HTTP request makes on the background service: a take-over after
//! a cancelled leader, the call after an awaited L2 miss, and an own call
//! when a coalesced response could not be shared. The response comes back
//! on a channel.

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use palisade_core::BoxError;
use tokio::sync::oneshot;
use tower_service::Service;

use super::{
    CacheBody, HttpValue,
    lead::{Ctx, Guard, add_validators, lead_async},
};
use crate::{
    flight::Phase,
    worker::{Background, DriveOf},
};

/// A reply channel for a call made in the background on a request's behalf.
type Reply<B, E> = oneshot::Sender<Result<Response<CacheBody<B>>, E>>;
/// The receiving end of a [`Reply`].
pub(crate) type ReplyRx<B, E> = oneshot::Receiver<Result<Response<CacheBody<B>>, E>>;
/// What the HTTP driver needs besides the response future and the guard.
type Extra<B, E> = (Ctx, Option<Reply<B, E>>);

/// Leads the call to its end (store, share) and sends the response back.
fn drive<S, ReqB, ResB>() -> DriveOf<S, Request<ReqB>, Bytes, HttpValue, Extra<ResB, S::Error>>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
    S::Future: Send + 'static,
    ReqB: Send + 'static,
    ResB: Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    |fut, guard, (ctx, reply)| {
        Box::pin(async move {
            let out = lead_async(ctx, guard, fut).await;
            if let Some(reply) = reply {
                let _ = reply.send(out);
            }
        })
    }
}

/// Makes `req`'s call on the background service; its response comes back
/// on the returned channel (`None`: no background service or runtime, and
/// a flight `guard` leads has failed).
pub(crate) fn submit<S, ReqB, ResB>(
    background: &Background<S>,
    mut req: Request<ReqB>,
    guard: Option<Guard>,
    ctx: Ctx,
) -> Option<ReplyRx<ResB, S::Error>>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
    S::Future: Send + 'static,
    ReqB: Send + 'static,
    ResB: Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    let Some(worker) = background.worker(drive::<S, ReqB, ResB>()) else {
        if let Some(guard) = guard {
            guard.finish_phase(Phase::Pass);
        }
        return None;
    };
    add_validators(
        req.headers_mut(),
        guard.as_ref().and_then(|g| g.stale.as_ref()),
    );
    let (tx, rx) = oneshot::channel();
    worker.submit(req, guard, (ctx, Some(tx))).ok().map(|()| rx)
}
