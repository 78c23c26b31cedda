//! A short queue in front of a concurrency limit, with CoDel queue-time
//! shedding, adaptive LIFO and priorities.
//!
//! [`ConcurrencyLimit`](crate::ConcurrencyLimit) and
//! [`AdaptiveLimit`](crate::AdaptiveLimit) reject a request at once when
//! every slot is taken. A [`Queue`] in front of either lets such a request
//! wait a little for a slot instead — a burst is absorbed rather than
//! refused — while keeping the queue from ever standing:
//!
//! - **CoDel** ([`Codel`]; folly's and Wangle's request-queue variant of
//!   Nichols and Jacobson's algorithm, target 5 ms, interval 100 ms): each
//!   time a request is taken off the queue, CoDel is shown the delay of
//!   the head of the queue (its oldest waiter), and a drained queue counts
//!   as no delay; when that delay stayed over the target for a whole
//!   interval — or, Facebook's rule, when the queue has not been empty for
//!   a whole interval — the queue is *overloaded* (a standing queue) and
//!   requests that waited over twice the target are shed with
//!   [`Rejected`](palisade_core::Rejected)
//!   of kind [`QueueTimeout`](palisade_core::RejectKind::QueueTimeout)
//!   (503 / gRPC `UNAVAILABLE`, with `retry_after`).
//! - **Adaptive LIFO** (Facebook, "Fail at Scale", 2015): the queue is
//!   served first-in first-out, and newest-first while CoDel sees a
//!   standing queue, so the requests served are those whose clients are
//!   still waiting.
//! - **Deadlines**: a request whose deadline
//!   ([`Deadline::current`](crate::Deadline::current), set by a
//!   [`Timeout`](crate::Timeout) above) leaves less than the queue's recent
//!   service time is never admitted from the queue: it is answered
//!   `DeadlineExceeded` at once (on arrival, or when that point passes
//!   while it waits). No request waits longer than
//!   [`max_wait`](QueueBuilder::max_wait) (`QueueTimeout`).
//! - **Priorities** ([`Criticality`], Google SRE's criticality levels,
//!   read by a closure or from the `x-criticality` header): `Critical`
//!   requests are admitted before every other waiter, are never shed by
//!   CoDel and keep a reserved share of the limit
//!   ([`critical_reserve`](QueueBuilder::critical_reserve), 10% by
//!   default); `Sheddable` requests are not queued at all while the queue
//!   is overloaded; a full queue pushes out its oldest waiter of the lowest
//!   criticality below the newcomer's, or rejects the newcomer
//!   (`Overloaded`).
//!
//! Every queued request gets a slot or a rejection: its own timer bounds
//! its wait, a response future dropped while waiting leaves the queue (a
//! slot granted to it just then is given back to the next waiter), and a
//! slot given back always lets the next waiter in.
//!
//! The queue takes the limit's slots itself: put
//! [`Queue::layer`] in the stack *instead of* the limit's own layer (the
//! limit's state, `limit()`, `in_flight()`, its adaptive algorithm, are
//! shared). Requests that take slots of the same limit through its own
//! layer elsewhere are counted, but a waiter learns of the slots they give
//! back only at the next arrival or completion through the queue.
//!
//! ```
//! use std::time::Duration;
//! use http::{Request, Response};
//! use palisade_shed::{AdaptiveLimit, Timeout};
//! use palisade_shed::queue::Queue;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let limit = AdaptiveLimit::builder("api").build()?;
//! let queue = Queue::builder(limit.clone())
//!     .criticality_header() // x-criticality: critical | normal | sheddable
//!     .build()?;
//!
//! let svc = ServiceBuilder::new()
//!     .layer(Timeout::builder("api").timeout(Duration::from_secs(1)).build()?.layer())
//!     .layer(queue.layer())
//!     .service(service_fn(|_req: Request<()>| async {
//!         Ok::<_, std::convert::Infallible>(Response::new("hello"))
//!     }));
//! let req = Request::builder().header("x-criticality", "critical").body(())?;
//! assert_eq!(svc.oneshot(req).await?.into_body(), "hello");
//! assert_eq!(queue.len(), 0);
//! # Ok(()) }
//! ```
//!
//! Sources: folly `folly/executors/Codel.{h,cpp}` (and Wangle's);
//! K. Nichols, V. Jacobson, "Controlling Queue Delay", ACM Queue 2012;
//! B. Maurer, "Fail at Scale", ACM Queue 2015 (adaptive LIFO, CoDel for
//! servers); "Handling Overload", *Site Reliability Engineering*, ch. 21
//! (criticality).

