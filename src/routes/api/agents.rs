//! `/agents`: the people who make promises, their absences, their agenda and their API tokens.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::promises::{promise_out, PromiseOut};
use super::{idempotent_write, instant, parse_instant, to_json, Body, Checks};
use crate::app::AppState;
use crate::auth::{hash_password, Caller};
use crate::clock::new_id;
use crate::db::DbConn;
use crate::domain::due::describe_local;
use crate::domain::time::{resolve_local, Disambiguation, Tz};
use crate::domain::vocab::Role;
use crate::error::{AppError, Problem};
use crate::repo::agents::{self, Absence, Agent, AgentChanges};
use crate::repo::{customers, promises, teams, tokens};

/// Routes of this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/agents", web::post().to(create))
        .route("/agents", web::get().to(list))
        .route("/agents/{id}", web::get().to(show))
        .route("/agents/{id}", web::patch().to(update))
        .route("/agents/{id}/absences", web::post().to(create_absence))
        .route("/agents/{id}/absences", web::get().to(list_absences))
        .route("/agents/{id}/agenda", web::get().to(agenda))
        .route("/agents/{id}/tokens", web::post().to(create_token));
}

/// Body of `POST /agents`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAgentBody {
    /// Display name.
    #[schema(example = "Marta Gil")]
    pub name: String,
    /// Unique login email.
    #[schema(example = "marta.gil@example.com")]
    pub email: String,
    /// agent (default), manager or admin.
    #[schema(example = "agent")]
    pub role: Option<String>,
    /// Team id.
    pub team_id: Option<String>,
    /// IANA zone, e.g. Europe/Madrid.
    #[schema(example = "Europe/Madrid")]
    pub time_zone: String,
    /// Weekly shift: text ("mon-fri 09:00-17:00") or JSON ({"mon": [["09:00","17:00"]]}); default from settings.
    #[schema(schema_with = super::window_schema)]
    pub shift: Option<serde_json::Value>,
    /// BCP 47 locale (default en).
    #[schema(example = "es-ES")]
    pub locale: Option<String>,
    /// Initial password for the web pages (at least 10 characters).
    pub password: Option<String>,
}

/// Body of `PATCH /agents/{id}`: every field optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentPatchBody {
    /// Display name.
    pub name: Option<String>,
    /// Role.
    pub role: Option<String>,
    /// Team id.
    pub team_id: Option<String>,
    /// IANA zone.
    #[schema(example = "Atlantic/Canary")]
    pub time_zone: Option<String>,
    /// Weekly shift.
    #[schema(schema_with = super::window_schema)]
    pub shift: Option<serde_json::Value>,
    /// Locale.
    #[schema(example = "es-ES")]
    pub locale: Option<String>,
    /// Active flag.
    pub active: Option<bool>,
    /// New password.
    pub password: Option<String>,
}

/// An agent.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentOut {
    /// Opaque id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Role.
    pub role: String,
    /// Team id.
    pub team_id: Option<String>,
    /// IANA zone.
    pub time_zone: String,
    /// Shift, text form.
    pub shift: String,
    /// Locale.
    pub locale: String,
    /// Active.
    pub active: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<Agent> for AgentOut {
    fn from(a: Agent) -> Self {
        Self {
            id: a.id,
            name: a.name,
            email: a.email,
            role: a.role,
            team_id: a.team_id,
            time_zone: a.time_zone,
            shift: a.shift,
            locale: a.locale,
            active: a.active,
            created_at: instant(a.created_at),
            updated_at: instant(a.updated_at),
        }
    }
}

fn check_password(checks: &mut Checks, password: &str) {
    if password.chars().count() < 10 {
        checks.add("password", "too_short", "password must be at least 10 characters");
    } else if password.len() > 1024 {
        checks.add("password", "too_long", "password is longer than 1024 bytes");
    }
}

