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

mod agenda;
mod customers;
mod dashboard;
mod promises;

pub use agenda::*;
pub use customers::*;
pub use dashboard::*;
pub use promises::*;

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
