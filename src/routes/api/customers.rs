//! `/customers`: the people promises are made to, their shopkeeper's brief, their one timeline across channels,
//! and logging a contact (which keeps a callback when it is the evidence).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::promises::{promise_out, visible_customer, EventOut, PromiseOut};
use super::{
    decode_cursor, encode_cursor, idempotent_write, instant, page_limit, parse_instant, to_json, Body, Checks,
};
use crate::app::AppState;
use crate::auth::Caller;
use crate::clock::new_id;
use crate::db::DbConn;
use crate::domain::brief::{clock_sentence, opening_line};
use crate::domain::due::Warning;
use crate::domain::promise::LedgerEvent;
use crate::domain::time::{parse_zone, HolidayCalendar};
use crate::domain::vocab::{Channel, Direction, EventKind, Outcome};
use crate::error::{AppError, Problem};
use crate::repo::customers::{self, Customer, CustomerChanges};
use crate::repo::interactions::{self, Interaction};
use crate::repo::{agents, promises, teams};
use crate::service;
use crate::service::interactions::NewInteraction;

/// Routes of this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/customers", web::post().to(create))
        .route("/customers", web::get().to(list))
        .route("/customers/{id}", web::get().to(show))
        .route("/customers/{id}", web::patch().to(update))
        .route("/customers/{id}/brief", web::get().to(brief))
        .route("/customers/{id}/timeline", web::get().to(timeline))
        .route("/customers/{id}/interactions", web::post().to(create_interaction));
}

/// Body of `POST /customers`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustomerBody {
    /// Full name.
    #[schema(example = "Ana Royo")]
    pub name: String,
    /// IANA zone (required): customer time is the truth.
    #[schema(example = "Europe/Madrid")]
    pub time_zone: String,
    /// BCP 47, e.g. es-ES (default es-ES).
    #[schema(example = "es-ES")]
    pub locale: Option<String>,
    /// Phone.
    #[schema(example = "+34 976 555 000")]
    pub phone: Option<String>,
    /// Email.
    #[schema(example = "ana.royo@example.com")]
    pub email: Option<String>,
    /// When contact is welcome: "mon-sat 09:00-21:00" or JSON (default from settings).
    #[schema(schema_with = super::window_schema)]
    pub contact_window: Option<serde_json::Value>,
    /// phone, email, sms, whatsapp, social, chat, visit or letter.
    #[schema(example = "phone")]
    pub preferred_channel: Option<String>,
    /// The shopkeeper (default: whoever makes the first promise).
    pub owner_agent_id: Option<String>,
    /// Team (default: the caller's team).
    pub team_id: Option<String>,
    /// Short facts ("two lines, second depends on the first").
    pub facts: Option<Vec<String>>,
    /// Free text.
    pub notes: Option<String>,
    /// Hard block on calls.
    pub do_not_call: Option<bool>,
    /// Holiday calendar: ES, ES-CN, US.
    #[schema(example = "ES")]
    pub region: Option<String>,
    /// Id in another system.
    pub external_ref: Option<String>,
}

/// Body of `PATCH /customers/{id}`: every field optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerPatchBody {
    /// Full name.
    pub name: Option<String>,
    /// IANA zone.
    #[schema(example = "Atlantic/Canary")]
    pub time_zone: Option<String>,
    /// Locale.
    #[schema(example = "es-ES")]
    pub locale: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Email.
    #[schema(example = "ana.royo@example.com")]
    pub email: Option<String>,
    /// Contact window.
    #[schema(schema_with = super::window_schema)]
    pub contact_window: Option<serde_json::Value>,
    /// Preferred channel.
    #[schema(example = "whatsapp")]
    pub preferred_channel: Option<String>,
    /// Owner.
    pub owner_agent_id: Option<String>,
    /// Facts (replaces the list).
    pub facts: Option<Vec<String>>,
    /// Notes.
    pub notes: Option<String>,
    /// Do not call.
    pub do_not_call: Option<bool>,
    /// Region.
    #[schema(example = "ES-CN")]
    pub region: Option<String>,
    /// External reference.
    pub external_ref: Option<String>,
}