/// Creates an agent (admin).
#[utoipa::path(post, path = "/api/v1/agents", tag = "agents", request_body = NewAgentBody,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = AgentOut), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: Body<NewAgentBody>,
) -> Result<HttpResponse, AppError> {
    caller.require(Role::Admin)?;
    let b = &body.value;
    let mut checks = Checks::default();
    let name = checks.text("name", &b.name, 200);
    let email = checks.email("email", &b.email);
    let role = match &b.role {
        Some(r) => checks.vocab::<Role>("role", r).unwrap_or(Role::Agent),
        None => Role::Agent,
    };
    let time_zone = checks.zone("time_zone", &b.time_zone);
    let shift = match &b.shift {
        Some(v) => checks.window("shift", v),
        None => state.tolerances.default_shift.to_text(),
    };
    let locale = checks.locale("locale", b.locale.as_deref().unwrap_or("en"));
    if let Some(p) = &b.password {
        check_password(&mut checks, p);
    }
    checks.finish()?;
    let password_hash = b.password.as_deref().map(hash_password).transpose()?;
    let team_id = b.team_id.clone();
    let now = state.clock.now().timestamp_millis();
    idempotent_write(&state, &caller, &req, &body.raw, StatusCode::CREATED, move |conn| {
        if let Some(team) = &team_id {
            if teams::find(conn, team)?.is_none() {
                return Err(AppError::invalid("team_id", "unknown_team", format!("team `{team}` does not exist")));
            }
        }
        if agents::find_by_email(conn, &email)?.is_some() {
            return Err(AppError::conflict(format!("an agent with email `{email}` already exists")));
        }
        let agent = Agent {
            id: new_id("agt"),
            name,
            email,
            role: role.as_str().into(),
            team_id,
            time_zone,
            shift,
            locale,
            active: true,
            password_hash,
            created_at: now,
            updated_at: now,
        };
        agents::insert(conn, &agent)?;
        to_json(AgentOut::from(agent))
    })
    .await
}

/// Query of `GET /agents`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AgentListQuery {
    /// Only this team (admins; others always see their own team).
    pub team_id: Option<String>,
}

/// Lists agents: admins all (or one team), others their own team.
#[utoipa::path(get, path = "/api/v1/agents", tag = "agents", params(AgentListQuery),
    responses((status = 200, body = Vec<AgentOut>), (status = 401, body = Problem)), security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<AgentListQuery>,
) -> Result<HttpResponse, AppError> {
    let team_id = query.into_inner().team_id;
    let rows = state.db.read(move |conn| list_of(conn, &caller, team_id)).await?;
    Ok(HttpResponse::Ok().json(rows))
}

/// The agents a caller may list: an admin any team's (or all), anyone else their own team's, and an agent without
/// a team only themselves. The query behind `GET /agents` and the pages' agent pickers.
pub fn list_of(conn: &mut DbConn, caller: &Caller, team_id: Option<String>) -> Result<Vec<AgentOut>, AppError> {
    let team = if caller.is_admin() { team_id } else { caller.team_id.clone() };
    let rows = if !caller.is_admin() && team.is_none() {
        agents::find(conn, &caller.agent_id)?.into_iter().collect()
    } else {
        agents::list(conn, team.as_deref())?
    };
    Ok(rows.into_iter().map(AgentOut::from).collect())
}

/// Loads an agent the caller may see, resolving `me`.
fn visible_agent(conn: &mut DbConn, caller: &Caller, id: &str) -> Result<Agent, AppError> {
    let id = if id == "me" { caller.agent_id.as_str() } else { id };
    let agent = agents::find(conn, id)?.ok_or_else(|| AppError::not_found("agent", id))?;
    if agent.id != caller.agent_id {
        caller.check_team(agent.team_id.as_deref(), "agent", id)?;
    }
    Ok(agent)
}

