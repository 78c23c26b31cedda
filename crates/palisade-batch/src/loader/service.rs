use std::{
    fmt,
    task::{Context, Poll},
};

use palisade_core::BoxError;
use tower_service::Service;

use crate::{front::Caller, future::ResponseFuture};

/// A service that loads each key through a batch and answers with its value
/// (`None` when the inner service's map lacks the key); made by
/// [`LoaderLayer`](super::LoaderLayer).
///
/// `poll_ready` reserves room in the loader's queue (waiting while it is
/// full, or — with `reject_when_full` — letting `call` reject at once with
/// [`Rejected`](palisade_core::Rejected) `BatchFull`). The inner service lives
/// in the worker task, so there is no `get_ref`/`into_inner`.
///
/// Clones share the worker and never a reservation.
pub struct LoaderService<K, V> {
    caller: Caller<K, Option<V>>,
}

impl<K, V> LoaderService<K, V> {
    pub(crate) fn new(caller: Caller<K, Option<V>>) -> Self {
        Self { caller }
    }

    /// The name of the loader.
    pub fn name(&self) -> &str {
        self.caller.name()
    }
}

impl<K, V> Service<K> for LoaderService<K, V> {
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

impl<K, V> Clone for LoaderService<K, V> {
    fn clone(&self) -> Self {
        Self::new(self.caller.clone())
    }
}

impl<K, V> fmt::Debug for LoaderService<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoaderService")
            .field("caller", &self.caller)
            .finish()
    }
}
