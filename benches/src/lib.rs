//! Shared helpers for Palisade's side-by-side benchmarks.
//!
//! The benchmarks themselves live in `benches/`; each compares a Palisade
//! layer with a no-layer baseline (and, where one exists, a peer crate) in
//! the same run. See `docs/BENCHMARKS.md` for the recorded figures.

use std::{
    convert::Infallible,
    future::{Ready, ready},
    task::{Context, Poll},
};
use tower::Service;

/// The cheapest possible inner service: answers every request at once with
/// the request itself, so a benchmark measures only the layer around it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

impl<R> Service<R> for Echo {
    type Response = R;
    type Error = Infallible;
    type Future = Ready<Result<R, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: R) -> Self::Future {
        ready(Ok(req))
    }
}

/// Drives a future that is expected to be ready on its first poll, without a
/// runtime (a panic otherwise: benchmarks use it only on always-ready stacks).
pub fn now<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("benchmarked future was not ready on its first poll"),
    }
}