/// One agent (`me` for the caller).
#[utoipa::path(get, path = "/api/v1/agents/{id}", tag = "agents", params(("id" = String, Path, description = "agent id or `me`")),
    responses((status = 200, body = AgentOut), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn show(state: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let agent = state.db.read(move |conn| visible_agent(conn, &caller, &id)).await?;
    Ok(HttpResponse::Ok().json(AgentOut::from(agent)))
}

/// Changes an agent (admin).
#[utoipa::path(patch, path = "/api/v1/agents/{id}", tag = "agents", request_body = AgentPatchBody, params(("id" = String, Path)),
    responses((status = 200, body = AgentOut), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: Body<AgentPatchBody>,
) -> Result<HttpResponse, AppError> {
    caller.require(Role::Admin)?;
    let b = body.value;
    let mut checks = Checks::default();
    let now = state.clock.now().timestamp_millis();
    let mut changes = AgentChanges { updated_at: now, ..Default::default() };
    changes.name = b.name.as_deref().map(|n| checks.text("name", n, 200));
    changes.role = b.role.as_deref().and_then(|r| checks.vocab::<Role>("role", r)).map(|r| r.as_str().to_string());
    changes.time_zone = b.time_zone.as_deref().map(|z| checks.zone("time_zone", z));
    changes.shift = b.shift.as_ref().map(|s| checks.window("shift", s));
    changes.locale = b.locale.as_deref().map(|l| checks.locale("locale", l));
    changes.active = b.active;
    if let Some(p) = &b.password {
        check_password(&mut checks, p);
    }
    checks.finish()?;
    if let Some(p) = &b.password {
        changes.password_hash = Some(Some(hash_password(p)?));
    }
    let team_id = b.team_id.clone();
    let id = id.into_inner();
    let agent = state
        .db
        .write(move |conn| {
            if let Some(team) = team_id {
                if teams::find(conn, &team)?.is_none() {
                    return Err(AppError::invalid("team_id", "unknown_team", format!("team `{team}` does not exist")));
                }
                changes.team_id = Some(Some(team));
            }
            if !agents::update(conn, &id, &changes)? {
                return Err(AppError::not_found("agent", id));
            }
            agents::find(conn, &id)?.ok_or_else(|| AppError::not_found("agent", id))
        })
        .await?;
    Ok(HttpResponse::Ok().json(AgentOut::from(agent)))
}

/// Body of `POST /agents/{id}/absences`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAbsenceBody {
    /// RFC 3339 instant.
    #[schema(example = "2099-03-16T08:00:00Z")]
    pub starts_at: String,
    /// RFC 3339 instant, after starts_at.
    #[schema(example = "2099-03-20T18:00:00Z")]
    pub ends_at: String,
    /// Who takes the agent's prompts meanwhile.
    pub stand_in_agent_id: Option<String>,
    /// Free text.
    pub note: Option<String>,
}

/// An absence.
#[derive(Debug, Serialize, ToSchema)]
pub struct AbsenceOut {
    /// Opaque id.
    pub id: String,
    /// Who is away.
    pub agent_id: String,
    /// RFC 3339.
    pub starts_at: String,
    /// RFC 3339.
    pub ends_at: String,
    /// Stand-in.
    pub stand_in_agent_id: Option<String>,
    /// Note.
    pub note: String,
}

impl From<Absence> for AbsenceOut {
    fn from(a: Absence) -> Self {
        Self {
            id: a.id,
            agent_id: a.agent_id,
            starts_at: instant(a.starts_at),
            ends_at: instant(a.ends_at),
            stand_in_agent_id: a.stand_in_agent_id,
            note: a.note,
        }
    }
}

