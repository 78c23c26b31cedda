//! The state machine shared by every service, permit and handle of one breaker.
//!
//! Hot path: admission in `Closed` is one atomic load of `word` (state and
//! generation), which yields a one-word `Ticket`; recording a success into a
//! count window already full of successes is one atomic load (nothing
//! changes, the window is not written; the call total in `telemetry.rs` is
//! added to on the calling thread's own line), any other outcome a ring slot (swapped only
//! if it differs) and one `fetch_add` of the packed counts when they change.
//! The clock is read only when a rule needs it (slow calls, time window,
//! open wait, half-open timeout). Every transition happens under `control` (a `std` mutex held for
//! a few instructions), bumps the generation and resets the window before
//! publishing the new state; outcomes of calls admitted under an older
//! generation are dropped. Callbacks run after the lock is released.

use crate::{
    settings::{Settings, WindowSpec},
    status::{Reason, Snapshot, State, Transition},
    telemetry::{Call, Telemetry},
    window::{CountWindow, Counts, TimeWindow, Window},
};
use palisade_core::{Outcome, RejectKind, Rejected, lane::Padded};
use std::{
    fmt,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU32, AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::time::Instant;

/// A transition callback.
pub(crate) type Callback = Arc<dyn Fn(&Transition) + Send + Sync>;

/// What an admitted call is, and so how its outcome is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TicketKind {
    /// Admitted while closed: recorded in the window, may trip.
    Closed,
    /// Admitted in metrics-only mode: recorded, never trips.
    MetricsOnly,
    /// A half-open probe holding one of the probe slots.
    Probe,
    /// Admitted while disabled: nothing is recorded.
    Untracked,
    /// Already recorded: nothing more to do.
    Finished,
}

impl TicketKind {
    const fn to_bits(self) -> u64 {
        match self {
            TicketKind::Closed => 0,
            TicketKind::MetricsOnly => 1,
            TicketKind::Probe => 2,
            TicketKind::Untracked => 3,
            TicketKind::Finished => 4,
        }
    }

    const fn from_bits(bits: u64) -> Self {
        match bits {
            0 => TicketKind::Closed,
            1 => TicketKind::MetricsOnly,
            2 => TicketKind::Probe,
            3 => TicketKind::Untracked,
            _ => TicketKind::Finished,
        }
    }
}

/// Why an admitted call ended without an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dropped {
    /// A panic unwound through it: a failure.
    Panicked,
    /// Dropped after the ambient deadline passed: a failure.
    DeadlineExceeded,
    /// Dropped for any other reason: ignored (but slow if it ran past the
    /// slow-call threshold).
    Cancelled,
}

/// An admission: which generation it belongs to, what kind it is and
/// whether it is timed, packed in one word.
///
/// One word on purpose: it travels from the admission through the service
/// into the response future, and a struct of narrow fields copied whole
/// through memory makes the CPU wait for its stores to reach the cache
/// (failed store-to-load forwarding), which measured dearer than all the
/// breaker's real work. The call's start time, when needed, is kept apart
/// (see `Guard`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket(u64);

const TIMED: u64 = 0x100;

impl Ticket {
    #[inline]
    pub(crate) const fn new(generation: u32, kind: TicketKind, timed: bool) -> Self {
        Self(((generation as u64) << 32) | if timed { TIMED } else { 0 } | kind.to_bits())
    }

    #[inline]
    pub(crate) const fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }

    #[inline]
    pub(crate) const fn kind(self) -> TicketKind {
        TicketKind::from_bits(self.0 & 0xFF)
    }

    /// Whether the slow-call rule needs the call timed.
    #[inline]
    pub(crate) const fn timed(self) -> bool {
        self.0 & TIMED != 0
    }

    /// The same ticket, recorded.
    #[inline]
    pub(crate) const fn finished(self) -> Self {
        Self((self.0 & !0xFF) | TicketKind::Finished.to_bits())
    }
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket")
            .field("generation", &self.generation())
            .field("kind", &self.kind())
            .field("timed", &self.timed())
            .finish()
    }
}

/// A refusal: the time until the breaker may admit again, in nanoseconds
/// (`NO_RETRY`: unknown). One word, cheap to carry from `poll_ready` to
/// `call`; the public [`Rejected`] is built from it only when it is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal(u64);

const NO_RETRY: u64 = u64::MAX;

#[inline]
const fn pack_word(state: State, generation: u32) -> u64 {
    ((generation as u64) << 32) | state.to_bits()
}

