//! The pages and their forms. Writes go through the service's use cases, with the form's fields converted by the
//! same functions that convert the API's bodies (so a form can never do what the API would refuse); reads go
//! through the same query functions the API's handlers use, and their typed answers become page contexts.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::ResponseError;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDateTime};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::chart::{weekly_trend, WeekPoint};
use super::session::WebUser;
use super::{field_errors, html, see_other, WebState};
use crate::app::AppState;
use crate::domain::time::{parse_zone, resolve_local, Disambiguation, Tz};
use crate::domain::vocab::{Channel, Outcome};
use crate::error::{AppError, FieldError};
use crate::routes::api::{self, agents as api_agents, customers as api_customers, metrics as api_metrics};
use crate::routes::api::{promises as api_promises, prompts as api_prompts, Body};
use crate::service;
use crate::service::events::prompt_json;

type Form = web::Form<HashMap<String, String>>;

/// A typed answer of a query as a page context value (the templates read the same fields the API shows).
fn context_of<T: serde::Serialize>(value: T) -> Result<Value, AppError> {
    serde_json::to_value(value).map_err(|e| AppError::Internal(e.into()))
}

/// An API request body built from form fields.
fn body_of<T: DeserializeOwned>(value: Value) -> Result<Body<T>, AppError> {
    if let Some(field) = crate::routes::api::nul_field(&value, "") {
        return Err(crate::routes::api::nul_error(&field, "the value"));
    }
    let raw = serde_json::to_vec(&value).map_err(|e| AppError::Internal(e.into()))?;
    let parsed = serde_json::from_value(value).map_err(|e| AppError::invalid("form", "invalid_form", e.to_string()))?;
    Ok(Body { value: parsed, raw: raw.into() })
}

fn field<'a>(form: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    form.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// `2027-03-28T02:30` from a datetime-local input, with seconds as the API expects.
fn with_seconds(local: &str) -> String {
    if local.len() == 16 {
        format!("{local}:00")
    } else {
        local.to_string()
    }
}

fn agent_zone(user: &WebUser) -> Tz {
    parse_zone(&user.agent.time_zone).unwrap_or(chrono_tz::UTC)
}

/// An RFC 3339 instant shown in the agent's zone.
fn local_text(instant: &str, zone: Tz) -> String {
    DateTime::parse_from_rfc3339(instant)
        .map(|t| t.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| instant.to_string())
}

/// Adds `due_local_text` ("2027-03-28 03:30") to a promise object.
fn decorate_promise(promise: &mut Value) {
    if let Some(local) = promise.get("due_local").and_then(Value::as_str) {
        let text = local.replacen('T', " ", 1);
        promise["due_local_text"] = json!(text.get(..16).unwrap_or(&text));
    }
}

fn render(ws: &WebState, user: &WebUser, template: &str, status: StatusCode, context: Value) -> HttpResponse {
    match ws.pages.render(template, &user.agent.locale, context) {
        Ok(body) => html(status, body),
        Err(e) => error_page(ws, user, &e, "/agenda"),
    }
}

/// A page explaining a refusal (unknown id, another team's data, a stale form...).
fn error_page(ws: &WebState, user: &WebUser, err: &AppError, back: &str) -> HttpResponse {
    let problem = err.problem();
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut context = user.context("error", &problem.title);
    context["heading"] = json!(problem.title);
    context["detail"] = json!(problem.detail);
    context["back"] = json!(back);
    match ws.pages.render("error", &user.agent.locale, context) {
        Ok(body) => html(status, body),
        Err(_) => HttpResponse::build(status).content_type("text/plain; charset=utf-8").body(problem.detail),
    }
}

/// `GET /`.
pub async fn home(_user: WebUser) -> HttpResponse {
    see_other("/agenda")
}

/// Query of the agenda page.
#[derive(Debug, Deserialize)]
pub struct DateQuery {
    date: Option<String>,
}

