//! The [`Policy`] seam: what a cache stores of a value, for how long, with
//! which tags and weight. `Cache` has one built from its builder's settings
//! (`cache/policy.rs`), `HttpCache` one for the HTTP rules (`http/builder.rs`).

use crate::entry::Lifetime;

/// What is stored and for how long, decided per value.
pub(crate) struct Decision {
    pub(crate) lifetime: Lifetime,
    pub(crate) tags: Box<[Box<str>]>,
    pub(crate) weight: u32,
}

/// Per-cache rules turning a value into a [`Decision`] (or not storing it).
pub(crate) trait Policy<V>: Send + Sync + 'static {
    fn decide(&self, value: &V) -> Option<Decision>;
}