/// A customer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerOut {
    /// Opaque id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Phone.
    pub phone: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// IANA zone.
    pub time_zone: String,
    /// Locale.
    pub locale: String,
    /// Contact window, text form.
    pub contact_window: String,
    /// Preferred channel.
    pub preferred_channel: Option<String>,
    /// The shopkeeper.
    pub owner_agent_id: Option<String>,
    /// Team.
    pub team_id: Option<String>,
    /// Facts.
    pub facts: Vec<String>,
    /// Notes.
    pub notes: String,
    /// Do not call.
    pub do_not_call: bool,
    /// Region.
    pub region: Option<String>,
    /// External reference.
    pub external_ref: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<Customer> for CustomerOut {
    fn from(c: Customer) -> Self {
        Self {
            facts: serde_json::from_str(&c.facts).unwrap_or_default(),
            created_at: instant(c.created_at),
            updated_at: instant(c.updated_at),
            id: c.id,
            name: c.name,
            phone: c.phone,
            email: c.email,
            time_zone: c.time_zone,
            locale: c.locale,
            contact_window: c.contact_window,
            preferred_channel: c.preferred_channel,
            owner_agent_id: c.owner_agent_id,
            team_id: c.team_id,
            notes: c.notes,
            do_not_call: c.do_not_call,
            region: c.region,
            external_ref: c.external_ref,
        }
    }
}

fn check_facts(checks: &mut Checks, facts: &[String]) -> String {
    if facts.len() > 50 {
        checks.add("facts", "too_many", "at most 50 facts");
    }
    let cleaned: Vec<String> = facts
        .iter()
        .enumerate()
        .filter_map(|(i, f)| checks.optional_text(&format!("facts[{i}]"), Some(f), 500))
        .collect();
    serde_json::to_string(&cleaned).unwrap_or_else(|_| "[]".into())
}

fn check_region(checks: &mut Checks, region: &str) -> String {
    let upper = region.trim().to_uppercase();
    if HolidayCalendar::for_region(&upper).is_none() {
        checks.add(
            "region",
            "unknown_region",
            format!("no holiday calendar for `{region}`; known: {}", HolidayCalendar::known_regions().join(", ")),
        );
    }
    upper
}

/// Creates a customer in the caller's team (admins may name any team).
#[utoipa::path(post, path = "/api/v1/customers", tag = "customers", request_body = NewCustomerBody,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = CustomerOut), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: Body<NewCustomerBody>,
) -> Result<HttpResponse, AppError> {
    let b = &body.value;
    let mut checks = Checks::default();
    let name = checks.text("name", &b.name, 200);
    let time_zone = checks.zone("time_zone", &b.time_zone);
    let locale = checks.locale("locale", b.locale.as_deref().unwrap_or("es-ES"));
    let phone = checks.optional_text("phone", b.phone.as_deref(), 50);
    let email = b.email.as_deref().filter(|e| !e.trim().is_empty()).map(|e| checks.email("email", e));
    let contact_window = match &b.contact_window {
        Some(v) => checks.window("contact_window", v),
        None => state.tolerances.default_contact_window.to_text(),
    };
    let preferred_channel = b
        .preferred_channel
        .as_deref()
        .and_then(|c| checks.vocab::<Channel>("preferred_channel", c))
        .map(|c| c.as_str().to_string());
    let facts = check_facts(&mut checks, b.facts.as_deref().unwrap_or_default());
    let notes = checks.optional_text("notes", b.notes.as_deref(), 20_000).unwrap_or_default();
    let region = b.region.as_deref().map(|r| check_region(&mut checks, r));
    let external_ref = checks.optional_text("external_ref", b.external_ref.as_deref(), 200);
    let team_id = match (&b.team_id, caller.is_admin()) {
        (Some(team), true) => Some(team.clone()),
        (Some(team), false) if Some(team) != caller.team_id.as_ref() => {
            checks.add("team_id", "other_team", "you can only create customers in your own team");
            None
        }
        _ => caller.team_id.clone(),
    };
    checks.finish()?;
    let owner = b.owner_agent_id.clone();
    let do_not_call = b.do_not_call.unwrap_or(false);
    let now = state.clock.now().timestamp_millis();
    idempotent_write(&state, &caller, &req, &body.raw, StatusCode::CREATED, move |conn| {
        if let Some(team) = &team_id {
            if teams::find(conn, team)?.is_none() {
                return Err(AppError::invalid("team_id", "unknown_team", format!("team `{team}` does not exist")));
            }
        }
        if let Some(o) = &owner {
            service::access::team_agent(conn, "owner_agent_id", o, team_id.as_deref())?;
        }
        let customer = Customer {
            id: new_id("cus"),
            name,
            phone,
            email,
            time_zone,
            locale,
            contact_window,
            preferred_channel,
            owner_agent_id: owner,
            team_id,
            notes,
            facts,
            external_ref,
            do_not_call,
            region,
            created_at: now,
            updated_at: now,
        };
        customers::insert(conn, &customer)?;
        to_json(CustomerOut::from(customer))
    })
    .await
}

