//! [`Waitlist`]: what every service of one `Queue` shares — the limit, the
//! queued requests per criticality, CoDel's state — and the tickets
//! ([`Waiter`], [`Admitted`]) a request holds while it waits and runs.

use super::{codel::Codel, criticality::Criticality, limit::QueueLimit, telemetry::QueueTelemetry};
use palisade_core::RejectKind;
use palisade_core::lane::{Lane, Lanes, Padded};
use std::{
    collections::VecDeque,
    fmt,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, AtomicUsize, Ordering, fence},
    },
    task::Waker,
    time::Duration,
};
use tokio::time::Instant;

/// Settings, validated by the builder.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueSettings {
    pub(crate) max_len: usize,
    pub(crate) target: Duration,
    pub(crate) interval: Duration,
    pub(crate) max_wait: Duration,
    /// Per mille of the limit kept for `Critical` requests.
    pub(crate) critical_reserve_permille: u32,
}

/// What every service made from one `Queue` shares.
pub(crate) struct Waitlist<L: QueueLimit> {
    pub(crate) name: Arc<str>,
    pub(crate) limit: L,
    pub(crate) settings: QueueSettings,
    pub(crate) retry_after: Duration,
    pub(crate) telemetry: QueueTelemetry,
    /// Requests waiting (all levels); read by every admission and release.
    queued: Padded<AtomicUsize>,
    /// Requests other than `Critical` holding a slot.
    non_critical: Padded<AtomicUsize>,
    /// Smoothed service time (ns) of requests admitted from the queue: a
    /// queued request with less budget left is never admitted.
    service_nanos: AtomicU64,
    lines: Mutex<Lines<L>>,
}

/// The queued requests, one line per criticality (most important first),
/// each in arrival order, and CoDel's state.
struct Lines<L: QueueLimit> {
    lines: [VecDeque<Arc<Waiter<L>>>; 3],
    codel: Codel,
    /// When the queue was last empty.
    last_empty: Instant,
}

impl<L: QueueLimit> Lines<L> {
    fn is_empty(&self) -> bool {
        self.lines.iter().all(VecDeque::is_empty)
    }

    /// Whether the queue is overloaded at `now`: CoDel found a standing
    /// delay in its last interval (folly), or the queue has not been empty
    /// for a whole interval (Facebook's "Fail at Scale" rule, which keeps
    /// the state on while shedding and serving newest first hold the delay
    /// CoDel sees near the target).
    fn overloaded(&self, now: Instant) -> bool {
        self.codel.is_overloaded()
            || (!self.is_empty()
                && now.saturating_duration_since(self.last_empty) >= self.codel.interval())
    }
}

/// A queued request, shared by its future and the line it waits in.
pub(crate) struct Waiter<L: QueueLimit> {
    criticality: Criticality,
    enqueued: Instant,
    deadline: Option<Instant>,
    slot: Mutex<Slot<L>>,
}

/// Where a queued request stands.
pub(crate) enum Slot<L: QueueLimit> {
    /// In its line; the waker of its future.
    Waiting(Option<Waker>),
    /// Given a slot of the limit.
    Granted(Admitted<L>),
    /// Shed, with the kind of its rejection.
    Shed(RejectKind),
    /// Its outcome was taken by its future.
    Done,
}

/// Why a request was not queued, or left the queue without a slot.
pub(crate) type Refusal = RejectKind;

