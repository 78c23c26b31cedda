//! [`HealthBuilder`]: registers components, validates, starts the checks.

use std::{collections::HashSet, fmt, sync::Arc, time::Duration};

use palisade_core::ConfigError;

use crate::{
    Component, IntoComponent, Options, runner,
    state::{Slot, State},
};

use super::Health;

/// The default refresh period of the status page.
pub const DEFAULT_PAGE_REFRESH: Duration = Duration::from_secs(2);

/// Builds a [`Health`]; made by [`Health::builder`].
#[must_use = "call .build() to start the checks"]
pub struct HealthBuilder {
    name: String,
    entries: Vec<(Box<dyn Component>, Options)>,
    refresh: Duration,
}

impl fmt::Debug for HealthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthBuilder")
            .field("name", &self.name)
            .field(
                "components",
                &self
                    .entries
                    .iter()
                    .map(|(c, _)| c.name())
                    .collect::<Vec<_>>(),
            )
            .field("page_refresh", &self.refresh)
            .finish()
    }
}

impl HealthBuilder {
    pub(super) fn new() -> Self {
        Self {
            name: "health".to_owned(),
            entries: Vec::new(),
            refresh: DEFAULT_PAGE_REFRESH,
        }
    }

    /// The `name` label of the metrics and the name in the JSON and on the
    /// status page (default `health`; not empty).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Registers a component with its own default options (for a
    /// [`Probe`](crate::Probe): every 5 s, 2 s timeout, readiness only; for
    /// a Palisade handle: every second, readiness only).
    pub fn component(mut self, component: impl IntoComponent) -> Self {
        let component = component.into_component();
        let options = component.default_options();
        self.entries.push((Box::new(component), options));
        self
    }

    /// Registers a component with `options` (interval, timeout, groups).
    pub fn component_with(mut self, component: impl IntoComponent, options: Options) -> Self {
        self.entries
            .push((Box::new(component.into_component()), options));
        self
    }

    /// How often the status page fetches fresh data (default 2 s; greater
    /// than zero).
    pub fn page_refresh(mut self, every: Duration) -> Self {
        self.refresh = every;
        self
    }

    /// Validates the configuration and starts one background task per
    /// component on the current tokio runtime. The tasks end when the last
    /// clone of the `Health` (and every service made from it) is dropped.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an empty `name`, an empty or repeated
    /// `component` name, a zero `interval` or `timeout`, a zero
    /// `page_refresh`, or no tokio `runtime`.
    pub fn build(self) -> Result<Health, ConfigError> {
        if self.name.is_empty() {
            return Err(ConfigError::new("name", "not empty", self.name));
        }
        if self.refresh.is_zero() {
            return Err(ConfigError::new(
                "page_refresh",
                "greater than zero",
                self.refresh,
            ));
        }
        let mut seen = HashSet::new();
        for (component, options) in &self.entries {
            let name = component.name();
            if name.is_empty() {
                return Err(ConfigError::new("component", "a non-empty name", name));
            }
            if !seen.insert(name) {
                return Err(ConfigError::custom(
                    "component",
                    format_args!("two components are called {name:?}; names must be unique"),
                ));
            }
            if options.interval.is_zero() {
                return Err(ConfigError::custom(
                    "interval",
                    format_args!("must be greater than zero, got 0 for component {name:?}"),
                ));
            }
            if options.timeout.is_zero() {
                return Err(ConfigError::custom(
                    "timeout",
                    format_args!("must be greater than zero, got 0 for component {name:?}"),
                ));
            }
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            ConfigError::custom(
                "runtime",
                "Health::builder().build() must be called within a tokio runtime",
            )
        })?;

        let name: Arc<str> = self.name.into();
        let slots = self
            .entries
            .iter()
            .map(|(c, options)| Slot::new(&name, c.name(), c.kind(), *options))
            .collect();
        let state = Arc::new(State::new(name, slots, self.refresh));
        for (index, (component, _)) in self.entries.into_iter().enumerate() {
            runner::spawn(&runtime, &state, index, component);
        }
        Ok(Health { state })
    }
}