/// Query of `GET /customers`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CustomerListQuery {
    /// Search in name, phone, email and external reference.
    pub q: Option<String>,
    /// Page size 1-500 (default 50).
    pub limit: Option<i64>,
    /// From `next_cursor`.
    pub cursor: Option<String>,
}

/// A page of customers.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerPage {
    /// Customers.
    pub items: Vec<CustomerOut>,
    /// For the next page.
    pub next_cursor: Option<String>,
}

/// Lists the customers of the caller's team (admins: all).
#[utoipa::path(get, path = "/api/v1/customers", tag = "customers", params(CustomerListQuery),
    responses((status = 200, body = CustomerPage), (status = 401, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<CustomerListQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let page = state.db.read(move |conn| list_of(conn, &caller, query)).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// The customers a caller may see, by name, filtered by `q`: the query behind `GET /customers` and the
/// customers page.
pub fn list_of(conn: &mut DbConn, caller: &Caller, query: CustomerListQuery) -> Result<CustomerPage, AppError> {
    let q = query;
    let limit = page_limit(q.limit)?;
    let after = q.cursor.as_deref().map(decode_cursor).transpose()?;
    if !caller.is_admin() && caller.team_id.is_none() {
        return Ok(CustomerPage { items: Vec::new(), next_cursor: None });
    }
    let team = if caller.is_admin() { None } else { caller.team_id.clone() };
    let mut rows = customers::list(conn, team.as_deref(), q.q.as_deref(), after.as_deref(), limit + 1)?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|c| encode_cursor(&c.id))
    } else {
        None
    };
    Ok(CustomerPage { items: rows.into_iter().map(CustomerOut::from).collect(), next_cursor })
}

/// One customer.
#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "customers", params(("id" = String, Path)),
    responses((status = 200, body = CustomerOut), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn show(state: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let customer = state.db.read(move |conn| visible_customer(conn, &caller, &id)).await?;
    Ok(HttpResponse::Ok().json(CustomerOut::from(customer)))
}

/// Changes a customer.
#[utoipa::path(patch, path = "/api/v1/customers/{id}", tag = "customers", request_body = CustomerPatchBody,
    params(("id" = String, Path)),
    responses((status = 200, body = CustomerOut), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: Body<CustomerPatchBody>,
) -> Result<HttpResponse, AppError> {
    let b = body.value;
    let mut checks = Checks::default();
    let mut changes = CustomerChanges { updated_at: state.clock.now().timestamp_millis(), ..Default::default() };
    changes.name = b.name.as_deref().map(|n| checks.text("name", n, 200));
    changes.time_zone = b.time_zone.as_deref().map(|z| checks.zone("time_zone", z));
    changes.locale = b.locale.as_deref().map(|l| checks.locale("locale", l));
    changes.phone = b.phone.as_deref().map(|p| checks.optional_text("phone", Some(p), 50));
    changes.email = b.email.as_deref().map(|e| if e.trim().is_empty() { None } else { Some(checks.email("email", e)) });
    changes.contact_window = b.contact_window.as_ref().map(|w| checks.window("contact_window", w));
    changes.preferred_channel = b
        .preferred_channel
        .as_deref()
        .map(|c| checks.vocab::<Channel>("preferred_channel", c).map(|c| c.as_str().to_string()));
    changes.facts = b.facts.as_deref().map(|f| check_facts(&mut checks, f));
    changes.notes = b.notes.as_deref().map(|n| checks.optional_text("notes", Some(n), 20_000).unwrap_or_default());
    changes.do_not_call = b.do_not_call;
    changes.region =
        b.region.as_deref().map(|r| if r.trim().is_empty() { None } else { Some(check_region(&mut checks, r)) });
    changes.external_ref = b.external_ref.as_deref().map(|r| checks.optional_text("external_ref", Some(r), 200));
    checks.finish()?;
    let owner = b.owner_agent_id;
    let id = id.into_inner();
    let customer = state
        .db
        .write(move |conn| {
            let customer = visible_customer(conn, &caller, &id)?;
            if let Some(o) = owner {
                service::access::team_agent(conn, "owner_agent_id", &o, customer.team_id.as_deref())?;
                changes.owner_agent_id = Some(Some(o));
            }
            customers::update(conn, &customer.id, &changes)?;
            customers::find(conn, &customer.id)?.ok_or_else(|| AppError::not_found("customer", id))
        })
        .await?;
    Ok(HttpResponse::Ok().json(CustomerOut::from(customer)))
}

/// An interaction.
#[derive(Debug, Serialize, ToSchema)]
pub struct InteractionOut {
    /// Opaque id.
    pub id: String,
    /// Customer.
    pub customer_id: String,
    /// Agent.
    pub agent_id: Option<String>,
    /// Channel.
    pub channel: String,
    /// inbound | outbound.
    pub direction: String,
    /// Outcome.
    pub outcome: String,
    /// Summary.
    pub summary: String,
    /// RFC 3339.
    pub occurred_at: String,
    /// The promise it fulfils.
    pub promise_id: Option<String>,
}

impl From<Interaction> for InteractionOut {
    fn from(i: Interaction) -> Self {
        Self {
            occurred_at: instant(i.occurred_at),
            id: i.id,
            customer_id: i.customer_id,
            agent_id: i.agent_id,
            channel: i.channel,
            direction: i.direction,
            outcome: i.outcome,
            summary: i.summary,
            promise_id: i.promise_id,
        }
    }
}

/// Who someone is, in a few words.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentRef {
    /// Agent id.
    pub id: String,
    /// Name.
    pub name: String,
}

