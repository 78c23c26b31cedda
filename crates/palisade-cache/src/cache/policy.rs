//! [`GenericPolicy`]: the [`Policy`] of a [`Cache`](super::Cache), from its
//! builder's settings (default lifetime, `ttl_for`, `tags`, `weigh`).

use std::{sync::Arc, time::Duration};

use crate::{
    entry::Lifetime,
    policy::{Decision, Policy},
};

/// Decides per value whether and how long it is stored (`ttl_for`).
pub(super) type TtlFn<V> = Arc<dyn Fn(&V) -> Option<Duration> + Send + Sync>;
/// The tags of a value (`tags`).
pub(super) type TagsFn<V> = Arc<dyn Fn(&V) -> Box<[Box<str>]> + Send + Sync>;
/// The weight of a value (`weigh`).
pub(super) type WeighFn<V> = Arc<dyn Fn(&V) -> usize + Send + Sync>;

/// The settings of a [`CacheBuilder`](super::CacheBuilder), applied per value.
pub(super) struct GenericPolicy<V> {
    pub(super) default: Lifetime,
    pub(super) ttl_for: Option<TtlFn<V>>,
    pub(super) tags: Option<TagsFn<V>>,
    pub(super) weigh: Option<WeighFn<V>>,
}

impl<V: 'static> Policy<V> for GenericPolicy<V> {
    fn decide(&self, value: &V) -> Option<Decision> {
        let ttl = match &self.ttl_for {
            Some(f) => f(value)?,
            None => self.default.ttl,
        };
        if ttl.is_zero() {
            return None;
        }
        let weight = self
            .weigh
            .as_ref()
            .map_or(1, |w| u32::try_from(w(value)).unwrap_or(u32::MAX).max(1));
        Some(Decision {
            lifetime: Lifetime {
                ttl,
                ..self.default
            },
            tags: self
                .tags
                .as_ref()
                .map_or_else(|| Box::new([]) as _, |f| f(value)),
            weight,
        })
    }
}
