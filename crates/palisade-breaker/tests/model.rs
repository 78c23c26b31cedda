//! Model-based test: random sequences of outcomes, slow calls, held and
//! cancelled calls, resets and clock advances, run against the breaker and
//! against a small reference model written here, for both window kinds and
//! every trip rule. State, window figures and every admission must agree
//! step by step.

use palisade_breaker::{Backoff, CircuitBreaker, Outcome, Permit, State};
use proptest::prelude::*;
use std::{collections::VecDeque, time::Duration};

const SLOW_MS: u64 = 100;
const TIME_WINDOW_MS: u64 = 10_000;

#[derive(Debug, Clone)]
struct Cfg {
    count_window: Option<usize>,
    failure_rate: f64,
    minimum_calls: u64,
    consecutive: Option<u32>,
    slow_rate: Option<f64>,
    probes: u32,
    half_open_timeout_ms: u64,
    backoff_ms: (u64, u64),
}

#[derive(Debug, Clone)]
enum Op {
    Advance(u64),
    Call(Outcome, u64),
    Start,
    Finish(usize, Outcome),
    Cancel(usize),
    Reset,
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        3 => Just(Outcome::Success),
        3 => Just(Outcome::Failure),
        1 => Just(Outcome::Ignored),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u64..2_500).prop_map(Op::Advance),
        8 => (outcome(), prop_oneof![Just(0u64), Just(50), Just(SLOW_MS), Just(3_000)])
            .prop_map(|(o, d)| Op::Call(o, d)),
        2 => Just(Op::Start),
        2 => (0usize..8, outcome()).prop_map(|(i, o)| Op::Finish(i, o)),
        1 => (0usize..8).prop_map(Op::Cancel),
        1 => Just(Op::Reset),
    ]
}

fn cfg() -> impl Strategy<Value = Cfg> {
    (
        prop_oneof![(1usize..20).prop_map(Some), Just(None)],
        prop_oneof![Just(0.2), Just(0.5), Just(1.0)],
        1u64..8,
        prop_oneof![Just(None), (1u32..5).prop_map(Some)],
        prop_oneof![Just(None), Just(Some(0.5)), Just(Some(1.0))],
        1u32..4,
        1_000u64..5_000,
        (500u64..2_000, 0u64..3),
    )
        .prop_map(
            |(w, rate, min, consecutive, slow, probes, hot, (b0, bmul))| Cfg {
                count_window: w,
                failure_rate: rate,
                minimum_calls: match w {
                    Some(n) => min.min(n as u64),
                    None => min,
                },
                consecutive,
                slow_rate: slow,
                probes,
                half_open_timeout_ms: hot,
                backoff_ms: (b0, b0 * (1 << bmul)),
            },
        )
}

/// What an admission decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    Admitted { probe: bool },
    Rejected { retry_after_ms: Option<u64> },
}

#[derive(Debug, Clone, Copy)]
struct Ticket {
    generation: u64,
    probe: bool,
    start: u64,
}

/// The reference model: plain fields and a `VecDeque`, time in ms.
#[derive(Debug)]
struct Model {
    cfg: Cfg,
    now: u64,
    state: State,
    generation: u64,
    /// (finish time, failure, slow) of recorded calls this generation.
    window: VecDeque<(u64, bool, bool)>,
    consecutive: u32,
    open_until: u64,
    reopens: u32,
    taken: u32,
    ok: u32,
    deadline: Option<u64>,
    times_opened: u64,
}

impl Model {
    fn new(cfg: Cfg) -> Self {
        Self {
            cfg,
            now: 0,
            state: State::Closed,
            generation: 0,
            window: VecDeque::new(),
            consecutive: 0,
            open_until: 0,
            reopens: 0,
            taken: 0,
            ok: 0,
            deadline: None,
            times_opened: 0,
        }
    }

    fn ppm(rate: f64) -> u64 {
        (rate * 1_000_000.0).round() as u64
    }