/// `GET /agenda`: today's and overdue promises in the agent's zone, with each customer's local time, and the
/// prompts not yet acknowledged.
pub async fn agenda(
    state: web::Data<AppState>,
    ws: web::Data<WebState>,
    user: WebUser,
    query: web::Query<DateQuery>,
) -> HttpResponse {
    let result = async {
        let (caller, date, now) = (user.caller.clone(), query.date.clone(), state.clock.now());
        let (agenda, prompts) = state
            .db
            .read(move |conn| {
                let agenda = api_agents::agenda_of(conn, &caller, "me", date.as_deref(), now)?;
                let prompts = api_prompts::inbox_of(conn, &caller, "me", true, 20)?;
                Ok((agenda, prompts))
            })
            .await?;
        let prompts: Vec<Value> = prompts.iter().map(prompt_json).collect();
        Ok::<_, AppError>((context_of(agenda)?, Value::from(prompts)))
    }
    .await;
    let (mut agenda, prompts) = match result {
        Ok(pair) => pair,
        Err(e) => return error_page(&ws, &user, &e, "/agenda"),
    };
    let mut overdue = Vec::new();
    let mut today = Vec::new();
    if let Some(items) = agenda.get_mut("items").and_then(Value::as_array_mut) {
        for mut item in items.drain(..) {
            decorate_promise(&mut item["promise"]);
            if item["overdue"].as_bool() == Some(true) {
                overdue.push(item);
            } else {
                today.push(item);
            }
        }
    }
    let mut context = user.context("agenda", &ws.pages.text(&user.agent.locale, "agenda_title"));
    context["agenda"] = agenda;
    context["overdue"] = json!(overdue);
    context["today"] = json!(today);
    context["prompts"] = prompts;
    render(&ws, &user, "agenda", StatusCode::OK, context)
}

/// Query of the customer search.
#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
}

/// `GET /customers`.
pub async fn customers(
    state: web::Data<AppState>,
    ws: web::Data<WebState>,
    user: WebUser,
    query: web::Query<SearchQuery>,
) -> HttpResponse {
    let q = query.into_inner().q.filter(|q| !q.trim().is_empty());
    let (caller, search) = (user.caller.clone(), q.clone());
    let list = state
        .db
        .read(move |conn| {
            let query = api_customers::CustomerListQuery { q: search, limit: Some(100), cursor: None };
            context_of(api_customers::list_of(conn, &caller, query)?)
        })
        .await;
    let page = match list {
        Ok(page) => page,
        Err(e) => return error_page(&ws, &user, &e, "/customers"),
    };
    let mut context = user.context("customers", &ws.pages.text(&user.agent.locale, "customers_title"));
    context["q"] = json!(q);
    context["customers"] = page["items"].clone();
    render(&ws, &user, "customers", StatusCode::OK, context)
}

/// Query of pages that show a saved-confirmation.
#[derive(Debug, Deserialize)]
pub struct SavedQuery {
    saved: Option<String>,
}

/// `GET /customers/{id}`: the shopkeeper's card, open promises with their actions, the forms, the timeline.
pub async fn customer(
    state: web::Data<AppState>,
    ws: web::Data<WebState>,
    user: WebUser,
    id: web::Path<String>,
    query: web::Query<SavedQuery>,
) -> HttpResponse {
    let flash = query.saved.is_some().then(|| ws.pages.text(&user.agent.locale, "saved"));
    customer_page(&state, &ws, &user, &id, Vec::new(), flash, StatusCode::OK).await
}

async fn team_agents(state: &web::Data<AppState>, user: &WebUser) -> Result<Value, AppError> {
    let (caller, team) = (user.caller.clone(), user.agent.team_id.clone());
    state.db.read(move |conn| context_of(api_agents::list_of(conn, &caller, team)?)).await
}

