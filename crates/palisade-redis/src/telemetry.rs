//! `tracing` events of the shared connection; no-ops without the `tracing`
//! feature.

#![cfg_attr(not(feature = "tracing"), allow(unused_variables))]

use std::fmt::Display;

pub(crate) fn unreachable_at_build(name: &str, error: &dyn Display) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        name,
        %error,
        "redis unreachable at startup; running without it until it comes back",
    );
}

pub(crate) fn connected(name: &str) {
    #[cfg(feature = "tracing")]
    tracing::info!(name, "redis answers; using it again");
}
