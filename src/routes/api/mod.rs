//! The JSON API (DESIGN.md section 8) and what every handler shares: the body extractor that names the field a
//! bad body gets wrong, cursors, instant formatting, input checks, and idempotent writes.

pub mod agents;
pub mod calendar;
pub mod customers;
pub mod metrics;
pub mod openapi;
pub mod promises;
pub mod prompts;
pub mod teams;
pub mod webhooks;

use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::auth::Caller;
use crate::db::DbConn;
use crate::domain::time::{parse_zone, WeeklyWindow};
use crate::error::{AppError, FieldError};
use crate::repo;

/// Registers every API route under `/api/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .route("/openapi.json", web::get().to(openapi::document))
            .configure(teams::configure)
            .configure(prompts::configure)
            .configure(agents::configure)
            .configure(calendar::configure)
            .configure(webhooks::configure)
            .configure(customers::configure)
            .configure(promises::configure)
            .configure(metrics::configure),
    );
}

/// The schema of a weekly window in a request body (a customer's contact window, an agent's shift): the text
/// form `mon-sat 09:00-21:00` or the JSON form `{"mon": [["09:00", "17:00"]]}`; null or absent for the default.
pub fn window_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String))
        .item(ObjectBuilder::new().schema_type(Type::Object))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some(
            "A weekly window: text (`mon-sat 09:00-21:00`) or JSON (`{\"mon\": [[\"09:00\", \"17:00\"]]}`); \
             absent for the default from settings",
        ))
        .examples([serde_json::json!("mon-sat 09:00-21:00")])
        .into()
}

/// A JSON request body, parsed with the path of the first bad field, plus the raw bytes (for idempotency).
pub struct Body<T> {
    /// The parsed value.
    pub value: T,
    /// The bytes as received.
    pub raw: web::Bytes,
}

/// The largest body accepted, set from settings at start.
#[derive(Clone, Copy)]
pub struct BodyLimit(pub usize);

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = AppError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let limit = req.app_data::<BodyLimit>().map(|l| l.0).unwrap_or(65_536);
        let declared = req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if declared.is_some_and(|n| n > limit) {
                return Err(AppError::PayloadTooLarge { limit });
            }
            let mut raw = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk =
                    chunk.map_err(|e| AppError::malformed("body", format!("the body could not be read: {e}")))?;
                if raw.len() + chunk.len() > limit {
                    return Err(AppError::PayloadTooLarge { limit });
                }
                raw.extend_from_slice(&chunk);
            }
            let raw = raw.freeze();
            if raw.is_empty() {
                return Err(AppError::malformed("body", "a JSON body is required"));
            }
            // serde_json's default recursion limit (128) is what stops a deeply nested body from overflowing
            // the stack, so it stays on.
            let mut deserializer = serde_json::Deserializer::from_slice(&raw);
            let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
                let path = e.path().to_string();
                let field = if path == "." { "body".to_string() } else { path };
                let inner = e.into_inner();
                let field = missing_field(&inner.to_string()).unwrap_or(field);
                AppError::malformed(field, format!("the body is not valid: {inner}"))
            })?;
            deserializer
                .end()
                .map_err(|e| AppError::malformed("body", format!("the body has data after the JSON value: {e}")))?;
            // A NUL can only come as the escape \u0000 (serde_json refuses raw control characters in strings), so
            // the bytes are searched for it before the value is walked for the field that carries it.
            if raw.windows(6).any(|w| w == b"\\u0000") {
                let found = serde_json::from_slice::<serde_json::Value>(&raw).ok().and_then(|v| nul_field(&v, ""));
                if let Some(field) = found {
                    return Err(nul_error(if field.is_empty() { "body" } else { &field }, "the value"));
                }
            }
            Ok(Body { value, raw })
        })
    }
}

/// The path (`facts[2]`, `recurrence.cron`) of the first string or key holding a NUL character, if any.
pub fn nul_field(value: &serde_json::Value, at: &str) -> Option<String> {
    match value {
        serde_json::Value::String(text) => text.contains('\0').then(|| at.to_string()),
        serde_json::Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, item)| nul_field(item, &format!("{at}[{i}]")))
        }
        serde_json::Value::Object(members) => members.iter().find_map(|(key, member)| {
            let name = key.replace('\0', "\\u0000");
            let path = if at.is_empty() { name } else { format!("{at}.{name}") };
            if key.contains('\0') {
                Some(path)
            } else {
                nul_field(member, &path)
            }
        }),
        _ => None,
    }
}

/// A 400 for a NUL character. PostgreSQL cannot store or even compare text holding one, and no field of this API
/// has a use for it, so it is refused on every backend before it reaches the database.
pub fn nul_error(field: &str, what: &str) -> AppError {
    let message = format!("{what} of `{field}` contains a NUL character (\\u0000 or %00), which is not allowed");
    AppError::BadRequest { detail: message.clone(), errors: vec![FieldError::new(field, "invalid_character", message)] }
}

