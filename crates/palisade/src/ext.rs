//! `ServiceBuilderExt`: one method per Palisade layer on tower's `ServiceBuilder`.

use tower::ServiceBuilder;
use tower_layer::Stack;

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

/// Adds Palisade's layers to a [`ServiceBuilder`], one method per layer.
///
/// The trait is sealed: it is implemented for `ServiceBuilder` only.
pub trait ServiceBuilderExt<L>: sealed::Sealed + Sized {
    /// Answers errors with HTTP responses
    /// ([`ErrorResponseLayer`](palisade_core::http::ErrorResponseLayer)): a
    /// rejection becomes `503`/`504`/`429` with `Retry-After`, any other error
    /// a `500`. The service becomes `Infallible`, as axum requires.
    #[cfg(feature = "http")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http")))]
    fn http_errors(self) -> ServiceBuilder<Stack<palisade_core::http::ErrorResponseLayer, L>>;

    /// Turns a rejection into a `tonic::Status` error
    /// ([`StatusLayer`](palisade_core::grpc::StatusLayer)) so tonic answers
    /// with the matching gRPC code.
    #[cfg(feature = "grpc")]
    #[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
    fn grpc_status(self) -> ServiceBuilder<Stack<palisade_core::grpc::StatusLayer, L>>;
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    #[cfg(feature = "http")]
    fn http_errors(self) -> ServiceBuilder<Stack<palisade_core::http::ErrorResponseLayer, L>> {
        self.layer(palisade_core::http::ErrorResponseLayer::new())
    }

    #[cfg(feature = "grpc")]
    fn grpc_status(self) -> ServiceBuilder<Stack<palisade_core::grpc::StatusLayer, L>> {
        self.layer(palisade_core::grpc::StatusLayer::new())
    }
}
