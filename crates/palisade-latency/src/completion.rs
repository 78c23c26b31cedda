//! [`Completion`]: the record of one request in flight, which records it
//! into the tracker when it ends (or as aborted when dropped first).

use std::{sync::Arc, time::Duration};

use tokio::time::Instant;

use crate::{
    blocking::{BlockingPoll, warn_blocking},
    grpc::NO_CODE,
    histogram::{Record, micros},
    log_limit::LOG_INTERVAL,
    method::METHODS,
    slow::{SlowRequest, warn_slow},
    state::ShardRef,
    status_class::StatusClass,
};

/// One request in flight: recorded when [`finish`](Self::finish)ed, or as
/// aborted when dropped first (a response body dropped before its end, a
/// response future dropped before the response).
#[must_use = "dropping a Completion records the request as aborted"]
pub struct Completion {
    shared: Arc<ShardRef>,
    route: u32,
    method: u8,
    start: Instant,
    head: Option<Duration>,
    status: u16,
    class: StatusClass,
    blocking_polls: u32,
    /// The gRPC code of a failed gRPC call (`NO_CODE` otherwise).
    grpc_code: u8,
    /// A route the client named and the table does not know yet: registered
    /// when the request ends, unless the response showed the server does not
    /// serve it.
    claimed: Option<Box<str>>,
    /// Blocking polls seen while the route was a pending claim, exported
    /// when the request ends.
    polls_deferred: bool,
    /// A gRPC response whose status comes in trailers.
    #[cfg(feature = "grpc")]
    grpc_eos: bool,
    done: bool,
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completion")
            .field("route", &self.shared.routes.entry(self.route).name)
            .field("method", &METHODS[usize::from(self.method)])
            .field("head", &self.head)
            .field("status", &self.status)
            .field("blocking_polls", &self.blocking_polls)
            .finish_non_exhaustive()
    }
}

impl Completion {
    /// Starts the clock for one request.
    #[inline]
    pub(crate) fn start(
        shared: Arc<ShardRef>,
        route: u32,
        claimed: Option<Box<str>>,
        method: usize,
    ) -> Self {
        shared.metrics.request_started();
        Self {
            shared,
            route,
            #[allow(clippy::cast_possible_truncation)] // < METHODS.len()
            method: method as u8,
            start: Instant::now(),
            head: None,
            status: 0,
            class: StatusClass::Error,
            blocking_polls: 0,
            grpc_code: NO_CODE,
            claimed,
            polls_deferred: false,
            #[cfg(feature = "grpc")]
            grpc_eos: false,
            done: false,
        }
    }

    #[inline]
    pub(crate) fn blocking_threshold(&self) -> Option<Duration> {
        self.shared.blocking_threshold
    }

    /// One poll of the inner future took `poll`, over the threshold.
    #[cold]
    pub(crate) fn blocking_poll(&mut self, poll: Duration, threshold: Duration, now: Instant) {
        self.blocking_polls = self.blocking_polls.saturating_add(1);
        if self.claimed.is_some() {
            // The route is not known yet: exported when the request ends,
            // under the route it then has (and not logged).
            self.polls_deferred = true;
            return;
        }
        let entry = self.shared.routes.entry(self.route);
        entry.metrics.blocking_poll();
        if let Some(suppressed) = entry
            .blocking_log
            .allow(self.shared.since_start_us(now), LOG_INTERVAL)
        {
            warn_blocking(&BlockingPoll {
                tracker: &self.shared.name,
                route: &entry.name,
                method: METHODS[usize::from(self.method)],
                poll,
                threshold,
                suppressed,
            });
        }
    }

    /// The response head is ready with `status`; `at` is when, if the clock
    /// was read anyway (blocking detector on). Otherwise the time to head is
    /// taken when the body is first polled (see [`mark_head`](Self::mark_head)).
    #[inline]
    pub(crate) fn head(&mut self, at: Option<Instant>, status: u16) {
        self.head = at.map(|at| at.saturating_duration_since(self.start));
        self.status = status;
        self.class = StatusClass::from_code(status);
        if status == 404 {
            // A client-chosen path the server does not serve: never a route.
            self.claimed = None;
        }
    }

    /// A client-chosen route answered `UNIMPLEMENTED` in the response head
    /// (a trailers-only gRPC response, as servers answer unknown methods) is
    /// never a route.
    #[inline]
    pub(crate) fn check_claim(&mut self, headers: &http::HeaderMap) {
        if self.claimed.is_some() {
            self.drop_unserved_claim(headers);
        }
    }