/// Refuses a request whose path or query string carries a NUL character (`%00`), naming the query parameter.
/// Applied to every route (API and pages) when the app is built.
pub fn nul_in_url(uri: &actix_web::http::Uri) -> Option<AppError> {
    if uri.path().contains("%00") {
        return Some(nul_error("path", "the path"));
    }
    let pair = uri.query()?.split('&').find(|pair| pair.contains("%00"))?;
    let name = pair.split('=').next().filter(|name| !name.is_empty() && !name.contains("%00")).unwrap_or("query");
    Some(nul_error(name, "the query parameter"))
}

fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_string())
}

/// Turns query-string parse failures into problem+json naming the parameter.
pub fn query_error(err: actix_web::error::QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let message = err.to_string();
    let field = message.split('`').nth(1).unwrap_or("query").to_string();
    AppError::malformed(field, format!("the query string is not valid: {message}")).into()
}

/// RFC 3339 in UTC, e.g. `2026-03-17T10:00:00Z`.
pub fn instant(ms: i64) -> String {
    crate::clock::rfc3339(ms)
}

/// RFC 3339 of a chrono instant.
pub fn instant_of(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Parses an RFC 3339 instant from the request, naming the field on failure.
pub fn parse_instant(field: &str, text: &str) -> Result<DateTime<Utc>, AppError> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).map_err(|e| {
        AppError::invalid(
            field,
            "invalid_instant",
            format!("`{text}` is not an RFC 3339 instant like 2026-03-17T10:00:00Z: {e}"),
        )
    })
}

/// An opaque pagination cursor.
pub fn encode_cursor(parts: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(parts)
}

/// Reads a cursor produced by [`encode_cursor`].
pub fn decode_cursor(text: &str) -> Result<String, AppError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| AppError::invalid("cursor", "invalid_cursor", "the cursor is not one this API gave out"))
}

/// The page size: 50 by default, at most 500.
pub fn page_limit(limit: Option<i64>) -> Result<i64, AppError> {
    match limit {
        None => Ok(50),
        Some(n) if (1..=500).contains(&n) => Ok(n),
        Some(n) => Err(AppError::invalid("limit", "out_of_range", format!("limit {n} must be between 1 and 500"))),
    }
}

/// Collects field errors so one answer names every problem of a body.
#[derive(Default)]
pub struct Checks {
    errors: Vec<FieldError>,
}

impl Checks {
    /// Records a problem.
    pub fn add(&mut self, field: &str, code: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, code, message));
    }

    /// A required, trimmed text of at most `max` characters.
    pub fn text(&mut self, field: &str, value: &str, max: usize) -> String {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            self.add(field, "required", format!("{field} must not be empty"));
        } else if trimmed.chars().count() > max {
            self.add(field, "too_long", format!("{field} is longer than {max} characters"));
        }
        trimmed.to_string()
    }

    /// An optional text of at most `max` characters; empty becomes `None`.
    pub fn optional_text(&mut self, field: &str, value: Option<&str>, max: usize) -> Option<String> {
        let trimmed = value.map(str::trim).filter(|v| !v.is_empty())?;
        if trimmed.chars().count() > max {
            self.add(field, "too_long", format!("{field} is longer than {max} characters"));
        }
        Some(trimmed.to_string())
    }

    /// An IANA zone name, canonicalised.
    pub fn zone(&mut self, field: &str, value: &str) -> String {
        match parse_zone(value) {
            Ok(zone) => zone.name().to_string(),
            Err(e) => {
                self.add(field, e.code(), e.to_string());
                value.to_string()
            }
        }
    }

    /// A BCP 47 locale such as `es-ES` or `en`.
    pub fn locale(&mut self, field: &str, value: &str) -> String {
        let ok = {
            let mut parts = value.split('-');
            let language = parts.next().unwrap_or_default();
            (2..=3).contains(&language.len())
                && language.chars().all(|c| c.is_ascii_alphabetic())
                && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
        };
        if !ok {
            self.add(field, "invalid_locale", format!("`{value}` is not a BCP 47 locale like es-ES or en-US"));
        }
        value.to_string()
    }

    /// A weekly window in text or JSON form, returned in canonical text form.
    pub fn window(&mut self, field: &str, value: &serde_json::Value) -> String {
        match WeeklyWindow::from_json(value) {
            Ok(window) => window.to_text(),
            Err(e) => {
                self.add(field, e.code(), e.to_string());
                String::new()
            }
        }
    }

    /// A plausible email address.
    pub fn email(&mut self, field: &str, value: &str) -> String {
        let value = value.trim();
        let ok = value.len() <= 254
            && value
                .split_once('@')
                .is_some_and(|(user, host)| !user.is_empty() && host.contains('.') && !host.starts_with('.'))
            && !value.chars().any(char::is_whitespace);
        if !ok {
            self.add(field, "invalid_email", format!("`{value}` is not an email address"));
        }
        value.to_lowercase()
    }

    /// A closed vocabulary value.
    pub fn vocab<T: std::str::FromStr<Err = String>>(&mut self, field: &str, value: &str) -> Option<T> {
        match value.parse::<T>() {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, "invalid_value", format!("{field}: {e}"));
                None
            }
        }
    }

    /// Fails with every recorded problem, or succeeds when there is none.
    pub fn finish(self) -> Result<(), AppError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(AppError::invalid_fields(self.errors))
        }
    }
}

