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

/// A recurrence: cron in the customer's zone, on wall-clock time.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecurrenceBody {
    /// 5-field cron (6/7 fields accepted), e.g. "0 10 * * mon-fri".
    #[schema(example = "0 10 * * mon-fri")]
    pub cron: String,
    /// RFC 3339 instant after which it stops.
    pub until: Option<String>,
}

/// Body of `POST /promises`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPromiseBody {
    /// The customer.
    pub customer_id: String,
    /// callback | deadline | update.
    #[schema(example = "callback")]
    pub kind: String,
    /// What the customer was told, verbatim.
    #[schema(example = "Te llamo el martes a las 10")]
    pub title: String,
    /// Internal details.
    pub details: Option<String>,
    /// Customer wall-clock time, "2026-03-29T02:30" (seconds optional).
    #[schema(example = "2099-03-17T10:00")]
    pub due_local: Option<String>,
    /// IANA zone of due_local (default: the customer's).
    #[schema(example = "Europe/Madrid")]
    pub time_zone: Option<String>,
    /// compatible (default) | earlier | later | reject.
    #[schema(example = "compatible")]
    pub disambiguation: Option<String>,
    /// Deadline in days, ISO 8601 ("P15D").
    pub within: Option<String>,
    /// Deadline in business days.
    pub within_business_days: Option<u32>,
    /// For `update` promises.
    pub recurrence: Option<RecurrenceBody>,
    /// Tolerance after due, ISO 8601 ("PT15M").
    #[schema(example = "PT15M")]
    pub grace: Option<String>,
    /// Lead reminders, ISO 8601 (["PT10M", "P1D"]).
    #[schema(example = json!(["PT10M", "P1D"]))]
    pub lead: Option<Vec<String>>,
    /// The customer asked for this exact time (allows times outside the contact window).
    pub customer_requested: Option<bool>,
    /// Owner (default: the caller; another agent needs the manager role).
    pub owner_agent_id: Option<String>,
    /// The interaction in which the promise was made.
    pub made_in_interaction_id: Option<String>,
}

/// Body of `POST /promises/{id}/reschedule`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleBody {
    /// New customer wall-clock time.
    #[schema(example = "2099-03-18T12:00")]
    pub due_local: Option<String>,
    /// IANA zone (default: the customer's).
    pub time_zone: Option<String>,
    /// compatible | earlier | later | reject.
    pub disambiguation: Option<String>,
    /// New deadline in days ("P15D"), from now.
    pub within: Option<String>,
    /// New deadline in business days, from now.
    pub within_business_days: Option<u32>,
    /// Why.
    #[schema(example = "the customer asked for Wednesday")]
    pub reason: String,
    /// customer | agent.
    #[schema(example = "customer")]
    pub initiated_by: String,
    /// Outside the contact window is allowed when the customer asked (default: true when initiated_by is customer).
    pub customer_requested: Option<bool>,
    /// The version read; 409 if it moved on.
    pub version: Option<i32>,
}

/// Body of `POST /promises/{id}/keep`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeepBody {
    /// What was done (required without interaction_id).
    #[schema(example = "Called; the router works again")]
    pub note: Option<String>,
    /// The interaction that is the evidence.
    pub interaction_id: Option<String>,
    /// The version read.
    pub version: Option<i32>,
}

/// Body of `POST /promises/{id}/cancel`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Why.
    #[schema(example = "the customer no longer needs it")]
    pub reason: String,
    /// customer (cancelled) | agent (counts as broken).
    #[schema(example = "customer")]
    pub initiated_by: String,
    /// The version read.
    pub version: Option<i32>,
}

/// Body of `POST /promises/{id}/handover`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoverBody {
    /// The new owner.
    pub to_agent_id: String,
    /// Context for the new owner.
    #[schema(example = "She prefers mornings")]
    pub note: String,
    /// The version read.
    pub version: Option<i32>,
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