#[inline]
const fn unpack_word(word: u64) -> (State, u32) {
    (State::from_bits(word & 0xFF), (word >> 32) as u32)
}

// probes word: [generation:32][taken:16][succeeded:16]
#[inline]
const fn pack_probes(generation: u32, taken: u32, ok: u32) -> u64 {
    ((generation as u64) << 32) | ((taken as u64 & 0xFFFF) << 16) | (ok as u64 & 0xFFFF)
}

#[inline]
const fn unpack_probes(word: u64) -> (u32, u32, u32) {
    (
        (word >> 32) as u32,
        ((word >> 16) & 0xFFFF) as u32,
        (word & 0xFFFF) as u32,
    )
}

#[derive(Debug)]
struct Control {
    /// Consecutive re-opens since the breaker last closed (the backoff step).
    reopens: u32,
}

/// The state machine of one breaker: its state word, window, counters and
/// transition callbacks.
pub(crate) struct StateMachine {
    word: AtomicU64,
    /// While open: nanoseconds since `base` at which probing is allowed.
    open_until: AtomicU64,
    /// While half-open: the deadline of the oldest outstanding probe.
    probe_deadline: AtomicU64,
    probes: AtomicU64,
    /// Written on failures: away from the read-mostly `word`.
    consecutive: Padded<AtomicU32>,
    times_opened: AtomicU64,
    window: Window,
    /// Whether an admitted closed call needs its start time (slow-call rule).
    pub(crate) timed: bool,
    pub(crate) config: Settings,
    base: Instant,
    control: Mutex<Control>,
    callbacks: Mutex<Vec<Callback>>,
    telemetry: Telemetry,
}

