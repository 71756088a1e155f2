//! The state every request handler and page can reach, in a module of its own so the HTTP side, the
//! extractors and the start-up code all depend on it rather than on each other.

use std::sync::Arc;

use crate::channels::live::Hub;
use crate::clock::Clock;
use crate::db::Db;
use crate::settings::Tolerances;
use crate::views::Views;

/// What every handler can reach.
pub struct AppState {
    /// The database.
    pub db: Db,
    /// "Now".
    pub clock: Clock,
    /// Default tolerances for judging promises.
    pub tolerances: Tolerances,
    /// Live prompts for Server-Sent Events.
    pub hub: Hub,
    /// Text templates.
    pub views: Arc<Views>,
    /// Public base URL (calendar links).
    pub public_url: String,
    /// Request durations for `GET /metrics`.
    pub http_metrics: Arc<crate::prometheus::HttpMetrics>,
    /// Bearer tokens looked up a moment ago.
    pub tokens: Arc<crate::auth::TokenCache>,
}

impl AppState {
    /// What a use case is given, at this moment.
    pub fn ctx(&self) -> crate::service::Ctx {
        crate::service::Ctx { tolerances: self.tolerances.clone(), views: self.views.clone(), now: self.clock.now() }
    }
}
