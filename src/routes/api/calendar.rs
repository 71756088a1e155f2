//! Calendar feeds: each agent's open promises as an iCalendar feed behind a secret, revocable URL, so promises
//! show up in the agent's own calendar app with an alarm per lead reminder.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::Duration;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::auth::Caller;
use crate::channels::calendar::{render_feed, FeedEvent};
use crate::clock::from_ms;
use crate::domain::time::{format_offset, local_offset_at};
use crate::error::{AppError, Problem};
use crate::repo::{agents, calendar_tokens, customers, promises};

/// Routes of this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/agents/{id}/calendar-token", web::post().to(create_token))
        .route("/agents/{id}/calendar-token", web::delete().to(revoke))
        .route("/calendar/{file}", web::get().to(feed));
}

/// A new feed URL; the secret in it is shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarTokenOut {
    /// The feed URL to subscribe to.
    pub url: String,
}

fn own_or_admin(caller: &Caller, id: &str) -> Result<String, AppError> {
    let id = if id == "me" { caller.agent_id.clone() } else { id.to_string() };
    if id != caller.agent_id && !caller.is_admin() {
        return Err(AppError::Forbidden("agents manage their own calendar feed".into()));
    }
    Ok(id)
}

/// Creates a feed URL for an agent (themselves or an admin).
#[utoipa::path(post, path = "/api/v1/agents/{id}/calendar-token", tag = "calendar",
    params(("id" = String, Path, description = "agent id or `me`")),
    responses((status = 201, body = CalendarTokenOut), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_token(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = own_or_admin(&caller, &id)?;
    let now = state.clock.now().timestamp_millis();
    let secret = state
        .db
        .write(move |conn| {
            agents::find(conn, &id)?.ok_or_else(|| AppError::not_found("agent", id.as_str()))?;
            Ok(calendar_tokens::create(conn, &id, now)?)
        })
        .await?;
    let url = format!("{}/api/v1/calendar/{secret}.ics", state.public_url);
    Ok(HttpResponse::build(StatusCode::CREATED).json(CalendarTokenOut { url }))
}

/// Revokes every feed URL of an agent.
#[utoipa::path(delete, path = "/api/v1/agents/{id}/calendar-token", tag = "calendar",
    params(("id" = String, Path, description = "agent id or `me`")),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn revoke(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = own_or_admin(&caller, &id)?;
    let now = state.clock.now().timestamp_millis();
    state.db.write(move |conn| Ok(calendar_tokens::revoke_all(conn, &id, now)?)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The feed: one event per open promise of the agent (up to 90 days ahead), an alarm per lead reminder, times in
/// UTC with the customer's clock in the description. The secret in the path is the only credential.
#[utoipa::path(get, path = "/api/v1/calendar/{file}", tag = "calendar",
    params(("file" = String, Path, description = "`<token>.ics`")),
    responses((status = 200, content_type = "text/calendar"), (status = 404, body = Problem)))]
pub async fn feed(state: web::Data<AppState>, file: web::Path<String>) -> Result<HttpResponse, AppError> {
    let secret = file.strip_suffix(".ics").unwrap_or(&file).to_string();
    let now = state.clock.now();
    let horizon = (now + Duration::days(90)).timestamp_millis();
    let public_url = state.public_url.clone();
    let body = state
        .db
        .read(move |conn| {
            // Unknown and revoked tokens look the same: not found.
            let agent =
                calendar_tokens::agent_for(conn, &secret)?.ok_or_else(|| AppError::not_found("calendar", "feed"))?;
            let open = promises::agenda(conn, &agent.id, horizon, 1000)?;
            let ids: Vec<String> = open.iter().map(|p| p.customer_id.clone()).collect();
            let people = customers::find_many(conn, &ids)?;
            let mut events = Vec::with_capacity(open.len());
            for p in open {
                let Some(c) = people.iter().find(|c| c.id == p.customer_id) else { continue };
                let zone = crate::repo::stored::zone("customer", &c.id, &c.time_zone)?;
                let due = from_ms(p.due_at);
                let local = due.with_timezone(&zone);
                let leads = crate::repo::stored::leads(&p)?;
                events.push(FeedEvent {
                    uid: p.id.clone(),
                    summary: format!("{}: {} — {}", p.kind, c.name, p.title),
                    description: format!(
                        "{}\nCustomer: {} {}\nTheir time: {} {} (UTC{})\nPromised: {}",
                        p.title,
                        c.name,
                        c.phone.clone().unwrap_or_default(),
                        local.format("%Y-%m-%d %H:%M"),
                        zone.name(),
                        format_offset(local_offset_at(due, zone)),
                        p.title
                    ),
                    start: due,
                    duration: Duration::minutes(15),
                    alarms: leads.into_iter().map(Duration::seconds).collect(),
                    sequence: p.version,
                    last_modified: from_ms(p.updated_at),
                    url: Some(format!("{public_url}/api/v1/promises/{}", p.id)),
                });
            }
            Ok(render_feed(&format!("Tendero: {}", agent.name), &events, now))
        })
        .await?;
    Ok(HttpResponse::Ok().content_type("text/calendar; charset=utf-8").body(body))
}
