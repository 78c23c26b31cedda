//! Where a request's own deadline comes from: [`DeadlineSource`], with
//! [`HttpHeaders`] (the default) and [`Ambient`] (any request type).

use super::{Deadline, grpc_timeout};
use http::HeaderName;
use tokio::time::Instant;

/// Reads the deadline a request asks for, and records the one it gets.
///
/// A [`Timeout`](super::Timeout) is generic over the request type through
/// this trait: its service implements `Service<Req>` for every `Req` its
/// source implements `DeadlineSource<Req>` for. Two sources come with the
/// crate:
///
/// - [`HttpHeaders`] (the default of [`Timeout::builder`](super::Timeout::builder))
///   for `http::Request<B>` — axum, hyper, tonic: reads `grpc-timeout`, the
///   configured header and a [`Deadline`] already in the extensions, and puts
///   the request's deadline into its extensions;
/// - [`Ambient`] for any request type: only the configured timeout and the
///   ambient deadline of an outer Palisade timeout apply.
///
/// Implement it for a protocol of your own whose requests carry a deadline:
///
/// ```
/// use std::time::Duration;
/// use palisade_shed::{timeout::DeadlineSource, Deadline, Timeout};
/// use tokio::time::Instant;
///
/// struct Job { budget_ms: Option<u64> }
///
/// #[derive(Clone)]
/// struct JobBudget;
///
/// impl DeadlineSource<Job> for JobBudget {
///     fn requested(&self, job: &Job, now: Instant) -> Option<Instant> {
///         now.checked_add(Duration::from_millis(job.budget_ms?))
///     }
/// }
///
/// let timeout = Timeout::builder("jobs")
///     .timeout(Duration::from_secs(30))
///     .source(JobBudget)
///     .build()
///     .unwrap();
/// # let _ = timeout;
/// ```
pub trait DeadlineSource<Req> {
    /// The earliest deadline `req` asks for, given that it arrived at `now`;
    /// `None` if it asks for none (or for one that cannot be read: never
    /// panic on bad input).
    fn requested(&self, req: &Req, now: Instant) -> Option<Instant>;

    /// Records the deadline the request got (the default does nothing).
    fn attach(&self, req: &mut Req, deadline: Deadline) {
        let _ = (req, deadline);
    }
}

/// The deadline source for HTTP requests (`http::Request<B>`), the default.
///
/// The request's deadline is the earliest of:
///
/// - its `grpc-timeout` header (unless
///   [`honor_grpc_timeout(false)`](super::TimeoutBuilder::honor_grpc_timeout)),
/// - the header set with [`honor_header`](super::TimeoutBuilder::honor_header)
///   (a whole number of milliseconds),
/// - a [`Deadline`] already in the request's extensions (set by an outer
///   Palisade timeout),
///
/// each counted from the request's arrival. An invalid value is ignored and
/// logged at debug level. Each header is looked up once, and only when it
/// is honoured.
///
/// The request's deadline is then put into its extensions (unless
/// [`deadline_in_extensions(false)`](super::TimeoutBuilder::deadline_in_extensions)):
/// written over a [`Deadline`] already there, otherwise inserted, which
/// allocates the boxed entry (and the map itself on a request whose
/// extensions are still empty; requests served by axum or tonic already
/// have one).
#[derive(Debug, Clone)]
pub struct HttpHeaders {
    pub(crate) grpc_timeout: bool,
    pub(crate) header: Option<HeaderName>,
    pub(crate) extensions: bool,
}

impl Default for HttpHeaders {
    fn default() -> Self {
        Self {
            grpc_timeout: true,
            header: None,
            extensions: true,
        }
    }
}

impl HttpHeaders {
    /// The configured millisecond header, if any.
    pub fn header(&self) -> Option<&HeaderName> {
        self.header.as_ref()
    }

    /// Whether `grpc-timeout` is honoured.
    pub fn honors_grpc_timeout(&self) -> bool {
        self.grpc_timeout
    }

    /// Whether the request's [`Deadline`] is put into its extensions.
    pub fn puts_deadline_in_extensions(&self) -> bool {
        self.extensions
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

impl<B> DeadlineSource<http::Request<B>> for HttpHeaders {
    fn requested(&self, req: &http::Request<B>, now: Instant) -> Option<Instant> {
        let mut asked = req.extensions().get::<Deadline>().map(|d| d.instant());
        if self.grpc_timeout
            && let Some(value) = req.headers().get(grpc_timeout::GRPC_TIMEOUT)
        {
            match grpc_timeout::parse(value.as_bytes()) {
                Some(budget) => asked = earliest(asked, now.checked_add(budget)),
                None => super::telemetry::invalid_header(&grpc_timeout::GRPC_TIMEOUT, value),
            }
        }
        if let Some(name) = &self.header
            && let Some(value) = req.headers().get(name)
        {
            match grpc_timeout::parse_millis(value.as_bytes()) {
                Some(budget) => asked = earliest(asked, now.checked_add(budget)),
                None => super::telemetry::invalid_header(name, value),
            }
        }
        asked
    }

    #[inline]
    fn attach(&self, req: &mut http::Request<B>, deadline: Deadline) {
        if !self.extensions {
            return;
        }
        let extensions = req.extensions_mut();
        match extensions.get_mut::<Deadline>() {
            // An outer timeout's: overwrite it in place, no allocation.
            Some(existing) => *existing = deadline,
            None => {
                extensions.insert(deadline);
            }
        }
    }
}

/// The deadline source for any request type: reads nothing from the
/// request, so only the configured timeout and the ambient deadline of an
/// outer Palisade timeout ([`Deadline::current`]) apply.
///
/// ```
/// use std::time::Duration;
/// use palisade_shed::{timeout::Ambient, Timeout};
///
/// let timeout = Timeout::builder("jobs")
///     .timeout(Duration::from_secs(5))
///     .source(Ambient)
///     .build()
///     .unwrap();
/// # let _ = timeout;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Ambient;

impl<Req> DeadlineSource<Req> for Ambient {
    fn requested(&self, _req: &Req, _now: Instant) -> Option<Instant> {
        None
    }
}
