//! [`ResponseFuture`], the response future of
//! [`QueueService`](super::QueueService).

use super::{
    Criticality,
    limit::{QueueLimit, QueueLimitFor},
    state::{self, Admitted, Slot, Waiter, Waitlist},
};
use crate::Deadline;
use palisade_core::lane::Lanes;
use palisade_core::{BoxError, RejectKind, Rejected};
use pin_project_lite::pin_project;
use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};
use tokio::time::{Instant, Sleep};

pin_project! {
    /// The response future of [`QueueService`](super::QueueService): runs
    /// the request at once when it was given a free slot; otherwise waits
    /// in the queue for one (or for its rejection), then runs it. The slot
    /// is given back when the response is ready or the future is dropped;
    /// a future dropped while waiting leaves the queue.
    pub struct ResponseFuture<F, S, Req, L>
    where
        L: QueueLimit,
    {
        #[pin]
        state: State<F, S, Req, L>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, S, Req, L>
    where
        L: QueueLimit,
    {
        Running {
            #[pin]
            inner: F,
            admitted: Option<Admitted<L>>,
            polled: bool,
        },
        Queued {
            wait: Pin<Box<Wait<S, Req, L>>>,
        },
        Rejected {
            error: Option<BoxError>,
        },
    }
}

pin_project! {
    /// A request waiting for a slot (boxed: only requests that queue pay
    /// for it, and the running future stays small).
    struct Wait<S, Req, L>
    where
        L: QueueLimit,
    {
        service: Option<S>,
        req: Option<Req>,
        criticality: Criticality,
        waitlist: Arc<Lanes<Waitlist<L>>>,
        ticket: Option<Ticket<L>>,
        on_expiry: RejectKind,
        #[pin]
        sleep: Sleep,
    }
}

/// A place in the queue: leaves it when dropped, giving back a slot that
/// was granted but not taken.
struct Ticket<L: QueueLimit> {
    waiter: Arc<Waiter<L>>,
    waitlist: Arc<Lanes<Waitlist<L>>>,
}

impl<L: QueueLimit> Drop for Ticket<L> {
    fn drop(&mut self) {
        if state::remove(&self.waitlist, &self.waiter) {
            return;
        }
        // Granted or shed already: take the outcome so that a granted slot
        // is given back (outside every lock) and lets the next waiter in.
        let outcome = std::mem::replace(&mut *self.waiter.lock_slot(), Slot::Done);
        drop(outcome);
    }
}

impl<F, S, Req, L: QueueLimit> ResponseFuture<F, S, Req, L> {
    pub(crate) fn running(inner: F, admitted: Admitted<L>) -> Self {
        Self {
            state: State::Running {
                inner,
                admitted: Some(admitted),
                polled: false,
            },
        }
    }

    pub(crate) fn queued(
        service: S,
        req: Req,
        criticality: Criticality,
        waitlist: Arc<Lanes<Waitlist<L>>>,
    ) -> Self {
        Self {
            state: State::Queued {
                wait: Box::pin(Wait {
                    service: Some(service),
                    req: Some(req),
                    criticality,
                    waitlist,
                    ticket: None,
                    on_expiry: RejectKind::QueueTimeout,
                    sleep: tokio::time::sleep_until(Instant::now()),
                }),
            },
        }
    }
}

fn rejection<L: QueueLimit>(wl: &Waitlist<L>, kind: RejectKind) -> BoxError {
    let rejected = Rejected::new(kind, Arc::clone(&wl.name));
    match kind {
        RejectKind::DeadlineExceeded => rejected.into(),
        _ => rejected.with_retry_after(wl.retry_after).into(),
    }
}

/// What a waiting request learnt from one poll.
enum Waited<L: QueueLimit> {
    Admitted(Admitted<L>),
    Refused(RejectKind),
}

impl<S, Req, L: QueueLimit> Wait<S, Req, L> {
    fn poll_slot(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Waited<L>> {
        let mut this = self.project();
        if this.ticket.is_none() {
            // First poll: the request's deadline is known now (a timeout
            // above sets it around this future).
            let now = Instant::now();
            let deadline = Deadline::current().map(Deadline::instant);
            match state::enqueue(this.waitlist, *this.criticality, deadline, now) {
                Ok(waiter) => {
                    let (at, kind) = waiter.expiry(this.waitlist);
                    this.sleep.as_mut().reset(at);
                    *this.on_expiry = kind;
                    *this.ticket = Some(Ticket {
                        waiter,
                        waitlist: Arc::clone(this.waitlist),
                    });
                }
                Err(kind) => return Poll::Ready(Waited::Refused(kind)),
            }
        }
        let ticket = this.ticket.as_ref().expect("enqueued above");
        loop {
            {
                let mut slot = ticket.waiter.lock_slot();
                match std::mem::replace(&mut *slot, Slot::Done) {
                    Slot::Waiting(waker) => {
                        let waker = match waker {
                            Some(w) if w.will_wake(cx.waker()) => w,
                            _ => cx.waker().clone(),
                        };
                        *slot = Slot::Waiting(Some(waker));
                    }
                    Slot::Granted(admitted) => return Poll::Ready(Waited::Admitted(admitted)),
                    Slot::Shed(kind) => return Poll::Ready(Waited::Refused(kind)),
                    // Taken before: cannot happen (the future is fused by
                    // its state), but never panic on it.
                    Slot::Done => return Poll::Ready(Waited::Refused(RejectKind::QueueTimeout)),
                }
            }
            ready!(this.sleep.as_mut().poll(cx));
            // Timed out: leave the line, unless a slot or a rejection came
            // first (then the loop takes it).
            if state::remove(this.waitlist, &ticket.waiter) {
                this.waitlist.telemetry.shed(*this.on_expiry);
                return Poll::Ready(Waited::Refused(*this.on_expiry));
            }
        }
    }
}

impl<F, S, Req, L, T, E> Future for ResponseFuture<F, S, Req, L>
where
    S: tower_service::Service<Req, Future = F>,
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    L: QueueLimitFor<T, E>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project().state.project() {
                StateProj::Running {
                    inner,
                    admitted,
                    polled,
                } => {
                    if L::WANTS_DEADLINE && !*polled {
                        *polled = true;
                        if let Some(p) = admitted.as_mut().and_then(Admitted::permit_mut) {
                            L::started(p, Deadline::current().map(Deadline::instant));
                        }
                    }
                    let result = ready!(inner.poll(cx));
                    let mut admitted = admitted
                        .take()
                        .expect("ResponseFuture polled after completion");
                    if let Some(permit) = admitted.take_permit() {
                        L::finish(permit, result.as_ref());
                    }
                    drop(admitted);
                    return Poll::Ready(result.map_err(Into::into));
                }
                StateProj::Queued { wait } => {
                    let waited = ready!(wait.as_mut().poll_slot(cx));
                    let next = match waited {
                        Waited::Admitted(admitted) => {
                            let w = wait.as_mut().project();
                            match (w.service.take(), w.req.take()) {
                                (Some(mut service), Some(req)) => State::Running {
                                    inner: service.call(req),
                                    admitted: Some(admitted),
                                    polled: false,
                                },
                                _ => unreachable!("a request is admitted once"),
                            }
                        }
                        Waited::Refused(kind) => State::Rejected {
                            error: Some(rejection(&wait.waitlist, kind)),
                        },
                    };
                    self.as_mut().project().state.set(next);
                }
                StateProj::Rejected { error } => {
                    return Poll::Ready(Err(error
                        .take()
                        .expect("ResponseFuture polled after completion")));
                }
            }
        }
    }
}

impl<F, S, Req, L: QueueLimit> fmt::Debug for ResponseFuture<F, S, Req, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Running { .. } => "running",
            State::Queued { .. } => "queued",
            State::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