/// Records an absence (the agent themselves, a manager of the team, or an admin).
#[utoipa::path(post, path = "/api/v1/agents/{id}/absences", tag = "agents", request_body = NewAbsenceBody,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = AbsenceOut), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_absence(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<String>,
    body: Body<NewAbsenceBody>,
) -> Result<HttpResponse, AppError> {
    let b = &body.value;
    let starts = parse_instant("starts_at", &b.starts_at)?;
    let ends = parse_instant("ends_at", &b.ends_at)?;
    if ends <= starts {
        return Err(AppError::invalid("ends_at", "not_after_start", "ends_at must be after starts_at"));
    }
    let mut checks = Checks::default();
    let note = checks.optional_text("note", b.note.as_deref(), 2000).unwrap_or_default();
    checks.finish()?;
    let stand_in = b.stand_in_agent_id.clone();
    let id = id.into_inner();
    let now = state.clock.now().timestamp_millis();
    let who = caller.clone();
    idempotent_write(&state, &caller, &req, &body.raw, StatusCode::CREATED, move |conn| {
        let agent = visible_agent(conn, &who, &id)?;
        who.check_agent_scope(&agent.id, agent.team_id.as_deref())?;
        if let Some(s) = &stand_in {
            // A stand-in receives the absent agent's customer cards: only a colleague of the same team may.
            let stand_in = crate::service::access::team_agent(conn, "stand_in_agent_id", s, agent.team_id.as_deref())?;
            if stand_in.id == agent.id {
                return Err(AppError::invalid(
                    "stand_in_agent_id",
                    "self_stand_in",
                    "an agent cannot stand in for themselves",
                ));
            }
        }
        let absence = Absence {
            id: new_id("abs"),
            agent_id: agent.id,
            starts_at: starts.timestamp_millis(),
            ends_at: ends.timestamp_millis(),
            stand_in_agent_id: stand_in,
            note,
            created_at: now,
            updated_at: now,
        };
        agents::insert_absence(conn, &absence)?;
        to_json(AbsenceOut::from(absence))
    })
    .await
}

/// An agent's current and future absences.
#[utoipa::path(get, path = "/api/v1/agents/{id}/absences", tag = "agents", params(("id" = String, Path)),
    responses((status = 200, body = Vec<AbsenceOut>), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_absences(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now().timestamp_millis();
    let rows = state
        .db
        .read(move |conn| {
            let agent = visible_agent(conn, &caller, &id)?;
            Ok(agents::absences_of(conn, &agent.id, now)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(AbsenceOut::from).collect::<Vec<_>>()))
}

/// Query of the agenda.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AgendaQuery {
    /// Local date in the agent's zone, `YYYY-MM-DD` (default today).
    pub date: Option<String>,
}

/// One line of the agenda: the promise, and the customer's clock beside it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgendaItem {
    /// The promise.
    pub promise: PromiseOut,
    /// Customer name.
    pub customer_name: String,
    /// Customer phone.
    pub customer_phone: Option<String>,
    /// The customer's zone.
    pub customer_time_zone: String,
    /// The customer's wall clock now, e.g. `2026-03-17 11:05 Europe/Madrid`.
    pub customer_local_now: String,
    /// The due time on the agent's own clock.
    pub due_agent_local: String,
    /// Due before now and still open or missed.
    pub overdue: bool,
}

/// An agent's day.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgendaOut {
    /// The agent.
    pub agent_id: String,
    /// The agent's zone.
    pub time_zone: String,
    /// The local date shown.
    pub date: String,
    /// RFC 3339 start of that local day.
    pub from: String,
    /// RFC 3339 end of that local day.
    pub to: String,
    /// Overdue first, then the day's promises by due time.
    pub items: Vec<AgendaItem>,
}

/// Start of a local date as an instant (midnight may not exist: resolve forward, like any local time).
fn start_of_day(date: NaiveDate, zone: Tz) -> Result<chrono::DateTime<chrono::Utc>, AppError> {
    let midnight = date.and_hms_opt(0, 0, 0).ok_or_else(|| AppError::invalid("date", "invalid_date", "bad date"))?;
    resolve_local(midnight, zone, Disambiguation::Compatible)
        .map(|r| r.instant)
        .map_err(|e| AppError::invalid("date", e.code(), e.to_string()))
}