/// Runs a write in one transaction, honouring `Idempotency-Key`: the same key with the same body replays the
/// first answer; the same key with another body is refused (422). The answer is stored in the transaction that
/// made the change, so a retry can never apply it twice.
pub async fn idempotent_write<F>(
    state: &AppState,
    caller: &Caller,
    req: &HttpRequest,
    raw: &[u8],
    status: StatusCode,
    write: F,
) -> Result<HttpResponse, AppError>
where
    F: FnOnce(&mut crate::db::Tx<'_>) -> Result<serde_json::Value, AppError> + Send + 'static,
{
    let (key, request_hash) = idempotency_of(req, raw)?;
    let agent_id = caller.agent_id.clone();
    let now = state.clock.now().timestamp_millis();
    let (status, body, replayed) = state
        .db
        .write(move |conn| {
            if let Some(key) = &key {
                if let Some((status, body)) = stored_answer(conn, &agent_id, key, &request_hash)? {
                    return Ok((status, Answer::Text(body), true));
                }
            }
            let value = write(conn)?;
            let Some(key) = key else {
                // Without a key nothing stores the answer: it is serialised after the commit, off the writer.
                return Ok((status.as_u16(), Answer::Value(value), false));
            };
            let body = serde_json::to_string(&value).map_err(|e| AppError::Internal(e.into()))?;
            repo::idempotency::insert(
                conn,
                &repo::idempotency::StoredAnswer {
                    agent_id,
                    idempotency_key: key,
                    request_hash,
                    response_status: i32::from(status.as_u16()),
                    response_body: body.clone(),
                    created_at: now,
                    updated_at: now,
                },
            )?;
            Ok((status.as_u16(), Answer::Text(body), false))
        })
        .await?;
    let body = match body {
        Answer::Text(text) => text,
        Answer::Value(value) => serde_json::to_string(&value).map_err(|e| AppError::Internal(e.into()))?,
    };
    Ok(answer(status, body, replayed))
}

fn answer(status: u16, body: String, replayed: bool) -> HttpResponse {
    let mut response = HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
    if replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    response.content_type("application/json").body(body)
}

/// The request's `Idempotency-Key` (checked) and the hash of what it asks (method, path, body).
fn idempotency_of(req: &HttpRequest, raw: &[u8]) -> Result<(Option<String>, String), AppError> {
    let key = match req.headers().get("Idempotency-Key") {
        None => None,
        Some(v) => match v.to_str() {
            Ok(k) if !k.trim().is_empty() && k.len() <= 255 => Some(k.trim().to_string()),
            _ => {
                return Err(AppError::malformed(
                    "Idempotency-Key",
                    "the Idempotency-Key header must be 1 to 255 visible characters",
                ))
            }
        },
    };
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str());
    hasher.update(b" ");
    hasher.update(req.path());
    hasher.update(b"\n");
    hasher.update(raw);
    Ok((key, hex::encode(hasher.finalize())))
}

/// The answer stored for `key` when it was used before with the same request; 422 when with another one.
fn stored_answer(
    conn: &mut DbConn,
    agent_id: &str,
    key: &str,
    request_hash: &str,
) -> Result<Option<(u16, String)>, AppError> {
    let Some(stored) = repo::idempotency::find(conn, agent_id, key)? else { return Ok(None) };
    if stored.request_hash != request_hash {
        return Err(AppError::invalid(
            "Idempotency-Key",
            "idempotency_key_reused",
            "this Idempotency-Key was already used with a different request",
        ));
    }
    Ok(Some((stored.response_status as u16, stored.response_body)))
}

/// For writes that read and plan before [`idempotent_write`]: the stored answer of a retried request, read
/// before that work, so a retry replays the first answer even if what it read has changed since. The write
/// checks again, for a retry racing the first attempt.
pub async fn idempotent_replay(
    state: &AppState,
    caller: &Caller,
    req: &HttpRequest,
    raw: &[u8],
) -> Result<Option<HttpResponse>, AppError> {
    let (Some(key), request_hash) = idempotency_of(req, raw)? else { return Ok(None) };
    let agent_id = caller.agent_id.clone();
    let stored = state.db.read(move |conn| stored_answer(conn, &agent_id, &key, &request_hash)).await?;
    Ok(stored.map(|(status, body)| answer(status, body, true)))
}

/// A write's answer: already serialised (stored for its Idempotency-Key, or replayed), or still a value.
enum Answer {
    Text(String),
    Value(serde_json::Value),
}

/// Serialises a response value inside a write closure.
pub fn to_json<T: serde::Serialize>(value: T) -> Result<serde_json::Value, AppError> {
    serde_json::to_value(value).map_err(|e| AppError::Internal(e.into()))
}