/// Makes a promise: resolves its due time in the customer's clock, checks the contact window, writes the promise
/// and its `created` event, and sets the customer's shopkeeper when they have none.
#[utoipa::path(post, path = "/api/v1/promises", tag = "promises", request_body = NewPromiseBody,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = PromiseOut), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem, description = "bad zone, nonexistent time with reject, outside the contact window (with nearest_slots), in the past...")),
    security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: Body<NewPromiseBody>,
) -> Result<HttpResponse, AppError> {
    let input = NewPromise::try_from(&body.value)?;
    if let Some(replay) = idempotent_replay(&state, &caller, &req, &body.raw).await? {
        return Ok(replay);
    }
    let ctx = state.ctx();
    let who = caller.clone();
    // Everything that only reads (the customer, the owner, their calendars) and the planning happen on a read
    // connection, beside the single writer; the write then only inserts. A customer or owner changed in between
    // is the same as this request arriving a moment earlier, and the shopkeeper is set only if still unset.
    let read_ctx = ctx.clone();
    let (prepared, answer) = state
        .db
        .read(move |conn| {
            let prepared = service::promises::prepare(conn, &read_ctx, &who, input)?;
            let answer = to_json(promise_out(prepared.promise.clone(), prepared.warnings.clone()))?;
            Ok((prepared, answer))
        })
        .await?;
    let who = caller.clone();
    idempotent_write(&state, &caller, &req, &body.raw, StatusCode::CREATED, move |conn| {
        service::promises::make(conn, &ctx, &who, prepared)?;
        Ok(answer)
    })
    .await
}

/// A `POST /promises` body as the use case's input, every wrong field named at once.
impl TryFrom<&NewPromiseBody> for NewPromise {
    type Error = AppError;

    fn try_from(b: &NewPromiseBody) -> Result<Self, AppError> {
        let mut checks = Checks::default();
        let kind = checks.vocab::<PromiseKind>("kind", &b.kind);
        let title = checks.text("title", &b.title, 500);
        let details = checks.optional_text("details", b.details.as_deref(), 10_000).unwrap_or_default();
        let grace = match &b.grace {
            Some(text) => match parse_duration(text) {
                Ok(d) => Some(d),
                Err(e) => {
                    checks.add("grace", e.code(), e.to_string());
                    None
                }
            },
            None => None,
        };
        let lead = b.lead.as_ref().map(|l| durations(&mut checks, "lead", l));
        if b.lead.as_ref().is_some_and(|l| l.len() > 10) {
            checks.add("lead", "too_many", "at most 10 lead reminders");
        }
        let mut recurrence = None;
        let mut until = None;
        if let Some(r) = &b.recurrence {
            match Recurrence::parse(&r.cron) {
                Ok(parsed) => recurrence = Some(parsed),
                Err(e) => checks.add("recurrence.cron", e.code(), e.to_string()),
            }
            if let Some(u) = &r.until {
                match parse_instant("recurrence.until", u) {
                    Ok(at) => until = Some(at),
                    Err(_) => {
                        checks.add("recurrence.until", "invalid_instant", format!("`{u}` is not an RFC 3339 instant"))
                    }
                }
            }
        }
        match (kind, recurrence.is_some()) {
            (Some(PromiseKind::Update), false) => {
                checks.add("recurrence", "required", "an update promise needs recurrence.cron (how often to update)")
            }
            (Some(k), true) if k != PromiseKind::Update => {
                checks.add("recurrence", "not_allowed", format!("a {k} promise cannot recur; use kind update"))
            }
            _ => {}
        }
        checks.finish()?;
        Ok(NewPromise {
            customer_id: b.customer_id.clone(),
            kind: kind.unwrap_or(PromiseKind::Callback),
            title,
            details,
            due: DueInput {
                due_local: b.due_local.clone(),
                time_zone: b.time_zone.clone(),
                disambiguation: b.disambiguation.clone(),
                within: b.within.clone(),
                within_business_days: b.within_business_days,
                customer_requested: b.customer_requested.unwrap_or(false),
            },
            recurrence,
            until,
            grace,
            lead,
            owner_agent_id: b.owner_agent_id.clone(),
            made_in_interaction_id: b.made_in_interaction_id.clone(),
        })
    }
}

/// Query of `GET /promises`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PromiseListQuery {
    /// Owner agent id (`me` for the caller).
    pub owner: Option<String>,
    /// Customer id.
    pub customer: Option<String>,
    /// callback, deadline or update.
    pub kind: Option<String>,
    /// Status, or several separated by commas.
    pub status: Option<String>,
    /// RFC 3339: due at or after.
    pub due_from: Option<String>,
    /// RFC 3339: due before.
    pub due_to: Option<String>,
    /// Page size, 1-500 (default 50).
    pub limit: Option<i64>,
    /// From `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of promises.