impl fmt::Debug for StateMachine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateMachine")
            .field("name", &self.config.name)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl StateMachine {
    /// `lanes`: how many lanes the breaker has (calls are counted apart per lane).
    pub(crate) fn new(config: Settings, lanes: usize) -> Self {
        let window = match config.window {
            WindowSpec::Count(n) => Window::Count(CountWindow::new(n)),
            WindowSpec::Time(d) => Window::Time(TimeWindow::new(nanos(d))),
        };
        Self {
            word: AtomicU64::new(pack_word(State::Closed, 0)),
            open_until: AtomicU64::new(0),
            probe_deadline: AtomicU64::new(u64::MAX),
            probes: AtomicU64::new(pack_probes(0, 0, 0)),
            consecutive: Padded(AtomicU32::new(0)),
            times_opened: AtomicU64::new(0),
            window,
            timed: config.slow_calls.is_some(),
            telemetry: Telemetry::new(&config.name, lanes),
            config,
            base: Instant::now(),
            control: Mutex::new(Control { reopens: 0 }),
            callbacks: Mutex::new(Vec::new()),
        }
    }

    #[inline]
    fn since_base(&self, now: Instant) -> u64 {
        nanos(now.saturating_duration_since(self.base))
    }

    #[inline]
    fn now_nanos(&self) -> u64 {
        self.since_base(Instant::now())
    }

    #[inline]
    pub(crate) fn state(&self) -> State {
        unpack_word(self.word.load(Ordering::Acquire)).0
    }

    /// While open: when probing will be allowed.
    pub(crate) fn open_deadline(&self) -> Option<Instant> {
        let (state, _) = unpack_word(self.word.load(Ordering::Acquire));
        (state == State::Open)
            .then(|| self.base + Duration::from_nanos(self.open_until.load(Ordering::Acquire)))
    }

    /// Counts a refusal and says until when.
    #[inline]
    fn refuse(&self, retry_after: Option<Duration>) -> Refusal {
        self.telemetry.call(Call::Rejected);
        Refusal(retry_after.map_or(NO_RETRY, |d| nanos(d).min(NO_RETRY - 1)))
    }

    /// The public error for a refusal.
    pub(crate) fn rejected(&self, refusal: Refusal) -> Rejected {
        let r = Rejected::new(RejectKind::CircuitOpen, self.config.name.clone());
        match refusal.0 {
            NO_RETRY => r,
            n => r.with_retry_after(Duration::from_nanos(n)),
        }
    }

    /// Admits a call or rejects it.
    #[inline]
    pub(crate) fn acquire(&self) -> Result<Ticket, Refusal> {
        let (state, generation) = unpack_word(self.word.load(Ordering::Acquire));
        if state == State::Closed {
            return Ok(self.ticket(generation, TicketKind::Closed));
        }
        self.acquire_slow(state, generation)
    }

    #[inline]
    fn ticket(&self, generation: u32, kind: TicketKind) -> Ticket {
        Ticket::new(generation, kind, self.timed)
    }

    #[inline(never)]
    fn acquire_slow(&self, mut state: State, mut generation: u32) -> Result<Ticket, Refusal> {
        loop {
            match state {
                State::Closed => return Ok(self.ticket(generation, TicketKind::Closed)),
                State::MetricsOnly => {
                    return Ok(self.ticket(generation, TicketKind::MetricsOnly));
                }
                State::Disabled => {
                    return Ok(Ticket::new(generation, TicketKind::Untracked, false));
                }
                State::ForcedOpen => return Err(self.refuse(None)),
                State::Open => {
                    let now = self.now_nanos();
                    let until = self.open_until.load(Ordering::Acquire);
                    if now < until {
                        return Err(self.refuse(Some(Duration::from_nanos(until - now))));
                    }
                    self.transition(
                        Some((generation, State::Open)),
                        State::HalfOpen,
                        Reason::OpenWaitElapsed,
                    );
                }
                State::HalfOpen => {
                    let now = Instant::now();
                    match self.try_probe(generation, now) {
                        Ok(Some(ticket)) => return Ok(ticket),
                        Ok(None) => {}
                        Err(retry_after) => return Err(self.refuse(retry_after)),
                    }
                }
            }
            (state, generation) = unpack_word(self.word.load(Ordering::Acquire));
        }
    }

    /// Takes a probe slot. `Ok(None)`: the state changed, look again.
    fn try_probe(&self, generation: u32, now: Instant) -> Result<Option<Ticket>, Option<Duration>> {
        let now_n = self.since_base(now);
        let limit = self.config.half_open_probes;
        let mut word = self.probes.load(Ordering::Acquire);
        loop {
            let (g, taken, ok) = unpack_probes(word);
            if g != generation {
                return Ok(None);
            }
            let deadline = self.probe_deadline.load(Ordering::Acquire);
            if taken > ok && now_n >= deadline {
                // An outstanding probe overran half_open_timeout.
                self.transition(
                    Some((generation, State::HalfOpen)),
                    State::Open,
                    Reason::ProbeTimedOut,
                );
                return Ok(None);
            }
            if taken >= limit {
                let retry = deadline.checked_sub(now_n).map(Duration::from_nanos);
                return Err(retry);
            }
            match self.probes.compare_exchange_weak(
                word,
                pack_probes(g, taken + 1, ok),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    let timeout = nanos(self.config.half_open_timeout);
                    self.probe_deadline
                        .fetch_min(now_n.saturating_add(timeout), Ordering::AcqRel);
                    return Ok(Some(Ticket::new(generation, TicketKind::Probe, false)));
                }
                Err(actual) => word = actual,
            }
        }
    }

    /// Records the outcome of an admitted call.
    /// `start`: when the call started, for timed calls and probes.
    #[inline]
    pub(crate) fn finish(&self, ticket: Ticket, start: Option<&Instant>, outcome: Outcome) {
        // The common case of a healthy dependency: a closed, untimed call
        // succeeds while the count window holds only successes. One more
        // success changes nothing (no slot, no counter; and the failure
        // streak is already 0, as the last recorded outcome was a success),
        // so the only cost is a load of the counts word, which no thread
        // writes while the dependency stays healthy.
        if ticket.kind() == TicketKind::Closed
            && outcome == Outcome::Success
            && !ticket.timed()
            && let Window::Count(w) = &self.window
            && w.unchanged_by_success(ticket.generation())
        {
            self.telemetry.call(Call::Success);
            return;
        }
        self.finish_slow(ticket, start.copied(), outcome);
    }

    #[inline(never)]
    fn finish_slow(&self, ticket: Ticket, start: Option<Instant>, outcome: Outcome) {
        self.finish_any(ticket, start, outcome, false);
    }

    /// Records a call that ended without an outcome (see [`Dropped`]).
    #[cold]
    #[inline(never)]
    pub(crate) fn finish_dropped(&self, ticket: Ticket, start: Option<Instant>, cause: Dropped) {
        if matches!(ticket.kind(), TicketKind::Untracked | TicketKind::Finished) {
            return;
        }
        match cause {
            Dropped::Panicked => {
                self.telemetry.call(Call::Panic);
                self.finish_any(ticket, start, Outcome::Failure, false);
            }
            Dropped::DeadlineExceeded => {
                self.telemetry.call(Call::Timeout);
                self.finish_any(ticket, start, Outcome::Failure, false);
            }
            Dropped::Cancelled => self.finish_any(ticket, start, Outcome::Ignored, true),
        }
    }

    /// `cancelled`: an `Ignored` call that was dropped (rather than
    /// classified `Ignored`), which still counts if it was slow.
    fn finish_any(
        &self,
        ticket: Ticket,
        start: Option<Instant>,
        outcome: Outcome,
        cancelled: bool,
    ) {
        match ticket.kind() {
            TicketKind::Untracked | TicketKind::Finished => {}
            TicketKind::Closed | TicketKind::MetricsOnly => {
                self.finish_closed(ticket, start, outcome, cancelled);
            }
            TicketKind::Probe => self.finish_probe(ticket, start, outcome, cancelled),
        }
    }

    fn finish_closed(
        &self,
        ticket: Ticket,
        start: Option<Instant>,
        outcome: Outcome,
        cancelled: bool,
    ) {
        let mut now = None;
        let slow = match (self.config.slow_calls, start) {
            (Some(rule), Some(start)) => {
                let t = Instant::now();
                now = Some(t);
                t.saturating_duration_since(start) >= rule.threshold
            }
            _ => false,
        };
        let failure = match outcome {
            Outcome::Success => {
                self.telemetry.call(Call::Success);
                false
            }
            Outcome::Failure => {
                self.telemetry.call(Call::Failure);
                true
            }
            Outcome::Ignored => {
                self.telemetry.call(Call::Ignored);
                // A cancelled call that already ran past the threshold
                // still tells that the dependency is slow.
                if !(cancelled && slow) {
                    return;
                }
                false
            }
        };
        if slow {
            self.telemetry.call(Call::Slow);
        }
        let Some(counts) = self.window.record(ticket.generation(), failure, slow, || {
            self.since_base(now.unwrap_or_else(Instant::now))
        }) else {
            return;
        };
        let consecutive = match self.config.consecutive_failures {
            Some(_) if failure => self.consecutive.fetch_add(1, Ordering::AcqRel) + 1,
            Some(_) => {
                if self.consecutive.load(Ordering::Relaxed) != 0 {
                    self.consecutive.store(0, Ordering::Release);
                }
                0
            }
            None => 0,
        };
        if ticket.kind() == TicketKind::MetricsOnly {
            return;
        }
        if let Some(reason) = self.verdict(counts, consecutive) {
            self.transition(
                Some((ticket.generation(), State::Closed)),
                State::Open,
                reason,
            );
        }
    }

    /// Whether the window (or the failure streak) says trip.
    #[inline]
    fn verdict(&self, c: Counts, consecutive: u32) -> Option<Reason> {
        let cfg = &self.config;
        if let Some(limit) = cfg.consecutive_failures
            && consecutive >= limit
        {
            return Some(Reason::ConsecutiveFailures);
        }
        if c.total < cfg.minimum_calls || c.total == 0 {
            return None;
        }
        if c.failures * 1_000_000 >= cfg.failure_rate_ppm * c.total {
            return Some(Reason::FailureRate);
        }
        if let Some(rule) = cfg.slow_calls
            && c.slow * 1_000_000 >= rule.rate_ppm * c.total
        {
            return Some(Reason::SlowCallRate);
        }
        None
    }

    fn finish_probe(
        &self,
        ticket: Ticket,
        start: Option<Instant>,
        outcome: Outcome,
        cancelled: bool,
    ) {
        let elapsed = start
            .map(|s| Instant::now().saturating_duration_since(s))
            .unwrap_or_default();
        let slow = self
            .config
            .slow_calls
            .is_some_and(|rule| elapsed >= rule.threshold);
        let timed_out = elapsed > self.config.half_open_timeout;
        match outcome {
            Outcome::Success => self.telemetry.call(Call::Success),
            Outcome::Failure => self.telemetry.call(Call::Failure),
            Outcome::Ignored => self.telemetry.call(Call::Ignored),
        }
        if slow {
            self.telemetry.call(Call::Slow);
        }
        let verdict = match outcome {
            Outcome::Ignored if !(timed_out || (cancelled && slow)) => {
                self.release_probe(ticket.generation());
                return;
            }
            Outcome::Success if !slow && !timed_out => Outcome::Success,
            _ => Outcome::Failure,
        };
        if verdict == Outcome::Failure {
            let reason = if timed_out {
                Reason::ProbeTimedOut
            } else {
                Reason::ProbeFailed
            };
            self.transition(
                Some((ticket.generation(), State::HalfOpen)),
                State::Open,
                reason,
            );
            return;
        }
        let mut word = self.probes.load(Ordering::Acquire);
        loop {
            let (g, taken, ok) = unpack_probes(word);
            if g != ticket.generation() {
                return;
            }
            match self.probes.compare_exchange_weak(
                word,
                pack_probes(g, taken, ok + 1),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if ok + 1 >= self.config.half_open_probes {
                        self.transition(
                            Some((ticket.generation(), State::HalfOpen)),
                            State::Closed,
                            Reason::ProbesSucceeded,
                        );
                    }
                    return;
                }
                Err(actual) => word = actual,
            }
        }
    }

    /// A probe that will not report (cancelled, ignored) frees its slot.
    fn release_probe(&self, generation: u32) {
        let mut word = self.probes.load(Ordering::Acquire);
        loop {
            let (g, taken, ok) = unpack_probes(word);
            if g != generation || taken == 0 {
                return;
            }
            match self.probes.compare_exchange_weak(
                word,
                pack_probes(g, taken - 1, ok),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if taken - 1 == ok {
                        // No probe outstanding: no deadline to watch.
                        self.probe_deadline.store(u64::MAX, Ordering::Release);
                    }
                    return;
                }
                Err(actual) => word = actual,
            }
        }
    }

    /// Moves to `to`. With `expect`, only from that generation and state
    /// (so concurrent observers of one condition transition once); without,
    /// from anywhere (manual calls). Returns whether it moved.
    pub(crate) fn transition(
        &self,
        expect: Option<(u32, State)>,
        to: State,
        reason: Reason,
    ) -> bool {
        let now = Instant::now();
        let transition = {
            let mut control = self.control.lock().unwrap_or_else(PoisonError::into_inner);
            let (from, generation) = unpack_word(self.word.load(Ordering::Acquire));
            if let Some(expected) = expect
                && expected != (generation, from)
            {
                return false;
            }
            let next = generation.wrapping_add(1);
            self.window.reset(next);
            self.consecutive.store(0, Ordering::Release);
            match to {
                State::Open => {
                    if from == State::HalfOpen {
                        control.reopens = control.reopens.saturating_add(1);
                    }
                    let wait = self.config.backoff.wait(control.reopens);
                    self.open_until.store(
                        self.since_base(now).saturating_add(nanos(wait)),
                        Ordering::Release,
                    );
                    self.times_opened.fetch_add(1, Ordering::Relaxed);
                }
                State::HalfOpen => {
                    self.probe_deadline.store(u64::MAX, Ordering::Release);
                    self.probes
                        .store(pack_probes(next, 0, 0), Ordering::Release);
                }
                State::Closed => control.reopens = 0,
                State::ForcedOpen | State::Disabled | State::MetricsOnly => {}
            }
            self.word.store(pack_word(to, next), Ordering::Release);
            drop(control);
            if from == to {
                // A reset of a closed breaker (or a repeated manual call):
                // the window is fresh, nothing to announce.
                return true;
            }
            Transition {
                name: self.config.name.clone(),
                from,
                to,
                at: now,
                reason,
            }
        };
        self.telemetry.transition(&transition);
        let callbacks: Vec<Callback> = self
            .callbacks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for callback in callbacks {
            if catch_unwind(AssertUnwindSafe(|| callback(&transition))).is_err() {
                self.telemetry.callback_panicked();
            }
        }
        true
    }

    pub(crate) fn add_callback(&self, callback: Callback) {
        self.callbacks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(callback);
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let (state, generation) = unpack_word(self.word.load(Ordering::Acquire));
        let now = self.now_nanos();
        let counts = self.window.counts(generation, now);
        let rate = |n: u64| {
            if counts.total == 0 {
                0.0
            } else {
                n as f64 / counts.total as f64
            }
        };
        Snapshot {
            state,
            failure_rate: rate(counts.failures),
            slow_call_rate: rate(counts.slow),
            calls: counts.total,
            failures: counts.failures,
            slow_calls: counts.slow,
            consecutive_failures: self.consecutive.load(Ordering::Acquire),
            times_opened: self.times_opened.load(Ordering::Relaxed),
            calls_total: self.telemetry.calls_total(),
            rejected_total: self.telemetry.rejected_total(),
            next_probe_at: (state == State::Open)
                .then(|| self.base + Duration::from_nanos(self.open_until.load(Ordering::Acquire))),
        }
    }
}
