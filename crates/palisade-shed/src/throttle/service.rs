//! [`AdaptiveThrottleService`].

use super::{future::ResponseFuture, state::Shared};
use palisade_core::lane::Lanes;
use palisade_core::{BoxError, Classify, RejectKind, Rejected};
use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};
use tokio::time::Instant;
use tower_service::Service;

/// The service made by [`AdaptiveThrottleLayer`](super::AdaptiveThrottleLayer).
///
/// `poll_ready` draws whether the next request is throttled; if so it
/// returns ready at once and `call` answers with the rejection without
/// touching (or waiting for) the inner service.
pub struct AdaptiveThrottleService<S, C> {
    inner: S,
    shared: Arc<Lanes<Shared<C>>>,
    throttle_next: Option<bool>,
    rng: u64,
}

impl<S, C> AdaptiveThrottleService<S, C> {
    pub(crate) fn new(inner: S, shared: Arc<Lanes<Shared<C>>>) -> Self {
        // Each service draws from its own generator, seeded from its
        // address-independent creation count so clones differ.
        use std::sync::atomic::{AtomicU64, Ordering};
        static SEED: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
        let rng = SEED.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) | 1;
        Self {
            inner,
            shared,
            throttle_next: None,
            rng,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// A uniform draw in [0, 1) (xorshift64).
    fn draw(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl<S: Clone, C> Clone for AdaptiveThrottleService<S, C> {
    /// A clone never copies a pending decision.
    fn clone(&self) -> Self {
        Self::new(self.inner.clone(), Arc::clone(&self.shared))
    }
}

impl<S: fmt::Debug, C> fmt::Debug for AdaptiveThrottleService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveThrottleService")
            .field("inner", &self.inner)
            .field("throttle", &**self.shared)
            .finish()
    }
}

impl<S, C, Req> Service<Req> for AdaptiveThrottleService<S, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.throttle_next.is_none() {
            let p = self.shared.reject_probability(Instant::now());
            let throttle = p > 0.0 && self.draw() < p;
            self.throttle_next = Some(throttle);
            if throttle {
                return Poll::Ready(Ok(()));
            }
        }
        if self.throttle_next == Some(true) {
            return Poll::Ready(Ok(()));
        }
        match self.inner.poll_ready(cx) {
            Poll::Ready(Err(err)) => {
                self.throttle_next = None;
                Poll::Ready(Err(err.into()))
            }
            other => other.map_err(Into::into),
        }
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let throttle = self.throttle_next.take().expect(
            "AdaptiveThrottleService::call without a successful poll_ready \
             (tower's Service contract)",
        );
        let shared = &self.shared;
        if throttle {
            // A locally rejected request still counts as a request: that is
            // what keeps the probability up while the backend refuses.
            shared.record(Instant::now(), false);
            shared.telemetry.throttled();
            return ResponseFuture::throttled(
                Rejected::new(RejectKind::Overloaded, Arc::clone(&shared.name))
                    .with_retry_after(shared.retry_after),
            );
        }
        ResponseFuture::sent(self.inner.call(req), shared.current().clone())
    }
}