#[derive(Debug, Serialize, ToSchema)]
pub struct PromisePage {
    /// Promises by due time.
    pub items: Vec<PromiseOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Lists promises by due time, filtered; agents and managers see their team's customers only.
#[utoipa::path(get, path = "/api/v1/promises", tag = "promises", params(PromiseListQuery),
    responses((status = 200, body = PromisePage), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<PromiseListQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let page = state.db.read(move |conn| list_of(conn, &caller, query)).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Promises by due time, filtered; agents and managers see their team's customers only. The query behind
/// `GET /promises` and the pages' lists.
pub fn list_of(conn: &mut DbConn, caller: &Caller, query: PromiseListQuery) -> Result<PromisePage, AppError> {
    let q = query;
    let limit = page_limit(q.limit)?;
    let mut filter = PromiseFilter {
        owner: q.owner.map(|o| if o == "me" { caller.agent_id.clone() } else { o }),
        customer: q.customer,
        ..Default::default()
    };
    if let Some(kind) = &q.kind {
        let mut checks = Checks::default();
        filter.kind = checks.vocab::<PromiseKind>("kind", kind).map(|k| k.as_str().to_string());
        checks.finish()?;
    }
    if let Some(statuses) = &q.status {
        let mut checks = Checks::default();
        for s in statuses.split(',').map(str::trim) {
            if let Some(status) = checks.vocab::<PromiseStatus>("status", s) {
                filter.statuses.push(status.as_str().into());
            }
        }
        checks.finish()?;
    }
    filter.due_from =
        q.due_from.as_deref().map(|t| parse_instant("due_from", t)).transpose()?.map(|t| t.timestamp_millis());
    filter.due_to = q.due_to.as_deref().map(|t| parse_instant("due_to", t)).transpose()?.map(|t| t.timestamp_millis());
    if let Some(cursor) = &q.cursor {
        let text = decode_cursor(cursor)?;
        let (due, id) = text
            .split_once('|')
            .and_then(|(d, i)| Some((d.parse::<i64>().ok()?, i.to_string())))
            .ok_or_else(|| AppError::invalid("cursor", "invalid_cursor", "the cursor is not one this API gave out"))?;
        filter.after = Some((due, id));
    }
    if !caller.is_admin() {
        match &caller.team_id {
            Some(team) => filter.team = Some(team.clone()),
            None => filter.owner = Some(caller.agent_id.clone()),
        }
    }
    let mut rows = promises::list(conn, &filter, limit + 1)?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|p| encode_cursor(&format!("{}|{}", p.due_at, p.id)))
    } else {
        None
    };
    Ok(PromisePage { items: rows.into_iter().map(read_out).collect(), next_cursor })
}

