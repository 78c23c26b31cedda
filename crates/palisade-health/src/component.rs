//! What a component is: the [`Component`] trait, the [`Check`] it returns,
//! the [`Options`] it is registered with, and [`Probe`], a component made
//! from an async closure.

use std::{fmt, future::Future, pin::Pin, time::Duration};

use serde_json::Value;

use crate::Status;

/// The future a [`Component::check`] returns. Checks run in the background,
/// never on a request path, so a boxed future costs nothing that matters.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Check> + Send + 'a>>;

/// The outcome of one check: a status, a short human-readable detail and
/// optional figures (`data`, a JSON object shown on the status page and in
/// the JSON).
///
/// ```
/// use palisade_health::{Check, Status};
///
/// let check = Check::degraded("replica lag 12s").with_data(serde_json::json!({ "lag_s": 12 }));
/// assert_eq!(check.status(), Status::Degraded);
/// assert_eq!(check.detail(), "replica lag 12s");
/// assert_eq!(check.data()["lag_s"], 12);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    status: Status,
    detail: String,
    data: Value,
}

impl Check {
    /// A check with `status` and `detail`, and no data.
    pub fn new(status: Status, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            data: Value::Null,
        }
    }

    /// `Up`, with no detail.
    pub fn up() -> Self {
        Self::new(Status::Up, "")
    }

    /// `Degraded`, with a detail saying why.
    pub fn degraded(detail: impl Into<String>) -> Self {
        Self::new(Status::Degraded, detail)
    }

    /// `Down`, with a detail saying why.
    pub fn down(detail: impl Into<String>) -> Self {
        Self::new(Status::Down, detail)
    }

    /// `OutOfService`, with a detail saying why.
    pub fn out_of_service(detail: impl Into<String>) -> Self {
        Self::new(Status::OutOfService, detail)
    }

    /// Replaces the detail.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    /// Attaches figures (a JSON object) for the status page and the JSON.
    #[must_use]
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }

    /// The status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The detail (empty when there is nothing to say).
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The figures (`null` when there are none).
    pub fn data(&self) -> &Value {
        &self.data
    }
}

/// Anything whose health can be checked: a database ping, or a Palisade
/// handle (see [`components`](crate::components)).
///
/// A check is run by the background task of the [`Health`](crate::Health)
/// it is registered with, on its interval and under its timeout
/// ([`Options`]); a check that overruns its timeout is cancelled (its
/// future dropped) and reported `Down`. `check` takes `&self`: a component
/// that keeps state between checks (rates, history) keeps it behind its own
/// lock, which only its own check touches.
pub trait Component: Send + Sync + 'static {
    /// The component's name: the key in the JSON, unique within a `Health`.
    fn name(&self) -> &str;

    /// What sort of component this is: `check` for a plain check, or
    /// `breaker`, `limit`, `cache`, `redis`, `batch`, `latency` for the
    /// Palisade handles; the status page groups components by kind.
    fn kind(&self) -> &'static str {
        "check"
    }

    /// Runs one check.
    fn check(&self) -> CheckFuture<'_>;

    /// The options used by [`HealthBuilder::component`](crate::HealthBuilder::component).
    fn default_options(&self) -> Options {
        Options::new()
    }
}

/// Converts a value into a [`Component`]: implemented for every component,
/// and for the Palisade handles (a `CircuitBreaker`, a `ConcurrencyLimit`,
/// ... with their features), so they can be registered directly.
pub trait IntoComponent {
    /// The component made.
    type Component: Component;

    /// Makes the component.
    fn into_component(self) -> Self::Component;
}

impl<C: Component> IntoComponent for C {
    type Component = C;

    fn into_component(self) -> C {
        self
    }
}

/// How a component is checked and which groups it belongs to.
///
/// Defaults: every 5 s, a 2 s timeout, in the readiness group, not in the
/// liveness group. A dependency belongs in readiness (a dead database makes
/// the service *not ready*, not dead: restarting it would not help); put a
/// component in liveness only when its failure means the process itself is
/// broken and a restart would cure it.
///
/// ```
/// use std::time::Duration;
/// use palisade_health::Options;
///
/// let options = Options::new()
///     .interval(Duration::from_secs(10))
///     .timeout(Duration::from_millis(500))
///     .liveness(false)
///     .readiness(true);
/// assert_eq!(options.get_interval(), Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) readiness: bool,
    pub(crate) liveness: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}

impl Options {
    /// The defaults: every 5 s, 2 s timeout, readiness only.
    pub const fn new() -> Self {
        Self {
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            readiness: true,
            liveness: false,
        }
    }

    /// How long from the start of one check to the start of the next
    /// (greater than zero).
    #[must_use]
    pub const fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// How long a check may take before it is cut off and reported `Down`
    /// (greater than zero).
    #[must_use]
    pub const fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether the component counts for readiness.
    #[must_use]
    pub const fn readiness(mut self, yes: bool) -> Self {
        self.readiness = yes;
        self
    }

    /// Whether the component counts for liveness.
    #[must_use]
    pub const fn liveness(mut self, yes: bool) -> Self {
        self.liveness = yes;
        self
    }

    /// The interval.
    pub const fn get_interval(&self) -> Duration {
        self.interval
    }

    /// The timeout.
    pub const fn get_timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether the component counts for readiness.
    pub const fn in_readiness(&self) -> bool {
        self.readiness
    }

    /// Whether the component counts for liveness.
    pub const fn in_liveness(&self) -> bool {
        self.liveness
    }
}

/// A component made from an async closure: `Ok` is `Up`, `Err(e)` is
/// `Down` with `e` as the detail.
///
/// ```
/// use palisade_health::{Health, Probe};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), palisade_core::ConfigError> {
/// let health = Health::builder()
///     .component(Probe::new("upstream", || async {
///         // e.g. a database ping
///         Ok::<_, std::io::Error>(())
///     }))
///     .build()?;
/// # drop(health);
/// # Ok(()) }
/// ```
pub struct Probe<F> {
    name: String,
    check: F,
}

impl<F> Probe<F> {
    /// A check called `name` that runs `check()`.
    pub fn new<Fut, T, E>(name: impl Into<String>, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: fmt::Display,
    {
        Self {
            name: name.into(),
            check,
        }
    }
}

impl<F> fmt::Debug for Probe<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Probe").field("name", &self.name).finish()
    }
}

impl<F, Fut, T, E> Component for Probe<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    E: fmt::Display,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self) -> CheckFuture<'_> {
        let fut = (self.check)();
        Box::pin(async move {
            match fut.await {
                Ok(_) => Check::up(),
                Err(e) => Check::down(e.to_string()),
            }
        })
    }
}