mod builder;
mod codel;
mod criticality;
pub mod future;
mod layer;
mod limit;
mod service;
mod state;
mod telemetry;

pub use builder::QueueBuilder;
pub use codel::Codel;
pub use criticality::{Criticality, CriticalityHeader, CriticalityOf};
pub use future::ResponseFuture;
pub use layer::QueueLayer;
pub use limit::QueueLimit;
#[doc(hidden)]
pub use limit::{AdaptivePermit, QueueLimitFor};
pub use service::QueueService;

use palisade_core::lane::Lanes;
use state::Waitlist;
use std::{fmt, sync::Arc};

/// A short queue in front of a concurrency limit: build it once from the
/// limit's handle, then put [`layer()`](Queue::layer) in as many stacks as
/// you like (every service made from it shares the one queue).
///
/// See the [module docs](self) for what it does.
pub struct Queue<L: QueueLimit, K = ()> {
    waitlist: Arc<Lanes<Waitlist<L>>>,
    criticality: Arc<K>,
}

impl<L: QueueLimit, K> Clone for Queue<L, K> {
    fn clone(&self) -> Self {
        Self {
            waitlist: Arc::clone(&self.waitlist),
            criticality: Arc::clone(&self.criticality),
        }
    }
}

impl<L: QueueLimit, K> fmt::Debug for Queue<L, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self.waitlist, f)
    }
}

impl<L: QueueLimit> Queue<L, ()> {
    /// Starts building a queue in front of `limit` (a
    /// [`ConcurrencyLimit`](crate::ConcurrencyLimit) or an
    /// [`AdaptiveLimit`](crate::AdaptiveLimit) handle); the queue takes the
    /// limit's name and `retry_after`.
    pub fn builder(limit: L) -> QueueBuilder<L, ()> {
        QueueBuilder::new(limit)
    }
}

impl<L: QueueLimit, K> Queue<L, K> {
    /// The layer to put in a stack (in place of the limit's own layer).
    pub fn layer(&self) -> QueueLayer<L, K> {
        QueueLayer::new(Arc::clone(&self.waitlist), Arc::clone(&self.criticality))
    }

    /// The requests waiting right now.
    pub fn len(&self) -> usize {
        self.waitlist.len()
    }

    /// Whether no request is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most requests that may wait at once.
    pub fn max_len(&self) -> usize {
        self.waitlist.settings.max_len
    }

    /// Whether CoDel found a standing queue in its last interval (the queue
    /// then serves newest first and sheds by queue time).
    pub fn is_overloaded(&self) -> bool {
        self.waitlist.is_overloaded()
    }

    /// The slots kept for `Critical` requests at the limit in force.
    pub fn reserved(&self) -> usize {
        self.waitlist.reserved(self.waitlist.limit.current_limit())
    }

    /// Requests other than `Critical` holding a slot taken through the
    /// queue.
    pub fn non_critical_in_flight(&self) -> usize {
        self.waitlist.non_critical_in_flight()
    }

    /// The limit behind the queue.
    pub fn limit(&self) -> &L {
        &self.waitlist.limit
    }

    /// The name (the limit's).
    pub fn name(&self) -> &str {
        &self.waitlist.name
    }
}