async fn customer_page(
    state: &web::Data<AppState>,
    ws: &WebState,
    user: &WebUser,
    id: &str,
    errors: Vec<FieldError>,
    flash: Option<String>,
    status: StatusCode,
) -> HttpResponse {
    let zone = agent_zone(user);
    let result = async {
        let (caller, cid, now) = (user.caller.clone(), id.to_string(), state.clock.now());
        let (brief, timeline, all) = state
            .db
            .read(move |conn| {
                let brief = api_customers::brief_of(conn, &caller, &cid, now)?;
                let timeline = api_customers::timeline_of(
                    conn,
                    &caller,
                    &cid,
                    api_customers::TimelineQuery { limit: Some(100), cursor: None },
                )?;
                let all = api_promises::list_of(
                    conn,
                    &caller,
                    api_promises::PromiseListQuery {
                        owner: None,
                        customer: Some(cid.clone()),
                        kind: None,
                        status: None,
                        due_from: None,
                        due_to: None,
                        limit: Some(500),
                        cursor: None,
                    },
                )?;
                Ok((context_of(brief)?, context_of(timeline)?, context_of(all)?))
            })
            .await?;
        let agents = team_agents(state, user).await?;
        Ok::<_, AppError>((brief, timeline, all, agents))
    }
    .await;
    let (mut brief, timeline, all, agents) = match result {
        Ok(parts) => parts,
        Err(e) => return error_page(ws, user, &e, "/customers"),
    };
    let titles: HashMap<String, String> = all["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|p| Some((p["id"].as_str()?.to_string(), p["title"].as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let open: Vec<Value> = brief["open_promises"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|b| {
                    // The brief flattens the promise into the entry, beside who made it.
                    let mut p = b.clone();
                    decorate_promise(&mut p);
                    json!({ "promise": p })
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(list) = brief["recent_interactions"].as_array_mut() {
        for i in list {
            let text = local_text(i["occurred_at"].as_str().unwrap_or_default(), zone);
            i["occurred_at_text"] = json!(text);
        }
    }
    let entries: Vec<Value> = timeline["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|e| {
                    let mut e = e.clone();
                    e["at_text"] = json!(local_text(e["at"].as_str().unwrap_or_default(), zone));
                    if let Some(pid) = e["event"]["promise_id"].as_str() {
                        let title = titles.get(pid).cloned().unwrap_or_else(|| pid.to_string());
                        e["event"]["title"] = json!(title);
                    }
                    e
                })
                .collect()
        })
        .unwrap_or_default();
    let name = brief["customer"]["name"].as_str().unwrap_or_default().to_string();
    let mut context = user.context("customers", &name);
    context["brief"] = brief;
    context["open_promises"] = json!(open);
    context["timeline"] = json!(entries);
    context["agents"] = agents;
    context["back"] = json!(format!("/customers/{id}"));
    context["channels"] = json!(Channel::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>());
    context["outcomes"] = json!(Outcome::ALL.iter().map(|o| o.as_str()).collect::<Vec<_>>());
    if !errors.is_empty() {
        context["errors"] = json!(errors);
    }
    if let Some(text) = flash {
        context["flash"] = json!({ "kind": "ok", "text": text });
    }
    render(ws, user, "customer", status, context)
}

/// A wall-clock time the agent typed, in the agent's zone, as an RFC 3339 instant.
fn agent_instant(user: &WebUser, field_name: &str, local: &str) -> Result<String, AppError> {
    let parsed = NaiveDateTime::parse_from_str(&with_seconds(local), "%Y-%m-%dT%H:%M:%S").map_err(|_| {
        AppError::invalid(field_name, "invalid_local_time", format!("`{local}` is not a date and time"))
    })?;
    let resolved = resolve_local(parsed, agent_zone(user), Disambiguation::Compatible)
        .map_err(|e| AppError::invalid(field_name, e.code(), e.to_string()))?;
    Ok(api::instant_of(resolved.instant))
}

/// `POST /customers/{id}/interactions`: logs a contact (and keeps the promise it names when it is evidence).
pub async fn log_contact(
    state: web::Data<AppState>,
    ws: web::Data<WebState>,
    user: WebUser,
    id: web::Path<String>,
    form: Form,
) -> HttpResponse {
    let id = id.into_inner();
    let result = async {
        user.check_csrf(field(&form, "csrf"))?;
        let occurred_at = field(&form, "occurred_at").map(|t| agent_instant(&user, "occurred_at", t)).transpose()?;
        let body = body_of::<api_customers::NewInteractionBody>(json!({
            "channel": field(&form, "channel").unwrap_or_default(),
            "direction": field(&form, "direction").unwrap_or_default(),
            "outcome": field(&form, "outcome").unwrap_or_default(),
            "summary": field(&form, "summary").unwrap_or_default(),
            "occurred_at": occurred_at,
            "promise_id": field(&form, "promise_id"),
        }))?;
        let ctx = state.ctx();
        let input = api_customers::interaction_input(&body.value, ctx.now)?;
        let (caller, customer_id) = (user.caller.clone(), id.clone());
        state.db.write(move |conn| service::interactions::log(conn, &ctx, &caller, &customer_id, input)).await
    }
    .await;
    match result {
        Ok(_) => see_other(&format!("/customers/{id}?saved=1")),
        Err(e) => customer_page(&state, &ws, &user, &id, field_errors(&e), None, e.status_code()).await,
    }
}