impl<L: QueueLimit> Waitlist<L> {
    pub(crate) fn new(limit: L, settings: QueueSettings, now: Instant) -> Self {
        let name: Arc<str> = Arc::from(limit.limit_name());
        Self {
            telemetry: QueueTelemetry::new(&name),
            retry_after: limit.limit_retry_after(),
            name,
            limit,
            settings,
            queued: Padded(AtomicUsize::new(0)),
            non_critical: Padded(AtomicUsize::new(0)),
            service_nanos: AtomicU64::new(0),
            lines: Mutex::new(Lines {
                lines: [VecDeque::new(), VecDeque::new(), VecDeque::new()],
                codel: Codel::new(settings.target, settings.interval, now),
                last_empty: now,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Lines<L>> {
        // A panic never happens while the lock is held (no user code runs
        // under it), but a poisoned lock must not stop the queue.
        self.lines.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Requests waiting right now.
    pub(crate) fn len(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Whether CoDel found a standing queue in its last interval (then the
    /// queue serves newest first).
    pub(crate) fn is_overloaded(&self) -> bool {
        self.lock().overloaded(Instant::now())
    }

    /// Requests other than `Critical` holding a slot taken through the queue.
    pub(crate) fn non_critical_in_flight(&self) -> usize {
        self.non_critical.load(Ordering::Relaxed)
    }

    /// The slots `Critical` requests keep for themselves at `limit`: the
    /// configured share, rounded down, leaving at least one slot to others.
    pub(crate) fn reserved(&self, limit: usize) -> usize {
        let r = limit * self.settings.critical_reserve_permille as usize / 1000;
        r.min(limit.saturating_sub(1))
    }

    /// Whether a request of `criticality` should wait rather than take a
    /// free slot at once: others are already waiting.
    #[inline]
    pub(crate) fn has_waiters(&self) -> bool {
        self.len() > 0
    }

    /// Counts one more request other than `Critical` in flight, if that
    /// stays below the limit minus the critical reserve.
    #[inline]
    fn take_non_critical(&self) -> bool {
        let limit = self.limit.current_limit();
        let cap = limit - self.reserved(limit);
        let mut current = self.non_critical.load(Ordering::Relaxed);
        loop {
            if current >= cap {
                return false;
            }
            match self.non_critical.compare_exchange_weak(
                current,
                current + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// The expected service time of a request taken off the queue.
    fn expected_service(&self) -> Duration {
        Duration::from_nanos(self.service_nanos.load(Ordering::Relaxed))
    }

    fn record_service(&self, took: Duration) {
        // An exponentially weighted average (weight 1/8), updated without a
        // lock: a lost update among racing completions costs nothing.
        let sample = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let old = self.service_nanos.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            old - old / 8 + sample / 8
        };
        self.service_nanos.store(new, Ordering::Relaxed);
    }

    /// Whether a request with `deadline` can still be answered in time if it
    /// starts at `now`.
    fn can_meet(&self, deadline: Option<Instant>, now: Instant) -> bool {
        deadline.is_none_or(|d| d > now + self.expected_service())
    }
}

/// Admits a request of `criticality` holding `permit` (a slot taken at
/// once): `Err(permit)` when it must queue instead, because it is not
/// `Critical` and the share left to others is used up.
#[inline]
pub(crate) fn admit_now<L: QueueLimit>(
    lanes: &Lanes<Waitlist<L>>,
    permit: L::Permit,
    criticality: Criticality,
) -> Result<Admitted<L>, L::Permit> {
    let non_critical = criticality != Criticality::Critical;
    if non_critical && !lanes.take_non_critical() {
        return Err(permit);
    }
    Ok(Admitted {
        permit: Some(permit),
        waitlist: lanes.current().clone(),
        non_critical,
        granted_at: None,
    })
}

/// Queues a request of `criticality` that arrived at `now` with `deadline`
/// and may wait until `now + max_wait`; tries to admit waiters at once.
/// Refused at once (never queued) when its deadline cannot be met, when it
/// is `Sheddable` while CoDel sees a standing queue, or when the queue is
/// full of requests at least as critical.
pub(crate) fn enqueue<L: QueueLimit>(
    lanes: &Lanes<Waitlist<L>>,
    criticality: Criticality,
    deadline: Option<Instant>,
    now: Instant,
) -> Result<Arc<Waiter<L>>, Refusal> {
    let wl: &Waitlist<L> = lanes;
    if !wl.can_meet(deadline, now) {
        wl.telemetry.shed(RejectKind::DeadlineExceeded);
        return Err(RejectKind::DeadlineExceeded);
    }
    let mut lines = wl.lock();
    if criticality == Criticality::Sheddable && lines.overloaded(now) {
        drop(lines);
        wl.telemetry.shed(RejectKind::QueueTimeout);
        return Err(RejectKind::QueueTimeout);
    }
    if wl.len() >= wl.settings.max_len {
        // Full: make room by shedding the oldest waiter of the least
        // critical line below this request's, if there is one.
        let victim = lines.lines[criticality.rank() + 1..]
            .iter_mut()
            .rev()
            .find_map(VecDeque::pop_front);
        match victim {
            Some(victim) => {
                wl.queued.fetch_sub(1, Ordering::Relaxed);
                shed(wl, &victim, RejectKind::Overloaded);
            }
            None => {
                drop(lines);
                wl.telemetry.shed(RejectKind::Overloaded);
                return Err(RejectKind::Overloaded);
            }
        }
    }
    let waiter = Arc::new(Waiter {
        criticality,
        enqueued: now,
        deadline,
        slot: Mutex::new(Slot::Waiting(None)),
    });
    if lines.is_empty() {
        lines.last_empty = now;
    }
    lines.lines[criticality.rank()].push_back(Arc::clone(&waiter));
    wl.queued.fetch_add(1, Ordering::Relaxed);
    // Pairs with the fence in `Admitted::drop`: either that release sees
    // this waiter, or this dispatch sees its free slot.
    fence(Ordering::SeqCst);
    let spare = dispatch_locked(lanes.current(), &mut lines, now);
    wl.telemetry.queue_len(wl.len());
    drop(lines);
    drop(spare);
    Ok(waiter)
}

/// Hands free slots to waiters (most critical line first; newest first
/// while CoDel sees a standing queue), shedding those CoDel or their
/// deadline rule out. Called when a request arrives, when a slot is given
/// back, and when a waiter's timer fires.
pub(crate) fn dispatch<L: QueueLimit>(lane: &Lane<Waitlist<L>>, now: Instant) {
    let wl: &Waitlist<L> = lane;
    let mut lines = wl.lock();
    let spare = dispatch_locked(lane, &mut lines, now);
    wl.telemetry.queue_len(wl.len());
    drop(lines);
    // A slot taken but not given out goes back outside the lock.
    drop(spare);
}

fn dispatch_locked<L: QueueLimit>(
    lane: &Lane<Waitlist<L>>,
    lines: &mut Lines<L>,
    now: Instant,
) -> Option<L::Permit> {
    let wl: &Waitlist<L> = lane;
    slough(wl, lines, now);
    let mut spare: Option<L::Permit> = None;
    loop {
        if lines.is_empty() {
            break;
        }
        let permit = match spare.take() {
            Some(p) => p,
            None => match wl.limit.try_acquire() {
                Some(p) => p,
                None => break,
            },
        };
        // CoDel sees the delay of the head of the queue (the oldest waiter,
        // the one first-in first-out would serve next), so that serving
        // newest first cannot hide a standing queue from it.
        let head = lines
            .lines
            .iter()
            .filter_map(|l| l.front().map(|w| w.enqueued))
            .min()
            .expect("a line is non-empty");
        lines
            .codel
            .observe(now.saturating_duration_since(head), now);
        slough(wl, lines, now);
        let Some(rank) = lines.lines.iter().position(|l| !l.is_empty()) else {
            spare = Some(permit);
            break;
        };
        let critical = rank == Criticality::Critical.rank();
        let lifo = lines.overloaded(now);
        let line = &mut lines.lines[rank];
        let waiter = if lifo {
            line.pop_back()
        } else {
            line.pop_front()
        }
        .expect("line checked non-empty");
        wl.queued.fetch_sub(1, Ordering::Relaxed);
        if !wl.can_meet(waiter.deadline, now) {
            shed(wl, &waiter, RejectKind::DeadlineExceeded);
            spare = Some(permit);
            continue;
        }
        if !critical && !wl.take_non_critical() {
            // The share left to others is used up: put the waiter back
            // where it was; only `Critical` waiters could go now, and there
            // are none (their line comes first).
            let line = &mut lines.lines[rank];
            if lifo {
                line.push_back(waiter);
            } else {
                line.push_front(waiter);
            }
            wl.queued.fetch_add(1, Ordering::Relaxed);
            spare = Some(permit);
            break;
        }
        let admitted = Admitted {
            permit: Some(permit),
            waitlist: lane.clone(),
            non_critical: !critical,
            granted_at: Some(now),
        };
        waiter.answer(Slot::Granted(admitted));
        wl.telemetry
            .admitted_from_queue(now.saturating_duration_since(waiter.enqueued));
    }
    if lines.is_empty() {
        // The queue drained: no standing queue in this interval.
        lines.codel.observe(Duration::ZERO, now);
        lines.last_empty = now;
    }
    spare
}

/// While CoDel sees a standing queue, sheds the waiters other than
/// `Critical` that have waited past the slough timeout (twice the target):
/// folly's rule, applied to the whole queue since it is served newest
/// first (the oldest waiters are at the front of each line).
fn slough<L: QueueLimit>(wl: &Waitlist<L>, lines: &mut Lines<L>, now: Instant) {
    if !lines.overloaded(now) {
        return;
    }
    let slough = lines.codel.slough_timeout();
    for line in &mut lines.lines[Criticality::Normal.rank()..] {
        while line
            .front()
            .is_some_and(|w| now.saturating_duration_since(w.enqueued) > slough)
        {
            let w = line.pop_front().expect("checked non-empty");
            wl.queued.fetch_sub(1, Ordering::Relaxed);
            shed(wl, &w, RejectKind::QueueTimeout);
        }
    }
}

/// Answers a waiter already taken out of its line with `kind`.
fn shed<L: QueueLimit>(wl: &Waitlist<L>, waiter: &Waiter<L>, kind: RejectKind) {
    wl.telemetry.shed(kind);
    waiter.answer(Slot::Shed(kind));
}

/// Takes `waiter` out of its line if it is still there (its future gave up
/// or its timer fired); returns whether it was.
pub(crate) fn remove<L: QueueLimit>(lanes: &Lanes<Waitlist<L>>, waiter: &Arc<Waiter<L>>) -> bool {
    let mut lines = lanes.lock();
    let line = &mut lines.lines[waiter.criticality.rank()];
    let Some(i) = line.iter().position(|w| Arc::ptr_eq(w, waiter)) else {
        return false;
    };
    line.remove(i);
    if lines.is_empty() {
        lines.last_empty = Instant::now();
    }
    lanes.queued.fetch_sub(1, Ordering::Relaxed);
    lanes.telemetry.queue_len(lanes.len());
    true
}

impl<L: QueueLimit> Waiter<L> {
    /// Gives a waiter still in its line (so `Waiting`) its outcome and
    /// wakes its future.
    fn answer(&self, outcome: Slot<L>) {
        let previous = std::mem::replace(&mut *self.lock_slot(), outcome);
        if let Slot::Waiting(Some(waker)) = previous {
            waker.wake();
        }
    }

    pub(crate) fn lock_slot(&self) -> MutexGuard<'_, Slot<L>> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When the waiter gives up on its own, and with which rejection: after
    /// `max_wait`, or earlier when its deadline (less the expected service
    /// time) comes first.
    pub(crate) fn expiry(&self, wl: &Waitlist<L>) -> (Instant, RejectKind) {
        let by_wait = self.enqueued + wl.settings.max_wait;
        match self.deadline {
            Some(d) => {
                let by_deadline = d.checked_sub(wl.expected_service()).unwrap_or(d);
                if by_deadline <= by_wait {
                    (by_deadline, RejectKind::DeadlineExceeded)
                } else {
                    (by_wait, RejectKind::QueueTimeout)
                }
            }
            None => (by_wait, RejectKind::QueueTimeout),
        }
    }
}

impl<L: QueueLimit> fmt::Debug for Waiter<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiter")
            .field("criticality", &self.criticality)
            .field("enqueued", &self.enqueued)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// A slot of the limit held by an admitted request, through the queue:
/// gives the slot back when dropped (or when [`take_permit`] hands it to
/// the limit's own accounting), then lets the next waiter in.
///
/// [`take_permit`]: Admitted::take_permit
pub(crate) struct Admitted<L: QueueLimit> {
    permit: Option<L::Permit>,
    waitlist: Lane<Waitlist<L>>,
    non_critical: bool,
    /// When a queued request was given its slot (`None` when it took a free
    /// slot at once): its service time feeds the estimate.
    granted_at: Option<Instant>,
}

impl<L: QueueLimit> Admitted<L> {
    pub(crate) fn permit_mut(&mut self) -> Option<&mut L::Permit> {
        self.permit.as_mut()
    }

    /// The limit's permit, to be given back by the limit's own rules; the
    /// rest of the ticket is given back when `self` is dropped.
    pub(crate) fn take_permit(&mut self) -> Option<L::Permit> {
        self.permit.take()
    }
}

impl<L: QueueLimit> Drop for Admitted<L> {
    #[inline]
    fn drop(&mut self) {
        drop(self.permit.take());
        let wl: &Waitlist<L> = &self.waitlist;
        if self.non_critical {
            wl.non_critical.fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(granted_at) = self.granted_at {
            wl.record_service(Instant::now().saturating_duration_since(granted_at));
        }
        // Pairs with the fence in `enqueue`: a waiter queued while this slot
        // was being given back is seen here, or sees the free slot itself.
        fence(Ordering::SeqCst);
        if wl.queued.load(Ordering::Relaxed) > 0 {
            dispatch(&self.waitlist, Instant::now());
        }
    }
}

impl<L: QueueLimit> fmt::Debug for Admitted<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admitted")
            .field("queue", &self.waitlist.name)
            .field("non_critical", &self.non_critical)
            .finish_non_exhaustive()
    }
}

impl<L: QueueLimit> fmt::Debug for Waitlist<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("name", &self.name)
            .field("len", &self.len())
            .field("max_len", &self.settings.max_len)
            .field("limit", &self.limit.current_limit())
            .field("in_flight", &self.limit.current_in_flight())
            .finish_non_exhaustive()
    }
}