/// An open promise in the brief, with who made it.
#[derive(Debug, Serialize, ToSchema)]
pub struct BriefPromise {
    /// The promise.
    #[serde(flatten)]
    pub promise: PromiseOut,
    /// Who made it.
    pub made_by_name: String,
    /// Its reschedules: when, why and at whose request.
    #[schema(value_type = Vec<Object>)]
    pub reschedules: Vec<serde_json::Value>,
}

/// The shopkeeper's card as JSON: everything the prompt shows.
#[derive(Debug, Serialize, ToSchema)]
pub struct BriefOut {
    /// The customer.
    pub customer: CustomerOut,
    /// The customer's clock now, e.g. "11:05 in Europe/Madrid (UTC+01:00)".
    pub local_now: String,
    /// The shopkeeper.
    pub owner: Option<AgentRef>,
    /// Open and missed promises, earliest first.
    pub open_promises: Vec<BriefPromise>,
    /// The latest interactions on every channel, newest first.
    pub recent_interactions: Vec<InteractionOut>,
    /// Promise counts per status over the customer's history.
    #[schema(value_type = Object)]
    pub promise_history: serde_json::Value,
    /// A first sentence for the call, in the customer's language.
    pub suggested_opening: String,
}

/// Everything an agent needs before contacting the customer.
#[utoipa::path(get, path = "/api/v1/customers/{id}/brief", tag = "customers", params(("id" = String, Path)),
    responses((status = 200, body = BriefOut), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn brief(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let out = state.db.read(move |conn| brief_of(conn, &caller, &id, now)).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Everything an agent needs before contacting customer `id`: the query behind `GET /customers/{id}/brief` and
/// the customer page.
pub fn brief_of(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<BriefOut, AppError> {
    let customer = visible_customer(conn, caller, id)?;
    let zone = parse_zone(&customer.time_zone).map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
    let owner = match &customer.owner_agent_id {
        Some(o) => agents::find(conn, o)?.map(|a| AgentRef { id: a.id, name: a.name }),
        None => None,
    };
    // Three statements of fixed shape (kept prepared) for the whole list: the promises, who made them, and
    // their reschedules.
    let active = promises::active_of_customer(conn, &customer.id)?;
    let names: HashMap<String, String> = promises::active_makers_of_customer(conn, &customer.id)?.into_iter().collect();
    let mut reschedules: HashMap<String, Vec<serde_json::Value>> = HashMap::new();
    for e in promises::active_events_of_customer(conn, &customer.id, EventKind::Rescheduled.as_str())? {
        // Read through the ledger's type: a row that does not read is an error naming it, not an empty move.
        let event = LedgerEvent::read(&e.id.to_string(), &e.kind, &e.data)
            .map_err(|corrupt| AppError::Internal(corrupt.into()))?;
        let mut data = event.details();
        data["at"] = json!(instant(e.occurred_at));
        reschedules.entry(e.promise_id).or_default().push(data);
    }
    let mut open_promises = Vec::new();
    for p in active {
        let made_by_name = names.get(&p.id).cloned().unwrap_or_default();
        let reschedules = reschedules.remove(&p.id).unwrap_or_default();
        open_promises.push(BriefPromise { made_by_name, reschedules, promise: promise_out(p, Vec::new()) });
    }
    for item in &mut open_promises {
        item.promise.warnings = None;
    }
    let recent = interactions::of_customer(conn, &customer.id, None, 10)?;
    let history: serde_json::Map<String, serde_json::Value> =
        promises::status_counts_of_customer(conn, &customer.id)?.into_iter().map(|(s, n)| (s, json!(n))).collect();
    let agent_name = caller.name.clone();
    Ok(BriefOut {
        local_now: clock_sentence(now, zone),
        suggested_opening: opening_line(&customer.locale, &customer.name, &agent_name, !open_promises.is_empty()),
        owner,
        open_promises,
        recent_interactions: recent.into_iter().map(InteractionOut::from).collect(),
        promise_history: serde_json::Value::Object(history),
        customer: CustomerOut::from(customer),
    })
}

/// Query of the timeline.
#[derive(Debug, Deserialize, IntoParams)]
pub struct TimelineQuery {
    /// Page size 1-500 (default 50).
    pub limit: Option<i64>,
    /// From `next_cursor`.
    pub cursor: Option<String>,
}

/// One entry of the timeline: an interaction or a promise event.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEntry {
    /// `interaction` or `promise_event`.
    pub kind: String,
    /// RFC 3339.
    pub at: String,
    /// Present for interactions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interaction: Option<InteractionOut>,
    /// Present for promise events, with the promise id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<TimelineEvent>,
}

/// A promise event on the timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEvent {
    /// The promise.
    pub promise_id: String,
    /// The event.
    #[serde(flatten)]
    pub event: EventOut,
}

/// A page of the timeline, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelinePage {
    /// Entries.
    pub items: Vec<TimelineEntry>,
    /// For the next (older) page.
    pub next_cursor: Option<String>,
}

