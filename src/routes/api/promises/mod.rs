//! `/promises`: making a promise, finding promises, reading one with its ledger, and the four things that can
//! happen to it (reschedule, keep, cancel, hand over). Every change is one transaction with its ledger event.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Duration;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    decode_cursor, encode_cursor, idempotent_replay, idempotent_write, instant, instant_of, page_limit, parse_instant,
    to_json, Body, Checks,
};
use crate::app::AppState;
use crate::auth::Caller;
use crate::db::DbConn;
use crate::domain::due::{describe_local, DueInput, Warning};
use crate::domain::time::{format_duration, format_offset, parse_duration, parse_zone, Recurrence};
use crate::domain::vocab::{Initiator, PromiseKind, PromiseStatus};
use crate::error::{AppError, Problem};
use crate::repo::promises::{self, Promise, PromiseEvent, PromiseFilter};
use crate::service;
use crate::service::access::team_agent;
pub use crate::service::access::{visible_customer, visible_promise};
use crate::service::planning::plan_for;
use crate::service::promises::{CancelInput, HandoverInput, KeepInput, NewPromise, RescheduleInput};

mod change;
mod create;
mod read;

pub use change::*;
pub use create::*;
pub use read::*;
/// Routes of this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/promises/preview", web::post().to(preview))
        .route("/promises", web::post().to(create))
        .route("/promises", web::get().to(list))
        .route("/promises/{id}", web::get().to(show))
        .route("/promises/{id}/reschedule", web::post().to(reschedule))
        .route("/promises/{id}/keep", web::post().to(keep))
        .route("/promises/{id}/cancel", web::post().to(cancel))
        .route("/promises/{id}/handover", web::post().to(handover));
}

/// A ledger entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventOut {
    /// Sequence number (string, opaque).
    pub id: String,
    /// created, rescheduled, kept, ...
    pub kind: String,
    /// Who caused it (none: the system).
    pub actor_agent_id: Option<String>,
    /// RFC 3339.
    pub occurred_at: String,
    /// Event details.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl From<PromiseEvent> for EventOut {
    fn from(e: PromiseEvent) -> Self {
        Self {
            id: e.id.to_string(),
            kind: e.kind,
            actor_agent_id: e.actor_agent_id,
            occurred_at: instant(e.occurred_at),
            data: serde_json::from_str(&e.data).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// A promise.
#[derive(Debug, Serialize, ToSchema)]
pub struct PromiseOut {
    /// Opaque id.
    pub id: String,
    /// open | missed | kept | broken | cancelled.
    pub status: String,
    /// callback | deadline | update.
    pub kind: String,
    /// What the customer was told.
    pub title: String,
    /// Internal details.
    pub details: String,
    /// The customer.
    pub customer_id: String,
    /// Answerable agent.
    pub owner_agent_id: String,
    /// Who made it.
    pub made_by_agent_id: String,
    /// RFC 3339 UTC.
    pub due_at: String,
    /// Customer wall clock, "YYYY-MM-DDTHH:MM:SS".
    pub due_local: String,
    /// IANA zone of due_local.
    pub time_zone: String,
    /// UTC offset at due, "+01:00".
    pub due_local_offset: String,
    /// How due_local was resolved.
    pub disambiguation: String,
    /// ISO 8601.
    pub grace: String,
    /// ISO 8601 list.
    pub lead: Vec<String>,
    /// Recurrence, for updates.
    pub recurrence: Option<RecurrenceBody>,
    /// The customer asked for this time.
    pub customer_requested: bool,
    /// RFC 3339.
    pub kept_at: Option<String>,
    /// Kept within due + grace.
    pub kept_on_time: Option<bool>,
    /// Evidence.
    pub resolution_interaction_id: Option<String>,
    /// Note of the keep, cancel or break.
    pub resolution_note: Option<String>,
    /// Where it was made.
    pub made_in_interaction_id: Option<String>,
    /// Times rescheduled.
    pub reschedule_count: i32,
    /// Optimistic-locking version.
    pub version: i32,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// Remarks on a write (DST adjustments, owner away...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<Warning>>,
    /// The ledger, oldest first (on `GET /promises/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger: Option<Vec<EventOut>>,
}

/// Renders a promise row; `warnings` are included when the answer is to a write.
pub fn promise_out(p: Promise, warnings: Vec<Warning>) -> PromiseOut {
    let lead: Vec<i64> = serde_json::from_str(&p.lead_seconds).unwrap_or_default();
    PromiseOut {
        due_at: instant(p.due_at),
        due_local_offset: format_offset(p.due_offset_seconds),
        grace: format_duration(Duration::seconds(p.grace_seconds)),
        lead: lead.into_iter().map(|s| format_duration(Duration::seconds(s))).collect(),
        recurrence: p
            .recurrence_cron
            .clone()
            .map(|cron| RecurrenceBody { cron, until: p.recurrence_until.map(instant) }),
        kept_at: p.kept_at.map(instant),
        created_at: instant(p.created_at),
        updated_at: instant(p.updated_at),
        warnings: Some(warnings),
        ledger: None,
        id: p.id,
        status: p.status,
        kind: p.kind,
        title: p.title,
        details: p.details,
        customer_id: p.customer_id,
        owner_agent_id: p.owner_agent_id,
        made_by_agent_id: p.made_by_agent_id,
        due_local: p.due_local,
        time_zone: p.time_zone,
        disambiguation: p.disambiguation,
        customer_requested: p.customer_requested,
        kept_on_time: p.kept_on_time,
        resolution_interaction_id: p.resolution_interaction_id,
        resolution_note: p.resolution_note,
        made_in_interaction_id: p.made_in_interaction_id,
        reschedule_count: p.reschedule_count,
        version: p.version,
    }
}

fn read_out(p: Promise) -> PromiseOut {
    PromiseOut { warnings: None, ..promise_out(p, Vec::new()) }
}

fn durations(checks: &mut Checks, field: &str, values: &[String]) -> Vec<Duration> {
    let mut out = Vec::new();
    for (i, v) in values.iter().enumerate() {
        match parse_duration(v) {
            Ok(d) => out.push(d),
            Err(e) => checks.add(&format!("{field}[{i}]"), e.code(), e.to_string()),
        }
    }
    out
}
/// The version in an `If-Match` header (`"3"` or `3`), if any.
fn if_match(req: &HttpRequest) -> Result<Option<i32>, AppError> {
    match req.headers().get(actix_web::http::header::IF_MATCH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .map(|s| s.trim().trim_start_matches("W/").trim_matches('"'))
            .and_then(|s| s.parse::<i32>().ok())
            .map(Some)
            .ok_or_else(|| AppError::malformed("If-Match", "If-Match must carry the promise version, e.g. \"3\"")),
    }
}
