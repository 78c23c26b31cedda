//! Tracing of `PropagateDeadlineLayer` (no metrics); compiles to nothing
//! without the `tracing` feature.

/// An outgoing call was refused because its deadline had passed.
pub(crate) fn propagation_expired() {
    #[cfg(feature = "tracing")]
    tracing::debug!("palisade-shed: outgoing call refused, deadline already passed");
}