/// One promise with its whole ledger.
#[utoipa::path(get, path = "/api/v1/promises/{id}", tag = "promises", params(("id" = String, Path)),
    responses((status = 200, body = PromiseOut), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn show(state: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let out = state.db.read(move |conn| show_of(conn, &caller, &id)).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// One promise with its whole ledger: the query behind `GET /promises/{id}` and the promise page.
pub fn show_of(conn: &mut DbConn, caller: &Caller, id: &str) -> Result<PromiseOut, AppError> {
    let (promise, _) = visible_promise(conn, caller, id)?;
    let events = promises::events_of(conn, &promise.id)?;
    Ok(PromiseOut { ledger: Some(events.into_iter().map(EventOut::from).collect()), ..read_out(promise) })
}

/// Moves a promise's due time. A customer's request before due is a renegotiation; an agent's after due counts
/// as late. The old and new times stay in the ledger.
#[utoipa::path(post, path = "/api/v1/promises/{id}/reschedule", tag = "promises", request_body = RescheduleBody,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PromiseOut), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn reschedule(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<String>,
    body: Body<RescheduleBody>,
) -> Result<HttpResponse, AppError> {
    let mut input = RescheduleInput::try_from(&body.value)?;
    input.version = input.version.or(if_match(&req)?);
    let ctx = state.ctx();
    let who = caller.clone();
    let id = id.into_inner();
    idempotent_write(&state, &caller, &req, &body.raw, StatusCode::OK, move |conn| {
        let (changed, warnings) = service::promises::reschedule(conn, &ctx, &who, &id, input)?;
        to_json(promise_out(changed, warnings))
    })
    .await
}

/// A reschedule body as the use case's input.
impl TryFrom<&RescheduleBody> for RescheduleInput {
    type Error = AppError;

    fn try_from(b: &RescheduleBody) -> Result<Self, AppError> {
        let mut checks = Checks::default();
        let reason = checks.text("reason", &b.reason, 2000);
        let initiated_by = checks.vocab::<Initiator>("initiated_by", &b.initiated_by);
        checks.finish()?;
        let initiated_by = initiated_by.unwrap_or(Initiator::Agent);
        let due = DueInput {
            due_local: b.due_local.clone(),
            time_zone: b.time_zone.clone(),
            disambiguation: b.disambiguation.clone(),
            within: b.within.clone(),
            within_business_days: b.within_business_days,
            customer_requested: b.customer_requested.unwrap_or(initiated_by == Initiator::Customer),
        };
        Ok(RescheduleInput { due, reason, initiated_by, version: b.version })
    }
}

/// Marks a promise kept, with a note or an interaction as evidence; judged on time up to due + grace.
#[utoipa::path(post, path = "/api/v1/promises/{id}/keep", tag = "promises", request_body = KeepBody,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PromiseOut), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn keep(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<String>,
    body: Body<KeepBody>,
) -> Result<HttpResponse, AppError> {
    let mut input = KeepInput::try_from(&body.value)?;
    input.version = input.version.or(if_match(&req)?);
    let ctx = state.ctx();
    let who = caller.clone();
    let id = id.into_inner();
    idempotent_write(&state, &caller, &req, &body.raw, StatusCode::OK, move |conn| {
        to_json(promise_out(service::promises::keep(conn, &ctx, &who, &id, input)?, Vec::new()))
    })
    .await
}

/// Withdraws a promise: with the customer's agreement it is cancelled, without it the promise is broken.
#[utoipa::path(post, path = "/api/v1/promises/{id}/cancel", tag = "promises", request_body = CancelBody,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PromiseOut), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<String>,
    body: Body<CancelBody>,
) -> Result<HttpResponse, AppError> {
    let mut input = CancelInput::try_from(&body.value)?;
    input.version = input.version.or(if_match(&req)?);
    let ctx = state.ctx();
    let who = caller.clone();
    let id = id.into_inner();
    idempotent_write(&state, &caller, &req, &body.raw, StatusCode::OK, move |conn| {
        to_json(promise_out(service::promises::cancel(conn, &ctx, &who, &id, input)?, Vec::new()))
    })
    .await
}

/// Hands a promise to another agent of the customer's team, with a note that travels with it.
#[utoipa::path(post, path = "/api/v1/promises/{id}/handover", tag = "promises", request_body = HandoverBody,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PromiseOut), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn handover(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<String>,
    body: Body<HandoverBody>,
) -> Result<HttpResponse, AppError> {
    let mut input = HandoverInput::try_from(&body.value)?;
    input.version = input.version.or(if_match(&req)?);
    let ctx = state.ctx();
    let who = caller.clone();
    let id = id.into_inner();
    idempotent_write(&state, &caller, &req, &body.raw, StatusCode::OK, move |conn| {
        to_json(promise_out(service::promises::hand_over(conn, &ctx, &who, &id, input)?, Vec::new()))
    })
    .await
}

/// A keep body as the use case's input: a note, an interaction, or both.
impl TryFrom<&KeepBody> for KeepInput {
    type Error = AppError;

    fn try_from(b: &KeepBody) -> Result<Self, AppError> {
        let mut checks = Checks::default();
        let note = checks.optional_text("note", b.note.as_deref(), 5000);
        if note.is_none() && b.interaction_id.is_none() {
            checks.add("note", "evidence_required", "a keep needs evidence: a note, an interaction_id, or both");
        }
        checks.finish()?;
        Ok(KeepInput { note, interaction_id: b.interaction_id.clone(), version: b.version })
    }
}

/// A cancel body as the use case's input.
impl TryFrom<&CancelBody> for CancelInput {
    type Error = AppError;

