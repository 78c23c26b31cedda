//! The cache's Redis tier as a component.

use palisade_breaker::State;
use palisade_cache::{RedisStats, RedisStore, store::L2Store};
use serde_json::json;

use crate::{Check, CheckFuture, Component, IntoComponent, Options};

/// The key read by the ping (under the store's namespace; never written).
const PING_KEY: &[u8] = b"palisade-health:ping";

/// Whether the cache uses its Redis tier (its breaker is not open).
pub(super) fn l2_up(store: &RedisStore) -> bool {
    !matches!(store.breaker().state(), State::Open | State::ForcedOpen)
}

/// A [`RedisStore`] judged by a ping: each check reads one key through the
/// store (`palisade:<namespace>:…`, never written), under the store's own
/// timeout and breaker. `DEGRADED` when the read fails, times out or is
/// skipped because the store's breaker is open — the cache still answers
/// from memory — and `UP` once a read succeeds again. The ping counts as a
/// miss in the store's statistics and metrics.
#[derive(Debug)]
pub struct RedisComponent {
    store: RedisStore,
    name: String,
}

impl RedisComponent {
    /// Judges `store`; the component is called `redis-<namespace>`.
    pub fn new(store: RedisStore) -> Self {
        let name = format!("redis-{}", store.namespace());
        Self { store, name }
    }

    /// Calls the component `name` instead.
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

fn failed(before: &RedisStats, after: &RedisStats) -> Option<&'static str> {
    if after.timeouts > before.timeouts {
        Some("Redis did not answer in time")
    } else if after.errors > before.errors {
        Some("Redis answered with an error or is unreachable")
    } else if after.skipped > before.skipped {
        Some("Redis skipped: the store's breaker is open")
    } else {
        None
    }
}

impl Component for RedisComponent {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "redis"
    }

    fn default_options(&self) -> Options {
        super::HANDLE_OPTIONS
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let before = self.store.stats();
            let _ = L2Store::get(&self.store, PING_KEY).await;
            let after = self.store.stats();
            let problem = failed(&before, &after);
            let check = match problem {
                Some(why) => Check::degraded(format!("{why}; the cache serves from memory")),
                None => Check::up(),
            };
            let lookups = after.hits + after.misses;
            let data = json!({
                "l2": if problem.is_none() { "up" } else { "down" },
                "breaker": self.store.breaker().state().as_str(),
                "hits": after.hits,
                "misses": after.misses,
                "hit_ratio": if lookups == 0 { None } else { Some(after.hits as f64 / lookups as f64) },
                "errors": after.errors,
                "timeouts": after.timeouts,
                "skipped": after.skipped,
                "writes": after.writes,
                "write_failures": after.write_failures,
            });
            check.with_data(data)
        })
    }
}

impl IntoComponent for RedisStore {
    type Component = RedisComponent;

    fn into_component(self) -> RedisComponent {
        RedisComponent::new(self)
    }
}