    fn counts(&self) -> (u64, u64, u64) {
        let bucket = TIME_WINDOW_MS / 10;
        let live: Vec<_> = match self.cfg.count_window {
            Some(_) => self.window.iter().collect(),
            None => self
                .window
                .iter()
                .filter(|(t, _, _)| t / bucket + 10 > self.now / bucket)
                .collect(),
        };
        (
            live.len() as u64,
            live.iter().filter(|e| e.1).count() as u64,
            live.iter().filter(|e| e.2).count() as u64,
        )
    }

    fn transition(&mut self, to: State) {
        let from = self.state;
        self.generation += 1;
        self.window.clear();
        self.consecutive = 0;
        match to {
            State::Open => {
                if from == State::HalfOpen {
                    self.reopens += 1;
                }
                let (b0, max) = self.cfg.backoff_ms;
                let wait = (b0 << self.reopens.min(31)).min(max);
                self.open_until = self.now + wait;
                self.times_opened += 1;
            }
            State::HalfOpen => {
                self.taken = 0;
                self.ok = 0;
                self.deadline = None;
            }
            State::Closed => self.reopens = 0,
            _ => {}
        }
        self.state = to;
    }

    fn acquire(&mut self) -> (Admission, Option<Ticket>) {
        loop {
            match self.state {
                State::Closed => {
                    let t = Ticket {
                        generation: self.generation,
                        probe: false,
                        start: self.now,
                    };
                    return (Admission::Admitted { probe: false }, Some(t));
                }
                State::Open => {
                    if self.now < self.open_until {
                        let retry = Some(self.open_until - self.now);
                        return (
                            Admission::Rejected {
                                retry_after_ms: retry,
                            },
                            None,
                        );
                    }
                    self.transition(State::HalfOpen);
                }
                State::HalfOpen => {
                    if self.taken > self.ok && self.deadline.is_some_and(|d| self.now >= d) {
                        self.transition(State::Open);
                        continue;
                    }
                    if self.taken >= self.cfg.probes {
                        let retry = self.deadline.map(|d| d - self.now);
                        return (
                            Admission::Rejected {
                                retry_after_ms: retry,
                            },
                            None,
                        );
                    }
                    self.taken += 1;
                    let d = self.now + self.cfg.half_open_timeout_ms;
                    self.deadline = Some(self.deadline.map_or(d, |old| old.min(d)));
                    let t = Ticket {
                        generation: self.generation,
                        probe: true,
                        start: self.now,
                    };
                    return (Admission::Admitted { probe: true }, Some(t));
                }
                other => unreachable!("model never enters {other:?}"),
            }
        }
    }

    fn finish(&mut self, t: Ticket, outcome: Outcome) {
        self.finish_as(t, outcome, false);
    }

    /// A permit dropped without an outcome: ignored, unless it was slow.
    fn cancel(&mut self, t: Ticket) {
        self.finish_as(t, Outcome::Ignored, true);
    }

    fn finish_as(&mut self, t: Ticket, outcome: Outcome, cancelled: bool) {
        let elapsed = self.now - t.start;
        let slow = self.cfg.slow_rate.is_some() && elapsed >= SLOW_MS;
        let current = t.generation == self.generation;
        if t.probe {
            let timed_out = elapsed > self.cfg.half_open_timeout_ms;
            match outcome {
                Outcome::Ignored if !(timed_out || (cancelled && slow)) => {
                    if current && self.taken > 0 {
                        self.taken -= 1;
                        if self.taken == self.ok {
                            self.deadline = None;
                        }
                    }
                }
                Outcome::Success if !slow && !timed_out => {
                    if current {
                        self.ok += 1;
                        if self.ok >= self.cfg.probes {
                            self.transition(State::Closed);
                        }
                    }
                }
                _ => {
                    if current && self.state == State::HalfOpen {
                        self.transition(State::Open);
                    }
                }
            }
            return;
        }
        if (outcome == Outcome::Ignored && !(cancelled && slow)) || !current {
            return;
        }
        let failure = outcome == Outcome::Failure;
        self.window.push_back((self.now, failure, slow));
        if let Some(n) = self.cfg.count_window
            && self.window.len() > n
        {
            self.window.pop_front();
        }
        if self.cfg.consecutive.is_some() {
            self.consecutive = if failure { self.consecutive + 1 } else { 0 };
        }
        let (total, failures, slows) = self.counts();
        let trip = self.cfg.consecutive.is_some_and(|c| self.consecutive >= c)
            || (total >= self.cfg.minimum_calls
                && total > 0
                && (failures * 1_000_000 >= Self::ppm(self.cfg.failure_rate) * total
                    || self
                        .cfg
                        .slow_rate
                        .is_some_and(|r| slows * 1_000_000 >= Self::ppm(r) * total)));
        if trip {
            self.transition(State::Open);
        }
    }
}

