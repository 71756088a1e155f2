//! The inbox: an agent's prompts, acknowledging one, and the live stream of new ones (Server-Sent Events).

use std::time::Duration as StdDuration;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use futures_util::stream;
use serde::Deserialize;
use utoipa::IntoParams;

use super::page_limit;
use crate::app::AppState;
use crate::auth::Caller;
use crate::db::DbConn;
use crate::error::{AppError, Problem};
use crate::repo::prompts::Prompt;
use crate::repo::{agents, prompts};
use crate::service;
use crate::service::events::prompt_json;

/// Routes of this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // The stream is registered before `/agents/{id}/prompts` so `me/prompts/stream` is not read as a list.
    cfg.route("/agents/me/prompts/stream", web::get().to(stream_prompts))
        .route("/agents/{id}/prompts", web::get().to(list))
        .route("/prompts/{id}/ack", web::post().to(acknowledge));
}

/// Query of the inbox.
#[derive(Debug, Deserialize, IntoParams)]
pub struct InboxQuery {
    /// Only prompts not yet acknowledged (default true).
    pub open: Option<bool>,
    /// Page size 1-500 (default 50).
    pub limit: Option<i64>,
}

/// An agent's prompts, newest first.
#[utoipa::path(get, path = "/api/v1/agents/{id}/prompts", tag = "prompts",
    params(("id" = String, Path, description = "agent id or `me`"), InboxQuery),
    responses((status = 200, body = Vec<Object>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    query: web::Query<InboxQuery>,
) -> Result<HttpResponse, AppError> {
    let q = query.into_inner();
    let limit = page_limit(q.limit)?;
    let open = q.open.unwrap_or(true);
    let rows = state.db.read(move |conn| inbox_of(conn, &caller, &id, open, limit)).await?;
    Ok(HttpResponse::Ok().json(rows.iter().map(prompt_json).collect::<Vec<_>>()))
}

/// The prompts of agent `id` (`me`), newest first, only the unacknowledged ones when `open`. The query behind
/// `GET /agents/{id}/prompts` and the agenda page.
pub fn inbox_of(conn: &mut DbConn, caller: &Caller, id: &str, open: bool, limit: i64) -> Result<Vec<Prompt>, AppError> {
    let id = if id == "me" { caller.agent_id.as_str() } else { id };
    let agent = agents::find(conn, id)?.ok_or_else(|| AppError::not_found("agent", id))?;
    if agent.id != caller.agent_id {
        caller.check_team(agent.team_id.as_deref(), "agent", id)?;
    }
    caller.check_agent_scope(&agent.id, agent.team_id.as_deref())?;
    Ok(prompts::of_agent(conn, &agent.id, open, limit)?)
}

/// Acknowledges a prompt: the agent has seen it and is on it (stops the escalation).
#[utoipa::path(post, path = "/api/v1/prompts/{id}/ack", tag = "prompts", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem, description = "no such prompt, or another agent's"), (status = 409, body = Problem, description = "already acknowledged")),
    security(("bearer" = [])))]
pub async fn acknowledge(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let ctx = state.ctx();
    let out =
        state.db.write(move |conn| Ok(prompt_json(&service::prompts::acknowledge(conn, &ctx, &caller, &id)?))).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// The caller's new prompts as they fire, as Server-Sent Events (`event: prompt`), with a comment every 15 s to
/// keep proxies from closing the connection.
#[utoipa::path(get, path = "/api/v1/agents/me/prompts/stream", tag = "prompts",
    responses((status = 200, content_type = "text/event-stream", description = "one `prompt` event per new prompt"),
        (status = 401, body = Problem)),
    security(("bearer" = [])))]
pub async fn stream_prompts(state: web::Data<AppState>, caller: Caller) -> HttpResponse {
    let receiver = state.hub.subscribe();
    let agent = caller.agent_id;
    let events = stream::unfold((receiver, agent), |(mut receiver, agent)| async move {
        loop {
            let next = tokio::time::timeout(StdDuration::from_secs(15), receiver.recv()).await;
            let chunk = match next {
                Err(_) => ": keep-alive\n\n".to_string(),
                Ok(Ok(prompt)) if prompt.agent_id == agent => format!("event: prompt\ndata: {}\n\n", prompt.json),
                Ok(Ok(_)) => continue,
                // Lagged: some live prompts were dropped; they are in the inbox, so tell the page to reload it.
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {
                    "event: resync\ndata: {}\n\n".to_string()
                }
                Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return None,
            };
            return Some((Ok::<_, actix_web::Error>(web::Bytes::from(chunk)), (receiver, agent)));
        }
    });
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .streaming(events)
}