/// `POST /customers/{id}/promises`: makes a promise.
pub async fn make_promise(
    state: web::Data<AppState>,
    ws: web::Data<WebState>,
    user: WebUser,
    id: web::Path<String>,
    form: Form,
) -> HttpResponse {
    let id = id.into_inner();
    let result = async {
        user.check_csrf(field(&form, "csrf"))?;
        let mut body = json!({
            "customer_id": id,
            "kind": field(&form, "kind").unwrap_or("callback"),
            "title": field(&form, "title").unwrap_or_default(),
            "details": field(&form, "details"),
            "due_local": field(&form, "due_local").map(with_seconds),
            "customer_requested": field(&form, "customer_requested") == Some("true"),
        });
        if let Some(cron) = field(&form, "recurrence") {
            body["recurrence"] = json!({ "cron": cron });
        }
        let body = body_of::<api_promises::NewPromiseBody>(body)?;
        let input = service::promises::NewPromise::try_from(&body.value)?;
        let (ctx, caller) = (state.ctx(), user.caller.clone());
        state
            .db
            .write(move |conn| {
                let prepared = service::promises::prepare(conn, &ctx, &caller, input)?;
                service::promises::make(conn, &ctx, &caller, prepared)
            })
            .await
    }
    .await;
    match result {
        Ok(created) => see_other(&format!("/customers/{id}?saved=1#promise-{}", created.id)),
        Err(e) => customer_page(&state, &ws, &user, &id, field_errors(&e), None, e.status_code()).await,
    }
}

/// `GET /promises/{id}`: the promise and its whole ledger.
pub async fn promise(
    state: web::Data<AppState>,
    ws: web::Data<WebState>,
    user: WebUser,
    id: web::Path<String>,
    query: web::Query<SavedQuery>,
) -> HttpResponse {
    let flash = query.saved.is_some().then(|| ws.pages.text(&user.agent.locale, "saved"));
    promise_page(&state, &ws, &user, &id, Vec::new(), flash, StatusCode::OK).await
}