    #[cold]
    fn drop_unserved_claim(&mut self, headers: &http::HeaderMap) {
        if headers
            .get("grpc-status")
            .is_some_and(|v| v.as_bytes().trim_ascii() == b"12")
        {
            self.claimed = None;
        }
    }

    /// A gRPC response head: a failure status in the headers (trailers-only
    /// response) moves the request to the `error` class; a status still to
    /// come is looked for in the trailers.
    #[cfg(feature = "grpc")]
    pub(crate) fn grpc_head<B>(&mut self, res: &http::Response<B>) {
        use palisade_core::{Outcome, grpc::GrpcVerdict};
        if !crate::grpc::is_grpc(res.headers()) {
            return;
        }
        match self.shared.grpc.classify_response(res) {
            GrpcVerdict::Ready(Outcome::Failure) => self.grpc_failed(res.headers()),
            GrpcVerdict::Ready(_) => {}
            GrpcVerdict::AtEndOfStream => self.grpc_eos = true,
        }
    }

    /// The trailers of a response body: for a gRPC response whose status
    /// comes in trailers, a failure status moves the request to `error`.
    #[cfg(feature = "grpc")]
    pub(crate) fn grpc_trailers(&mut self, trailers: &http::HeaderMap) {
        if !self.grpc_eos {
            return;
        }
        self.grpc_eos = false;
        if self.shared.grpc.classify_trailers(Some(trailers)) == palisade_core::Outcome::Failure {
            self.grpc_failed(trailers);
        }
    }

    #[cfg(feature = "grpc")]
    fn grpc_failed(&mut self, status: &http::HeaderMap) {
        self.class = StatusClass::Error;
        self.grpc_code = crate::grpc::status_code(status);
    }

    /// Sets the time to head to `at` unless it is known already.
    #[inline]
    pub(crate) fn mark_head(&mut self, at: Instant) {
        if self.head.is_none() {
            self.head = Some(at.saturating_duration_since(self.start));
        }
    }

    /// Whether the time to head is known yet.
    #[inline]
    pub(crate) fn has_head(&self) -> bool {
        self.head.is_some()
    }

    /// The inner service failed at `at`.
    #[inline]
    pub(crate) fn error(mut self, at: Instant) {
        self.head = Some(at.saturating_duration_since(self.start));
        self.class = StatusClass::Error;
        self.record(at, false);
    }

    /// The time from the start of the request to its response head, if known yet.
    pub fn head_duration(&self) -> Option<Duration> {
        self.head
    }

    /// The request ended now: records it (one clock read). If the time to
    /// head was not taken, it is the same as the time to end.
    #[inline]
    pub fn finish(mut self) {
        self.record(Instant::now(), false);
    }

    fn record(&mut self, end: Instant, aborted: bool) {
        if self.done {
            return;
        }
        self.done = true;
        if let Some(claimed) = self.claimed.take()
            && self.status != 0
        {
            // The server answered the client-chosen route: it is one.
            self.route = self.shared.routes.resolve(Some(&claimed));
        }
        if self.polls_deferred {
            let entry = self.shared.routes.entry(self.route);
            for _ in 0..self.blocking_polls {
                entry.metrics.blocking_poll();
            }
        }
        let shared = &*self.shared;
        let total = end.saturating_duration_since(self.start);
        let head = self.head.unwrap_or(total);
        let entry = shared.routes.entry(self.route);
        let method = usize::from(self.method);
        let slow = shared.slow_threshold.is_some_and(|t| total > t);
        if slow {
            entry.metrics.slow_request();
            if let (Some(threshold), Some(suppressed)) = (
                shared.slow_threshold,
                entry
                    .slow_log
                    .allow(shared.since_start_us(end), LOG_INTERVAL),
            ) {
                warn_slow(&SlowRequest {
                    tracker: &shared.name,
                    route: &entry.name,
                    method: METHODS[method],
                    class: self.class,
                    status: self.status,
                    duration: total,
                    threshold,
                    suppressed,
                });
            }
        }
        let slot = entry.slot(method, self.class, shared.shards, &shared.name);
        slot.record(
            shared.epoch_of(end),
            &Record {
                head_us: micros(head),
                total_us: micros(total),
                aborted,
                slow,
                blocking_polls: self.blocking_polls,
            },
        );
        slot.metrics
            .record(self.status, self.grpc_code, total.as_secs_f64());
        shared.metrics.request_ended();
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if !self.done {
            self.record(Instant::now(), true);
        }
    }
}
