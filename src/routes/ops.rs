//! Operational endpoints for load balancers and orchestrators.

use actix_web::{web, HttpResponse};

use crate::app::AppState;
use crate::error::AppError;

/// Registers `/healthz`, `/readyz` and `/metrics`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(prometheus));
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "alive")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// The database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "ready"), (status = 503, description = "database unavailable")))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    state.db.read(crate::db::ping).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })))
}

/// Prometheus text exposition: open and overdue promises by team, kept and broken counters by team and kind,
/// pending and dead timers, scheduler lag and HTTP request durations. Like `/healthz`, it is meant for the
/// internal network of the deployment; it carries counts and team ids, no customer data.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain")))]
pub async fn prometheus(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let now = state.clock.now().timestamp_millis();
    let http = state.http_metrics.clone();
    let text = state.db.read(move |conn| crate::prometheus::render(conn, &http, now)).await?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(text))
}
