//! `?` in axum handlers: [`Rejected`] and [`HandlerError`] implement
//! [`IntoResponse`].

use super::error_response::{internal_error_response, rejection_response};
use crate::{BoxError, Rejected};
use axum::{
    body::Body,
    response::{IntoResponse, Response},
};
use std::{error::Error, fmt};

/// A rejection answers with the status, plain-text body and `Retry-After` of
/// the mapping table ([`Rejected::http_status`]), the same response as
/// [`ErrorResponseLayer`](super::ErrorResponseLayer) gives it.
///
/// ```
/// use std::time::Duration;
/// use axum::response::IntoResponse;
/// use palisade_core::{RejectKind, Rejected};
///
/// let res = Rejected::new(RejectKind::CircuitOpen, "payments")
///     .with_retry_after(Duration::from_millis(2500))
///     .into_response();
/// assert_eq!(res.status(), 503);
/// assert_eq!(res.headers()["retry-after"], "3");
/// ```
impl IntoResponse for Rejected {
    fn into_response(self) -> Response {
        rejection_response(&self, None, Body::from)
    }
}

/// The error of an axum handler that calls a Palisade stack (a `LoaderService`, a
/// `Cache`, a breaker-wrapped client) and passes its failure on with `?`.
///
/// It converts from the stack's [`BoxError`] and from a bare [`Rejected`].
/// As a response, a [`Rejected`] anywhere in the error's `source()` chain
/// answers as [`Rejected`] does (`503`/`504`/`429` with `Retry-After`); any
/// other error answers `500` with a body that says nothing of it (the error is
/// logged with `tracing` at error level) — the mapping of
/// [`ErrorResponseLayer`](super::ErrorResponseLayer).
///
/// ```
/// use std::time::Duration;
/// use axum::{extract::State, routing::get, Router};
/// use palisade_core::{http::HandlerError, BoxError, RejectKind, Rejected};
/// use tower::{service_fn, util::BoxCloneSyncService, ServiceExt};
///
/// type Users = BoxCloneSyncService<u64, String, BoxError>;
///
/// async fn user(State(users): State<Users>) -> Result<String, HandlerError> {
///     // A rejection from the stack (breaker open, overload) becomes its
///     // status and `Retry-After`; an upstream error a `500`.
///     let name = users.oneshot(7).await?;
///     Ok(name)
/// }
///
/// let users = Users::new(service_fn(|_id: u64| async {
///     Err::<String, BoxError>(
///         Rejected::new(RejectKind::CircuitOpen, "users")
///             .with_retry_after(Duration::from_secs(5))
///             .into(),
///     )
/// }));
/// let app: Router = Router::new().route("/user", get(user)).with_state(users);
/// ```
#[derive(Debug)]
pub struct HandlerError(BoxError);

impl HandlerError {
    /// The error.
    pub fn get_ref(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.0
    }

    /// The error, boxed.
    pub fn into_inner(self) -> BoxError {
        self.0
    }

    /// The rejection in the error's `source()` chain, if any.
    pub fn rejected(&self) -> Option<&Rejected> {
        Rejected::find(&self.0)
    }
}

impl From<BoxError> for HandlerError {
    fn from(err: BoxError) -> Self {
        Self(err)
    }
}

impl From<Rejected> for HandlerError {
    fn from(rejected: Rejected) -> Self {
        Self(Box::new(rejected))
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Error for HandlerError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.0)
    }
}

impl IntoResponse for HandlerError {
    fn into_response(self) -> Response {
        match Rejected::find(&self.0) {
            Some(rejected) => rejection_response(rejected, None, Body::from),
            None => {
                tracing::error!(error = %self.0, "handler failed; answering 500");
                internal_error_response(Body::from)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RejectKind;
    use std::time::Duration;

    #[derive(Debug)]
    struct Wrapped(Rejected);
    impl fmt::Display for Wrapped {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("wrapped")
        }
    }
    impl Error for Wrapped {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn rejection_found_through_the_source_chain() {
        let rejected = Rejected::new(RejectKind::Overloaded, "api")
            .as_rate_limit()
            .with_retry_after(Duration::from_millis(100));
        let err = HandlerError::from(BoxError::from(Box::new(Wrapped(rejected.clone()))));
        assert_eq!(err.rejected(), Some(&rejected));
        let res = err.into_response();
        assert_eq!(res.status(), 429);
        assert_eq!(res.headers()["retry-after"], "1");
    }

    #[test]
    fn other_errors_are_500() {
        let err = HandlerError::from(BoxError::from("db password wrong"));
        assert_eq!(err.rejected(), None);
        let res = err.into_response();
        assert_eq!(res.status(), 500);
        assert!(res.headers().get("retry-after").is_none());
    }
}