fn build(cfg: &Cfg) -> CircuitBreaker {
    let mut b = CircuitBreaker::builder("model")
        .failure_rate(cfg.failure_rate)
        .minimum_calls(cfg.minimum_calls)
        .half_open_probes(cfg.probes)
        .half_open_timeout(Duration::from_millis(cfg.half_open_timeout_ms))
        .open_backoff(Backoff::exponential(
            Duration::from_millis(cfg.backoff_ms.0),
            Duration::from_millis(cfg.backoff_ms.1),
        ));
    b = match cfg.count_window {
        Some(n) => b.count_window(n),
        None => b.time_window(Duration::from_millis(TIME_WINDOW_MS)),
    };
    if let Some(c) = cfg.consecutive {
        b = b.consecutive_failures(c);
    }
    if let Some(r) = cfg.slow_rate {
        b = b.slow_calls(Duration::from_millis(SLOW_MS), r);
    }
    b.build().expect("generated configs are valid")
}

fn admit(breaker: &CircuitBreaker) -> (Admission, Option<Permit>) {
    match breaker.try_acquire() {
        Ok(p) => (
            Admission::Admitted {
                probe: p.is_probe(),
            },
            Some(p),
        ),
        Err(r) => (
            Admission::Rejected {
                retry_after_ms: r.retry_after().map(|d| d.as_millis() as u64),
            },
            None,
        ),
    }
}

fn run(cfg: Cfg, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async move {
        let breaker = build(&cfg);
        let mut model = Model::new(cfg);
        let mut held: Vec<(Permit, Ticket)> = Vec::new();
        let tick = |ms: u64| tokio::time::advance(Duration::from_millis(ms));
        for (step, op) in ops.into_iter().enumerate() {
            match op {
                Op::Advance(ms) => {
                    tick(ms).await;
                    model.now += ms;
                }
                Op::Call(outcome, ms) => {
                    let (real, permit) = admit(&breaker);
                    let (expected, ticket) = model.acquire();
                    prop_assert_eq!(real, expected, "admission at step {}", step);
                    tick(ms).await;
                    model.now += ms;
                    if let (Some(p), Some(t)) = (permit, ticket) {
                        p.record(outcome);
                        model.finish(t, outcome);
                    }
                }
                Op::Start => {
                    if held.len() < 4 {
                        let (real, permit) = admit(&breaker);
                        let (expected, ticket) = model.acquire();
                        prop_assert_eq!(real, expected, "admission at step {}", step);
                        if let (Some(p), Some(t)) = (permit, ticket) {
                            held.push((p, t));
                        }
                    }
                }
                Op::Finish(i, outcome) => {
                    if !held.is_empty() {
                        let (p, t) = held.remove(i % held.len());
                        p.record(outcome);
                        model.finish(t, outcome);
                    }
                }
                Op::Cancel(i) => {
                    if !held.is_empty() {
                        let (p, t) = held.remove(i % held.len());
                        drop(p);
                        model.cancel(t);
                    }
                }
                Op::Reset => {
                    breaker.reset();
                    model.transition(State::Closed);
                }
            }
            let snap = breaker.snapshot();
            let (total, failures, slow) = model.counts();
            prop_assert_eq!(snap.state, model.state, "state after step {}", step);
            prop_assert_eq!(
                (snap.calls, snap.failures, snap.slow_calls),
                (total, failures, slow),
                "window after step {}",
                step
            );
            prop_assert_eq!(snap.times_opened, model.times_opened);
            if model.cfg.consecutive.is_some() {
                prop_assert_eq!(snap.consecutive_failures, model.consecutive);
            }
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn breaker_agrees_with_the_model(cfg in cfg(), ops in proptest::collection::vec(op(), 1..80)) {
        run(cfg, ops)?;
    }
}
