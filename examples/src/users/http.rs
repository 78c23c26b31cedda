//! The users service's HTTP side: its routes and handlers, under the
//! inbound stack of `docs/layer-order.md`.

use std::time::Duration;

use axum::{
    Router,
    body::Body,
    extract::{Path, State},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use http::{HeaderValue, Request, StatusCode, header};
use metrics_exporter_prometheus::PrometheusHandle;
use palisade::prelude::*;
use tower::ServiceBuilder;

use super::{
    database::Database,
    recommendations::{RecommendationsClient, RecommendationsMode, RecommendationsSwitch},
    repository::UserRepository,
};

/// The users of the public `/users/popular` page.
pub const POPULAR: [u64; 10] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

/// How a request names its client for the rate limit.
type ClientKey = fn(&Request<Body>) -> Option<HeaderValue>;

/// What the handlers share.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) repository: UserRepository,
    pub(crate) recommendations: RecommendationsClient,
    pub(crate) switch: RecommendationsSwitch,
    pub(crate) database: Database,
}

/// The inbound layers, each built once and shared by every route.
#[derive(Debug, Clone)]
pub(crate) struct InboundLayers {
    pub(crate) tracker: LatencyTracker,
    pub(crate) timeout: Timeout,
    pub(crate) rate: RateLimit<ClientKey, Option<HeaderValue>>,
    pub(crate) limit: AdaptiveLimit,
    pub(crate) pages: HttpCache,
}

/// The client a request is counted against: its `x-client-id`, or one
/// shared "anonymous" client when it has none.
fn client_of(req: &Request<Body>) -> Option<HeaderValue> {
    req.headers().get("x-client-id").cloned()
}

impl InboundLayers {
    pub(crate) fn new(
        request_deadline: Duration,
        rate: u32,
        burst: u32,
        min_limit: usize,
        max_limit: usize,
    ) -> Result<Self, BoxError> {
        let tracker = LatencyTracker::builder("users-service")
            .route(palisade::latency::RouteFrom::AxumMatchedPath)
            .slow_threshold(request_deadline / 2)
            .window(Duration::from_secs(10))
            .build()?;
        let timeout = Timeout::builder("users-service")
            .timeout(request_deadline)
            .honor_header(http::HeaderName::from_static("x-request-timeout-ms"))
            .build()?;
        let rate = RateLimit::builder("per-client")
            .rate(rate)
            .burst(burst)
            .key(client_of as ClientKey)
            .build()?;
        let limit = AdaptiveLimit::builder("users-service")
            .algorithm(
                palisade::shed::adaptive::Gradient2::default()
                    .initial_limit(min_limit)
                    .min_limit(min_limit)
                    .max_limit(max_limit),
            )
            .build()?;
        let pages = HttpCache::builder("public-pages")
            .max_bytes(1 << 20)
            .default_ttl(Duration::from_secs(1))
            .build()?;
        Ok(Self {
            tracker,
            timeout,
            rate,
            limit,
            pages,
        })
    }
}

/// The whole router: the API under the inbound stack, then the health,
/// status, metrics and admin endpoints outside it (never limited).
pub(crate) fn router(
    state: AppState,
    layers: &InboundLayers,
    health: &Health,
    prometheus: PrometheusHandle,
) -> Router {
    // The public pages answer from the HTTP cache above the deadline and the
    // adaptive limit (`docs/layer-order.md`): a hit takes no slot, a miss the
    // deadline cuts is answered stale, and the limit measures only calls that
    // do real work. Same tracker, rate, deadline and limit.
    let pages = Router::new()
        .route("/users/popular", get(popular))
        .route("/", get(index))
        .with_state(state.clone())
        .layer(
            ServiceBuilder::new()
                .http_errors()
                .track_latency(&layers.tracker)
                .limit_rate(&layers.rate)
                .http_cache(&layers.pages)
                .deadline(&layers.timeout)
                .adaptive_limit(&layers.limit),
        );
    let api = Router::new()
        .route("/users/{id}", get(get_user))
        .with_state(state.clone())
        .layer(
            ServiceBuilder::new()
                .http_errors()
                .track_latency(&layers.tracker)
                .deadline(&layers.timeout)
                .limit_rate(&layers.rate)
                .adaptive_limit(&layers.limit),
        )
        .merge(pages);
    let admin = Router::new()
        .route("/admin/recommendations/{mode}", post(set_recommendations))
        .route("/admin/db/slow/{ms}", post(set_db_slow))
        .with_state(state);
    api.merge(admin)
        .route_service("/health", health.service())
        .route_service("/health/ready", health.readiness_service())
        .route_service("/health/live", health.liveness_service())
        .route_service("/status", health.status_page())
        .route_service("/latency", layers.tracker.report())
        .route(
            "/metrics",
            get(move || std::future::ready(prometheus.render())),
        )
}

/// `GET /users/{id}`: the user (through the repository), with the
/// recommendations service's picks (or the fallback).
async fn get_user(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> Result<Response, HandlerError> {
    let Some(user) = state.repository.user(id).await? else {
        return Ok((StatusCode::NOT_FOUND, "no such user").into_response());
    };
    let recommended = state.recommendations.for_user(id).await;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        user.to_json(&recommended.ids, recommended.fallback),
    )
        .into_response())
}

/// `GET /users/popular`: a public page, cached by the `HttpCache` for 5 s.
async fn popular(State(state): State<AppState>) -> Result<Response, HandlerError> {
    let lookups = POPULAR.iter().map(|id| state.repository.user(*id));
    let mut names = Vec::with_capacity(POPULAR.len());
    for user in futures_util::future::join_all(lookups).await {
        if let Some(user) = user? {
            names.push(user.name);
        }
    }
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=5"),
        ],
        serde_json::json!({ "popular": names }).to_string(),
    )
        .into_response())
}

/// `GET /`: what the service serves; public, cached for a minute.
async fn index() -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=60")],
        "Palisade users service: GET /users/{id}, /users/popular, /health, /status, /metrics, /latency\n",
    )
        .into_response()
}

/// `POST /admin/recommendations/{up|fail|hang}`.
async fn set_recommendations(
    State(state): State<AppState>,
    Path(mode): Path<String>,
) -> (StatusCode, String) {
    let mode = match mode.as_str() {
        "up" => RecommendationsMode::Up,
        "fail" => RecommendationsMode::Failing,
        "hang" => RecommendationsMode::Hanging,
        other => {
            return (
                StatusCode::BAD_REQUEST,
                format!("mode must be up, fail or hang, got {other:?}"),
            );
        }
    };
    state.switch.set(mode);
    (StatusCode::OK, format!("recommendations: {mode:?}"))
}

/// `POST /admin/db/slow/{ms}`: every lookup takes `ms` longer (0: normal).
async fn set_db_slow(State(state): State<AppState>, Path(ms): Path<u64>) -> (StatusCode, String) {
    let ms = ms.min(60_000);
    state.database.set_slow(Duration::from_millis(ms));
    (StatusCode::OK, format!("database slowed by {ms} ms"))
}
