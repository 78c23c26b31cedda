use std::{
    fmt,
    task::{Context, Poll},
};

use palisade_core::BoxError;
use tower_service::Service;

use crate::{front::Caller, future::ResponseFuture};

/// A service that sends each request to a batch and answers with its own
/// response; made by [`BatcherLayer`](super::BatcherLayer).
///
/// `poll_ready` reserves room in the batcher's queue (waiting while it is
/// full, or — with `reject_when_full` — letting `call` reject at once with
/// [`Rejected`](palisade_core::Rejected) `BatchFull`). The inner service lives
/// in the worker task, so there is no `get_ref`/`into_inner`.
///
/// Clones share the worker and never a reservation.
pub struct BatcherService<Req, Res> {
    caller: Caller<Req, Res>,
}

impl<Req, Res> BatcherService<Req, Res> {
    pub(crate) fn new(caller: Caller<Req, Res>) -> Self {
        Self { caller }
    }

    /// The name of the batcher.
    pub fn name(&self) -> &str {
        self.caller.name()
    }
}

impl<Req, Res> Service<Req> for BatcherService<Req, Res> {
    type Response = Res;
    type Error = BoxError;
    type Future = ResponseFuture<Res>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.caller.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        self.caller.call(req)
    }
}

impl<Req, Res> Clone for BatcherService<Req, Res> {
    fn clone(&self) -> Self {
        Self::new(self.caller.clone())
    }
}

impl<Req, Res> fmt::Debug for BatcherService<Req, Res> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatcherService")
            .field("caller", &self.caller)
            .finish()
    }
}
