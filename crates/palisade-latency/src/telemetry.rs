//! Metrics: export through the `metrics` facade (feature `metrics`), with cached handles.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `http_server_request_duration_seconds` | histogram | `name`, `http_request_method`, `http_route`, `http_response_status_code` (or `error_type="error"`) |
//! | `http_server_active_requests` | gauge | `name` |
//! | `palisade_latency_blocking_polls_total` | counter | `name`, `route` |
//! | `palisade_latency_slow_requests_total` | counter | `name`, `route` |
//!
//! Every handle is registered once — the gauge when the tracker is built,
//! the counters when a route is first seen, a duration histogram when a
//! route × method × status code is first seen — and reused after that.
//! Without the feature every function here is an empty inline no-op.

/// Name of the request duration histogram.
pub const REQUEST_DURATION: &str = "http_server_request_duration_seconds";
/// Name of the in-flight requests gauge.
pub const ACTIVE_REQUESTS: &str = "http_server_active_requests";
/// Name of the blocking polls counter.
pub const BLOCKING_POLLS: &str = "palisade_latency_blocking_polls_total";
/// Name of the slow requests counter.
pub const SLOW_REQUESTS: &str = "palisade_latency_slow_requests_total";

#[cfg(feature = "metrics")]
mod imp {
    use std::sync::{Arc, OnceLock};

    use metrics::{Counter, Gauge, Histogram, Unit};

    use crate::telemetry::{ACTIVE_REQUESTS, BLOCKING_POLLS, REQUEST_DURATION, SLOW_REQUESTS};
    use crate::{
        grpc::{CODE_NAMES, NO_CODE},
        status_class::StatusClass,
    };

    /// Handles of one tracker.
    #[derive(Debug)]
    pub(crate) struct TrackerMetrics {
        active: Gauge,
    }

    impl TrackerMetrics {
        pub(crate) fn new(tracker: &str) -> Self {
            metrics::describe_histogram!(
                REQUEST_DURATION,
                Unit::Seconds,
                "Duration of HTTP server requests, to the end of the response body."
            );
            metrics::describe_gauge!(ACTIVE_REQUESTS, "Number of in-flight HTTP server requests.");
            metrics::describe_counter!(
                BLOCKING_POLLS,
                "Polls of a handler's future that held the executor thread longer than the blocking threshold."
            );
            metrics::describe_counter!(
                SLOW_REQUESTS,
                "Requests that took longer than the slow threshold."
            );
            Self {
                active: metrics::gauge!(ACTIVE_REQUESTS, "name" => tracker.to_owned()),
            }
        }

        #[inline]
        pub(crate) fn request_started(&self) {
            self.active.increment(1.0);
        }

        #[inline]
        pub(crate) fn request_ended(&self) {
            self.active.decrement(1.0);
        }
    }

    /// Handles of one route.
    #[derive(Debug)]
    pub(crate) struct RouteMetrics {
        blocking: Counter,
        slow: Counter,
    }

    impl RouteMetrics {
        pub(crate) fn new(tracker: &str, route: &str) -> Self {
            Self {
                blocking: metrics::counter!(BLOCKING_POLLS, "name" => tracker.to_owned(), "route" => route.to_owned()),
                slow: metrics::counter!(SLOW_REQUESTS, "name" => tracker.to_owned(), "route" => route.to_owned()),
            }
        }

        #[inline]
        pub(crate) fn blocking_poll(&self) {
            self.blocking.increment(1);
        }

        #[inline]
        pub(crate) fn slow_request(&self) {
            self.slow.increment(1);
        }
    }

    /// Duration histograms of one route × method × class, one per status code.
    #[derive(Debug)]
    pub(crate) struct SlotMetrics {
        tracker: Arc<str>,
        route: Arc<str>,
        method: &'static str,
        class: StatusClass,
        /// Index `code % 100` within the class; the error class uses index 0.
        by_code: Box<[OnceLock<Histogram>]>,
    }

    impl SlotMetrics {
        pub(crate) fn new(
            tracker: &str,
            route: &str,
            method: &'static str,
            class: StatusClass,
        ) -> Self {
            // The error class: index 0 for errors of the inner service, 1 + code
            // for failed gRPC calls.
            let len = if class == StatusClass::Error {
                1 + CODE_NAMES.len()
            } else {
                100
            };
            Self {
                tracker: Arc::from(tracker),
                route: Arc::from(route),
                method,
                class,
                by_code: (0..len).map(|_| OnceLock::new()).collect(),
            }
        }

        #[inline]
        pub(crate) fn record(&self, code: u16, grpc_code: u8, seconds: f64) {
            let idx = if self.class != StatusClass::Error {
                usize::from(code % 100)
            } else if grpc_code == NO_CODE {
                0
            } else {
                1 + usize::from(grpc_code)
            };
            let Some(cell) = self.by_code.get(idx) else {
                return;
            };
            cell.get_or_init(|| self.register(code, grpc_code))
                .record(seconds);
        }

        #[cold]
        fn register(&self, code: u16, grpc_code: u8) -> Histogram {
            let name = metrics::SharedString::from(self.tracker.clone());
            let route = metrics::SharedString::from(self.route.clone());
            if self.class == StatusClass::Error && grpc_code != NO_CODE {
                // A failed gRPC call: the HTTP status it had, and its gRPC
                // code as the error type (OTel HTTP conventions).
                metrics::histogram!(REQUEST_DURATION,
                    "name" => name,
                    "http_request_method" => self.method,
                    "http_route" => route,
                    "http_response_status_code" => code.to_string(),
                    "error_type" => CODE_NAMES.get(usize::from(grpc_code)).copied().unwrap_or("UNKNOWN"))
            } else if self.class == StatusClass::Error {
                metrics::histogram!(REQUEST_DURATION,
                    "name" => name,
                    "http_request_method" => self.method,
                    "http_route" => route,
                    "error_type" => "error")
            } else {
                metrics::histogram!(REQUEST_DURATION,
                    "name" => name,
                    "http_request_method" => self.method,
                    "http_route" => route,
                    "http_response_status_code" => code.to_string())
            }
        }
    }
}

#[cfg(not(feature = "metrics"))]
mod imp {
    use crate::status_class::StatusClass;

    #[derive(Debug)]
    pub(crate) struct TrackerMetrics;

    impl TrackerMetrics {
        pub(crate) fn new(_tracker: &str) -> Self {
            Self
        }
        #[inline]
        pub(crate) fn request_started(&self) {}
        #[inline]
        pub(crate) fn request_ended(&self) {}
    }

    #[derive(Debug)]
    pub(crate) struct RouteMetrics;

    impl RouteMetrics {
        pub(crate) fn new(_tracker: &str, _route: &str) -> Self {
            Self
        }
        #[inline]
        pub(crate) fn blocking_poll(&self) {}
        #[inline]
        pub(crate) fn slow_request(&self) {}
    }

    #[derive(Debug)]
    pub(crate) struct SlotMetrics;

    impl SlotMetrics {
        pub(crate) fn new(_t: &str, _r: &str, _m: &'static str, _c: StatusClass) -> Self {
            Self
        }
        #[inline]
        pub(crate) fn record(&self, _code: u16, _grpc_code: u8, _seconds: f64) {}
    }
}

pub(crate) use imp::{RouteMetrics, SlotMetrics, TrackerMetrics};