async fn promise_page(
    state: &web::Data<AppState>,
    ws: &WebState,
    user: &WebUser,
    id: &str,
    errors: Vec<FieldError>,
    flash: Option<String>,
    status: StatusCode,
) -> HttpResponse {
    let zone = agent_zone(user);
    let result = async {
        let (caller, pid) = (user.caller.clone(), id.to_string());
        let (promise, customer) = state
            .db
            .read(move |conn| {
                let promise = api_promises::show_of(conn, &caller, &pid)?;
                let customer = service::access::visible_customer(conn, &caller, &promise.customer_id)?;
                Ok((context_of(promise)?, context_of(api_customers::CustomerOut::from(customer))?))
            })
            .await?;
        let agents = team_agents(state, user).await?;
        Ok::<_, AppError>((promise, customer, agents))
    }
    .await;
    let (mut promise, customer, agents) = match result {
        Ok(parts) => parts,
        Err(e) => return error_page(ws, user, &e, "/agenda"),
    };
    decorate_promise(&mut promise);
    let names: HashMap<String, String> = agents
        .as_array()
        .map(|list| {
            list.iter().filter_map(|a| Some((a["id"].as_str()?.to_string(), a["name"].as_str()?.to_string()))).collect()
        })
        .unwrap_or_default();
    let ledger: Vec<Value> = promise["ledger"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|e| {
                    let actor = e["actor_agent_id"]
                        .as_str()
                        .map(|a| names.get(a).cloned().unwrap_or_else(|| a.to_string()))
                        .unwrap_or_else(|| "Tendero".to_string());
                    json!({
                        "id": e["id"], "kind": e["kind"], "actor": actor,
                        "at_text": local_text(e["occurred_at"].as_str().unwrap_or_default(), zone),
                        "data_text": e["data"].to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let active = matches!(promise["status"].as_str(), Some("open") | Some("missed"));
    let due_agent_local = local_text(promise["due_at"].as_str().unwrap_or_default(), zone);
    let title = promise["title"].as_str().unwrap_or_default().to_string();
    let mut context = user.context("promise", &title);
    context["customer_name"] = customer["name"].clone();
    context["due_agent_local"] = json!(due_agent_local);
    context["ledger"] = json!(ledger);
    context["active"] = json!(active);
    context["agents"] = agents;
    context["back"] = json!(format!("/promises/{id}"));
    context["promise"] = promise;
    if !errors.is_empty() {
        context["errors"] = json!(errors);
    }
    if let Some(text) = flash {
        context["flash"] = json!({ "kind": "ok", "text": text });
    }
    render(ws, user, "promise", status, context)
}

/// `POST /promises/{id}/{action}`: reschedule, keep, cancel or hand over, then back to the page it came from.
pub async fn promise_action(
    state: web::Data<AppState>,
    ws: web::Data<WebState>,
    user: WebUser,
    path: web::Path<(String, String)>,
    form: Form,
) -> HttpResponse {
    let (id, action) = path.into_inner();
    let back = super::session::safe_next(field(&form, "back"));
    let version: Option<i32> = field(&form, "version").and_then(|v| v.parse().ok());
    let result = async {
        user.check_csrf(field(&form, "csrf"))?;
        let (ctx, caller, pid) = (state.ctx(), user.caller.clone(), id.clone());
        match action.as_str() {
            "keep" => {
                let body = body_of(json!({ "note": field(&form, "note"), "version": version }))?;
                let input = service::promises::KeepInput::try_from(&body.value)?;
                state.db.write(move |conn| service::promises::keep(conn, &ctx, &caller, &pid, input)).await
            }
            "reschedule" => {
                let body = body_of(json!({
                    "due_local": field(&form, "due_local").map(with_seconds),
                    "reason": field(&form, "reason").unwrap_or_default(),
                    "initiated_by": field(&form, "initiated_by").unwrap_or("agent"),
                    "version": version,
                }))?;
                let input = service::promises::RescheduleInput::try_from(&body.value)?;
                state.db.write(move |conn| Ok(service::promises::reschedule(conn, &ctx, &caller, &pid, input)?.0)).await
            }
            "cancel" => {
                let body = body_of(json!({
                    "reason": field(&form, "reason").unwrap_or_default(),
                    "initiated_by": field(&form, "initiated_by").unwrap_or("agent"),
                    "version": version,
                }))?;
                let input = service::promises::CancelInput::try_from(&body.value)?;
                state.db.write(move |conn| service::promises::cancel(conn, &ctx, &caller, &pid, input)).await
            }
            "handover" => {
                let body = body_of(json!({
                    "to_agent_id": field(&form, "to_agent_id").unwrap_or_default(),
                    "note": field(&form, "note").unwrap_or_default(),
                    "version": version,
                }))?;
                let input = service::promises::HandoverInput::try_from(&body.value)?;
                state.db.write(move |conn| service::promises::hand_over(conn, &ctx, &caller, &pid, input)).await
            }
            other => Err(AppError::NotFound { resource: "action", id: other.to_string() }),
        }
    }
    .await;
    match result {
        Ok(_) => {
            let sep = if back.contains('?') { '&' } else { '?' };
            see_other(&format!("{back}{sep}saved=1"))
        }
        Err(e) => promise_page(&state, &ws, &user, &id, field_errors(&e), None, e.status_code()).await,
    }
}

/// Query of the dashboard.
#[derive(Debug, Deserialize)]
pub struct DashboardQuery {
    from: Option<String>,
    to: Option<String>,
}

fn percent(rate: &Value) -> String {
    rate.as_f64().map(|r| format!("{:.0}%", r * 100.0)).unwrap_or_else(|| "—".into())
}

fn figures_row(row: &Value, key: &str, name: &str) -> Value {
    let mut out = row.clone();
    out["key"] = json!(key);
    out["name"] = json!(name);
    out["keep_rate_text"] = json!(percent(&row["keep_rate"]));
    out["continuity_text"] = json!(percent(&row["continuity"]));
    let minutes = |v: &Value| v.as_i64().map(|m| m.to_string()).unwrap_or_else(|| "—".into());
    out["lateness_text"] =
        json!(format!("{} / {}", minutes(&row["lateness_p50_minutes"]), minutes(&row["lateness_p90_minutes"])));
    out
}

/// `GET /dashboard`: keep rate per agent and team for a period, the weekly trend, overdue and broken lists.
pub async fn dashboard(
    state: web::Data<AppState>,
    ws: web::Data<WebState>,
    user: WebUser,
    query: web::Query<DashboardQuery>,
) -> HttpResponse {
    let now = state.clock.now();
    let q = query.into_inner();
    let base = api_metrics::MetricsQuery { from: q.from.clone(), to: q.to.clone(), ..Default::default() };
    let result = async {
        let by = |group: &str| {
            let mut query = base.clone();
            query.group_by = Some(group.to_string());
            api_metrics::plan(&user.caller, &query, now)
        };
        let plans = [by("agent")?, by("team")?, by("week")?];
        let reports = state.db.read(move |conn| api_metrics::run_many(conn, &plans)).await?;
        let list = |status: &str| api_promises::PromiseListQuery {
            owner: None,
            customer: None,
            kind: None,
            status: Some(status.to_string()),
            due_from: None,
            due_to: None,
            limit: Some(50),
            cursor: None,
        };
        let (caller, missed, broken) = (user.caller.clone(), list("missed"), list("broken"));
        let (overdue, broken) = state
            .db
            .read(move |conn| {
                let overdue = api_promises::list_of(conn, &caller, missed)?;
                let broken = api_promises::list_of(conn, &caller, broken)?;
                Ok((context_of(overdue)?, context_of(broken)?))
            })
            .await?;
        Ok::<_, AppError>((reports, overdue, broken))
    }
    .await;
    let (reports, overdue, broken) = match result {
        Ok(parts) => parts,
        Err(e) => return error_page(&ws, &user, &e, "/dashboard"),
    };
    let [per_agent, per_team, per_week] = [&reports[0], &reports[1], &reports[2]];
    let agents: Vec<Value> = per_agent
        .rows
        .iter()
        .map(|r| {
            let v = serde_json::to_value(r).unwrap_or_default();
            let key = r.agent_id.clone().unwrap_or_default();
            figures_row(&v, &key, r.agent_name.as_deref().unwrap_or(&key))
        })
        .collect();
    let teams: Vec<Value> = per_team
        .rows
        .iter()
        .map(|r| {
            let v = serde_json::to_value(r).unwrap_or_default();
            let key = r.team_id.clone().unwrap_or_default();
            figures_row(&v, &key, r.team_name.as_deref().filter(|n| !n.is_empty()).unwrap_or("—"))
        })
        .collect();
    let points: Vec<WeekPoint> = per_week
        .rows
        .iter()
        .map(|r| WeekPoint {
            label: r.week.clone().unwrap_or_default(),
            due: r.figures.due,
            keep_rate: r.figures.keep_rate,
        })
        .collect();
    let locale = user.agent.locale.clone();
    let totals = serde_json::to_value(&per_agent.totals).unwrap_or_default();
    let mut totals = figures_row(&totals, "total", "");
    totals["base"] = json!(per_agent.totals.due - per_agent.totals.cancelled);
    let decorate = |list: &Value| -> Value {
        let mut items = list["items"].clone();
        if let Some(arr) = items.as_array_mut() {
            arr.iter_mut().for_each(decorate_promise);
        }
        items
    };
    let mut context = user.context("dashboard", &ws.pages.text(&locale, "dashboard_title"));
    context["from"] = json!(per_agent.from);
    context["to"] = json!(per_agent.to);
    context["totals"] = totals;
    context["per_agent"] = json!(agents);
    context["per_team"] = json!(teams);
    context["chart"] = json!(weekly_trend(&points, &ws.pages.text(&locale, "weekly_trend")));
    context["overdue"] = decorate(&overdue);
    context["broken"] = decorate(&broken);
    render(&ws, &user, "dashboard", StatusCode::OK, context)
}

/// `GET /dashboard.csv`: the per-agent figures of the period as CSV (the API's format).
pub async fn dashboard_csv(
    state: web::Data<AppState>,
    ws: web::Data<WebState>,
    user: WebUser,
    query: web::Query<DashboardQuery>,
) -> HttpResponse {
    let q = query.into_inner();
    let query =
        api_metrics::MetricsQuery { from: q.from, to: q.to, group_by: Some("agent".into()), ..Default::default() };
    let plan = match api_metrics::plan(&user.caller, &query, state.clock.now()) {
        Ok(plan) => plan,
        Err(e) => return error_page(&ws, &user, &e, "/dashboard"),
    };
    match state.db.read(move |conn| api_metrics::run(conn, &plan)).await {
        Ok(report) => HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                actix_web::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"tendero-promises-{}-{}.csv\"", report.from, report.to),
            ))
            .body(api_metrics::to_csv(&report)),
        Err(e) => error_page(&ws, &user, &e, "/dashboard"),
    }
}
