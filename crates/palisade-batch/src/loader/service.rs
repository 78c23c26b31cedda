use std::{
    fmt,
    task::{Context, Poll},
};

use palisade_core::BoxError;
use tower_service::Service;

use crate::{future::ResponseFuture, queue::Caller};

/// A service that loads each key through a batch and answers with its value
/// (`None` when the inner service's map lacks the key); made by
/// [`LoadLayer`](super::LoadLayer).
///
/// `poll_ready` reserves room in the loader's queue (waiting while it is
/// full, or — with `reject_when_full` — letting `call` reject at once with
/// [`Rejected`](palisade_core::Rejected) `BatchFull`). The inner service lives
/// in the worker task, so there is no `get_ref`/`into_inner`.
///
/// Clones share the worker and never a reservation.
pub struct Load<K, V> {
    caller: Caller<K, Option<V>>,
}

impl<K, V> Load<K, V> {
    pub(crate) fn new(caller: Caller<K, Option<V>>) -> Self {
        Self { caller }
    }

    /// The name of the loader.
    pub fn name(&self) -> &str {
        &self.caller.core().name
    }
}

impl<K, V> Service<K> for Load<K, V> {
    type Response = Option<V>;
    type Error = BoxError;
    type Future = ResponseFuture<Option<V>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.caller.poll_ready(cx)
    }

    fn call(&mut self, key: K) -> Self::Future {
        self.caller.call(key)
    }
}

impl<K, V> Clone for Load<K, V> {
    fn clone(&self) -> Self {
        Self {
            caller: self.caller.clone(),
        }
    }
}

impl<K, V> fmt::Debug for Load<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Load")
            .field("caller", &self.caller)
            .finish()
    }
}