/// The customer's one story: every interaction on every channel and every promise event, newest first.
#[utoipa::path(get, path = "/api/v1/customers/{id}/timeline", tag = "customers",
    params(("id" = String, Path), TimelineQuery),
    responses((status = 200, body = TimelinePage), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn timeline(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    query: web::Query<TimelineQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let out = state.db.read(move |conn| timeline_of(conn, &caller, &id, query)).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// A customer's one story, newest first: interactions and promise events. The query behind
/// `GET /customers/{id}/timeline` and the customer page.
pub fn timeline_of(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
    query: TimelineQuery,
) -> Result<TimelinePage, AppError> {
    let q = query;
    let limit = page_limit(q.limit)?;
    // Entries sort by (at, key) descending; the key makes ties between an interaction and an event stable.
    let cursor = match &q.cursor {
        Some(c) => {
            let text = decode_cursor(c)?;
            let parsed = text.split_once('|').and_then(|(at, key)| Some((at.parse::<i64>().ok()?, key.to_string())));
            Some(parsed.ok_or_else(|| {
                AppError::invalid("cursor", "invalid_cursor", "the cursor is not one this API gave out")
            })?)
        }
        None => None,
    };
    let customer = visible_customer(conn, caller, id)?;
    let at_most = cursor.as_ref().map(|c| c.0);
    // Fetch a little more than a page from each source: entries equal to the cursor are skipped below.
    let fetch = limit + 50;
    let mut entries: Vec<(i64, String, TimelineEntry)> = Vec::new();
    for i in interactions::of_customer(conn, &customer.id, at_most, fetch)? {
        let key = format!("i:{}", i.id);
        let at = i.occurred_at;
        entries.push((
            at,
            key,
            TimelineEntry { kind: "interaction".into(), at: instant(at), interaction: Some(i.into()), event: None },
        ));
    }
    for e in promises::events_of_customer(conn, &customer.id, at_most, fetch)? {
        let key = format!("e:{:020}", e.id);
        let at = e.occurred_at;
        let promise_id = e.promise_id.clone();
        entries.push((
            at,
            key,
            TimelineEntry {
                kind: "promise_event".into(),
                at: instant(at),
                interaction: None,
                event: Some(TimelineEvent { promise_id, event: e.into() }),
            },
        ));
    }
    entries.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
    if let Some((at, key)) = &cursor {
        entries.retain(|(a, k, _)| (*a, k) < (*at, key));
    }
    let more = entries.len() as i64 > limit;
    entries.truncate(limit as usize);
    let next_cursor = if more { entries.last().map(|(a, k, _)| encode_cursor(&format!("{a}|{k}"))) } else { None };
    Ok(TimelinePage { items: entries.into_iter().map(|(_, _, e)| e).collect(), next_cursor })
}

/// Body of `POST /customers/{id}/interactions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInteractionBody {
    /// phone, email, sms, whatsapp, social, chat, visit, letter.
    #[schema(example = "phone")]
    pub channel: String,
    /// inbound | outbound.
    #[schema(example = "outbound")]
    pub direction: String,
    /// reached, no_answer, voicemail, left_message, resolved, other.
    #[schema(example = "reached")]
    pub outcome: String,
    /// What happened.
    #[schema(example = "Called back; the router works again")]
    pub summary: String,
    /// RFC 3339 (default now; not in the future).
    pub occurred_at: Option<String>,
    /// The promise this contact fulfils.
    pub promise_id: Option<String>,
}

/// The logged interaction and what it did to the promise it names.
#[derive(Debug, Serialize, ToSchema)]
pub struct InteractionCreated {
    /// The interaction.
    pub interaction: InteractionOut,
    /// The promise after the interaction, when one was named.
    pub promise: Option<PromiseOut>,
    /// The promises this contact kept: the named one, or, when none was named, every open callback and current
    /// update occurrence of the customer whose keep window holds it and which the caller owns or stands in for.
    pub kept: Vec<PromiseOut>,
    /// Remarks, e.g. `not_evidence` when the contact does not keep the promise.
    pub warnings: Vec<Warning>,
}

/// An interaction body as the use case's input; `occurred_at` may not be more than 5 minutes after `now`.
pub fn interaction_input(
    b: &NewInteractionBody,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<NewInteraction, AppError> {
    let mut checks = Checks::default();
    let channel = checks.vocab::<Channel>("channel", &b.channel);
    let direction = checks.vocab::<Direction>("direction", &b.direction);
    let outcome = checks.vocab::<Outcome>("outcome", &b.outcome);
    let summary = checks.text("summary", &b.summary, 20_000);
    let occurred_at = match &b.occurred_at {
        Some(text) => match parse_instant("occurred_at", text) {
            Ok(at) if at > now + Duration::minutes(5) => {
                checks.add("occurred_at", "in_the_future", format!("{text} is in the future"));
                now
            }
            Ok(at) => at,
            Err(_) => {
                checks.add("occurred_at", "invalid_instant", format!("`{text}` is not an RFC 3339 instant"));
                now
            }
        },
        None => now,
    };
    checks.finish()?;
    let (Some(channel), Some(direction), Some(outcome)) = (channel, direction, outcome) else {
        return Err(AppError::Internal(anyhow::anyhow!("checked vocabularies missing")));
    };
    Ok(NewInteraction { channel, direction, outcome, summary, occurred_at, promise_id: b.promise_id.clone() })
}

/// Logs a contact with the customer. An outbound attempt by the owner (or their stand-in) on a callback, from 10
/// minutes before due, keeps it: on time within the grace, late after; for an update promise it keeps the
/// current occurrence and schedules the next. Without `promise_id`, an outbound attempt keeps every open
/// callback (and current update occurrence) whose keep window holds it; `kept` lists them.
#[utoipa::path(post, path = "/api/v1/customers/{id}/interactions", tag = "customers", request_body = NewInteractionBody,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = InteractionCreated), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_interaction(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<String>,
    body: Body<NewInteractionBody>,
) -> Result<HttpResponse, AppError> {
    let input = interaction_input(&body.value, state.clock.now())?;
    let ctx = state.ctx();
    let who = caller.clone();
    let customer_id = id.into_inner();
    idempotent_write(&state, &caller, &req, &body.raw, StatusCode::CREATED, move |conn| {
        let logged = service::interactions::log(conn, &ctx, &who, &customer_id, input)?;
        to_json(InteractionCreated {
            interaction: InteractionOut::from(logged.interaction),
            promise: logged.promise.map(|p| PromiseOut { warnings: None, ..promise_out(p, Vec::new()) }),
            kept: logged
                .kept
                .into_iter()
                .map(|p| PromiseOut { warnings: None, ..promise_out(p, Vec::new()) })
                .collect(),
            warnings: logged.warnings,
        })
    })
    .await
}
