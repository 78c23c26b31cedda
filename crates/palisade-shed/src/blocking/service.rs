use super::{
    future::{Apply, RunFuture},
    state::State,
};
use palisade_core::BoxError;
use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};
use tower_service::Service;

/// A tower [`Service`] that runs a blocking function on a
/// [`BlockingPool`](super::BlockingPool); from
/// [`BlockingPool::service`](super::BlockingPool::service).
///
/// Always ready: each call is admitted (run, queued or refused) when its
/// future is first polled. Clones share the pool.
pub struct BlockingService<F> {
    state: Arc<State>,
    f: F,
}

impl<F> BlockingService<F> {
    pub(crate) fn new(state: Arc<State>, f: F) -> Self {
        Self { state, f }
    }

    /// The function run for each request.
    pub fn get_ref(&self) -> &F {
        &self.f
    }

    /// The function run for each request, mutably.
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.f
    }

    /// Unwraps the function.
    pub fn into_inner(self) -> F {
        self.f
    }
}

impl<F: Clone> Clone for BlockingService<F> {
    fn clone(&self) -> Self {
        Self::new(Arc::clone(&self.state), self.f.clone())
    }
}

impl<F> fmt::Debug for BlockingService<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingService")
            .field("pool", &self.state.name)
            .finish_non_exhaustive()
    }
}

impl<F, Req, R> Service<Req> for BlockingService<F>
where
    F: FnOnce(Req) -> R + Clone + Send + 'static,
    Req: Send + 'static,
    R: Send + 'static,
{
    type Response = R;
    type Error = BoxError;
    type Future = RunFuture<Apply<F, Req>, R>;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        RunFuture::new(
            Arc::clone(&self.state),
            Apply {
                f: self.f.clone(),
                req,
            },
        )
    }
}