/// The agent's agenda for a local day: overdue promises first, then the day's, each with the customer's local
/// time.
#[utoipa::path(get, path = "/api/v1/agents/{id}/agenda", tag = "agents",
    params(("id" = String, Path, description = "agent id or `me`"), AgendaQuery),
    responses((status = 200, body = AgendaOut), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn agenda(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    query: web::Query<AgendaQuery>,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let date_text = query.into_inner().date;
    let out = state.db.read(move |conn| agenda_of(conn, &caller, &id, date_text.as_deref(), now)).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// The agenda of agent `id` (`me`) on `date_text` (default today in the agent's zone): overdue first, then the
/// day. The query behind `GET /agents/{id}/agenda` and the agenda page.
pub fn agenda_of(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
    date_text: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<AgendaOut, AppError> {
    let agent = visible_agent(conn, caller, id)?;
    caller.check_agent_scope(&agent.id, agent.team_id.as_deref())?;
    let zone = crate::repo::stored::zone("agent", &agent.id, &agent.time_zone)?;
    let date = match date_text {
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
            AppError::invalid("date", "invalid_date", format!("`{text}` is not a date like 2026-03-17"))
        })?,
        None => now.with_timezone(&zone).date_naive(),
    };
    let next = date.succ_opt().ok_or_else(|| AppError::invalid("date", "invalid_date", "date out of range"))?;
    let from = start_of_day(date, zone)?;
    let to = start_of_day(next, zone)?;
    let rows = promises::agenda(conn, &agent.id, to.timestamp_millis(), 1000)?;
    let rows: Vec<_> =
        rows.into_iter().filter(|p| p.due_at < now.timestamp_millis() || p.due_at >= from.timestamp_millis()).collect();
    let ids: Vec<String> = rows.iter().map(|p| p.customer_id.clone()).collect();
    let people = customers::find_many(conn, &ids)?;
    let mut items = Vec::with_capacity(rows.len());
    for p in rows {
        let Some(c) = people.iter().find(|c| c.id == p.customer_id) else { continue };
        let customer_zone = crate::repo::stored::zone("customer", &c.id, &c.time_zone)?;
        let due = crate::clock::from_ms(p.due_at);
        items.push(AgendaItem {
            overdue: p.due_at < now.timestamp_millis(),
            customer_name: c.name.clone(),
            customer_phone: c.phone.clone(),
            customer_time_zone: c.time_zone.clone(),
            customer_local_now: describe_local(now, customer_zone),
            due_agent_local: describe_local(due, zone),
            promise: promise_out(p, Vec::new()),
        });
    }
    // Overdue first (oldest first), then the day in due order: the rows are already in due order, and
    // every overdue row is due before every future one.
    Ok(AgendaOut {
        agent_id: agent.id,
        time_zone: agent.time_zone,
        date: date.to_string(),
        from: super::instant_of(from),
        to: super::instant_of(to),
        items,
    })
}

/// Body of `POST /agents/{id}/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    /// A label for the token, e.g. "crm-sync".
    #[schema(example = "crm-sync")]
    pub name: String,
}

/// A new token: the secret is shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenOut {
    /// Token id (for revocation).
    pub id: String,
    /// The agent it acts as.
    pub agent_id: String,
    /// Label.
    pub name: String,
    /// The secret, to send as `Authorization: Bearer <token>`. Not retrievable later.
    pub token: String,
}

/// Issues an API token for an agent (admin).
#[utoipa::path(post, path = "/api/v1/agents/{id}/tokens", tag = "agents", request_body = NewTokenBody,
    params(("id" = String, Path)),
    responses((status = 201, body = TokenOut), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_token(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: Body<NewTokenBody>,
) -> Result<HttpResponse, AppError> {
    caller.require(Role::Admin)?;
    let mut checks = Checks::default();
    let name = checks.text("name", &body.value.name, 200);
    checks.finish()?;
    let now = state.clock.now().timestamp_millis();
    let id = id.into_inner();
    // Not idempotent on purpose: a replay would have to store the secret.
    let out = state
        .db
        .write(move |conn| {
            let agent = agents::find(conn, &id)?.ok_or_else(|| AppError::not_found("agent", id))?;
            let (token, secret) = tokens::create(conn, &agent.id, &name, now)?;
            Ok(TokenOut { id: token.id, agent_id: agent.id, name: token.name, token: secret })
        })
        .await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(out))
}
