//! [`Vitals`]: the handles of a running users service that the load
//! generator, the report and the tests read (and the switches they flip).

use palisade::prelude::*;

use super::{
    database::Database,
    recommendations::{RecommendationsClient, RecommendationsSwitch},
    repository::UserRepository,
};

/// The live handles of one users service; cheap to clone, every clone sees
/// the same service.
#[derive(Debug, Clone)]
pub struct Vitals {
    /// The users table (queries, ids, pool usage, the slow-down switch).
    pub database: Database,
    /// The data path (cache stats, database breaker, loader).
    pub repository: UserRepository,
    /// The recommendations client (breaker, fallbacks).
    pub recommendations: RecommendationsClient,
    /// How the recommendations service behaves.
    pub switch: RecommendationsSwitch,
    /// The inbound adaptive concurrency limit.
    pub limit: AdaptiveLimit,
    /// The latency tracker of the inbound stack.
    pub tracker: LatencyTracker,
    /// The Redis second tier, when Redis answered at start-up.
    pub l2: Option<RedisStore>,
}
