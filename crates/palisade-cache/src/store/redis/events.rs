//! `tracing` events of the Redis tier; no-ops without the `tracing` feature.

#![cfg_attr(not(feature = "tracing"), allow(unused_variables))]

use std::fmt::Display;

pub(crate) fn undecodable(namespace: &str, error: &dyn Display) {
    #[cfg(feature = "tracing")]
    tracing::debug!(namespace, %error, "undecodable L2 entry treated as a miss");
}

pub(crate) fn not_encodable(namespace: &str, error: &dyn Display) {
    #[cfg(feature = "tracing")]
    tracing::debug!(namespace, %error, "entry not written to the L2");
}

pub(crate) fn invalidation_failed(namespace: &str, error: &dyn Display) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        namespace,
        %error,
        "L2 invalidation failed; other replicas keep the entry until it expires",
    );
}

pub(crate) fn subscription_lost(namespace: &str) {
    #[cfg(feature = "tracing")]
    tracing::warn!(namespace, "purge subscription lost; reconnecting");
}

pub(crate) fn resubscribed(namespace: &str) {
    #[cfg(feature = "tracing")]
    tracing::info!(
        namespace,
        "purge subscription re-established; clearing L1 since purges may have been missed",
    );
}