    fn try_from(b: &CancelBody) -> Result<Self, AppError> {
        let mut checks = Checks::default();
        let reason = checks.text("reason", &b.reason, 2000);
        let initiated_by = checks.vocab::<Initiator>("initiated_by", &b.initiated_by);
        checks.finish()?;
        Ok(CancelInput { reason, initiated_by: initiated_by.unwrap_or(Initiator::Agent), version: b.version })
    }
}

/// A hand-over body as the use case's input.
impl TryFrom<&HandoverBody> for HandoverInput {
    type Error = AppError;

    fn try_from(b: &HandoverBody) -> Result<Self, AppError> {
        let mut checks = Checks::default();
        let note = checks.text("note", &b.note, 5000);
        checks.finish()?;
        Ok(HandoverInput { to_agent_id: b.to_agent_id.clone(), note, version: b.version })
    }
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

/// Body of `POST /promises/preview`: the due-time fields of a new promise.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewBody {
    /// The customer.
    pub customer_id: String,
    /// callback, deadline or update (default callback).
    #[schema(example = "callback")]
    pub kind: Option<String>,
    /// Customer wall-clock due time.
    #[schema(example = "2099-03-17T10:00")]
    pub due_local: Option<String>,
    /// IANA zone (default: the customer's).
    #[schema(example = "Europe/Madrid")]
    pub time_zone: Option<String>,
    /// compatible | earlier | later | reject.
    pub disambiguation: Option<String>,
    /// `P15D`: this many days from now.
    pub within: Option<String>,
    /// This many business days from now.
    pub within_business_days: Option<u32>,
    /// The customer asked for this time.
    pub customer_requested: Option<bool>,
    /// The owner (default: the caller).
    pub owner_agent_id: Option<String>,
}

/// What a due time would resolve to, before anything is saved.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewOut {
    /// The UTC instant.
    pub due_at: String,
    /// The customer's wall-clock time after any DST adjustment.
    pub due_local: String,
    /// The customer's zone.
    pub time_zone: String,
    /// `2026-03-29 03:30 Europe/Madrid`.
    pub customer_local: String,
    /// The same instant in the owner's zone.
    pub owner_local: String,
    /// What the agent should know before saving (DST adjustment, owner off shift or absent...).
    pub warnings: Vec<Warning>,
}

/// Resolves a due time as `POST /promises` would and answers the result and its warnings without saving
/// anything; refusals are the same 422 answers. The web form calls it while the agent types.
#[utoipa::path(post, path = "/api/v1/promises/preview", tag = "promises", request_body = PreviewBody,
    responses((status = 200, body = PreviewOut), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn preview(
    state: web::Data<AppState>,
    caller: Caller,
    body: Body<PreviewBody>,
) -> Result<HttpResponse, AppError> {
    let b = body.value;
    let mut checks = Checks::default();
    let kind = match &b.kind {
        Some(k) => checks.vocab::<PromiseKind>("kind", k),
        None => Some(PromiseKind::Callback),
    };
    checks.finish()?;
    let kind = kind.unwrap_or(PromiseKind::Callback);
    let input = DueInput {
        due_local: b.due_local,
        time_zone: b.time_zone,
        disambiguation: b.disambiguation,
        within: b.within,
        within_business_days: b.within_business_days,
        customer_requested: b.customer_requested.unwrap_or(false),
    };
    let owner_id = b.owner_agent_id.unwrap_or_else(|| caller.agent_id.clone());
    let customer_id = b.customer_id;
    let now = state.clock.now();
    let out = state
        .db
        .read(move |conn| {
            let customer = visible_customer(conn, &caller, &customer_id)?;
            let owner = team_agent(conn, "owner_agent_id", &owner_id, customer.team_id.as_deref())?;
            let plan = plan_for(conn, &input, kind, &customer, &owner, now)?;
            let owner_zone = parse_zone(&owner.time_zone).map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
            Ok(PreviewOut {
                due_at: instant_of(plan.due_at),
                due_local: plan.due_local.format("%Y-%m-%dT%H:%M:%S").to_string(),
                time_zone: plan.zone.name().into(),
                customer_local: describe_local(plan.due_at, plan.zone),
                owner_local: describe_local(plan.due_at, owner_zone),
                warnings: plan.warnings,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}
