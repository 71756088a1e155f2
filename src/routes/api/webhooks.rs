//! `/webhooks`: subscriptions (admin), their deliveries, and redelivery of a dead or past message.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{instant, Body, Checks};
use crate::app::AppState;
use crate::auth::Caller;
use crate::channels::webhook::generate_secret;
use crate::clock::new_id;
use crate::domain::vocab::Role;
use crate::error::{AppError, Problem};
use crate::repo::sends::{self, OutboundSend};
use crate::repo::subscriptions::{self, Subscription};
use crate::service::events::EVENT_TYPES;

/// Routes of this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/webhooks", web::post().to(create))
        .route("/webhooks", web::get().to(list))
        .route("/webhooks/{id}", web::delete().to(delete))
        .route("/webhooks/{id}/deliveries", web::get().to(deliveries))
        .route("/webhooks/deliveries/{id}/redeliver", web::post().to(redeliver));
}

/// Body of `POST /webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubscriptionBody {
    /// Where to POST events (http or https).
    #[schema(example = "https://crm.example.com/hooks/tendero")]
    pub url: String,
    /// Event types; empty or absent means all.
    #[schema(example = json!(["promise.created", "promise.kept"]))]
    pub events: Option<Vec<String>>,
}

/// A subscription. `secret` is present only in the answer that created it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionOut {
    /// Opaque id.
    pub id: String,
    /// Target URL.
    pub url: String,
    /// Event types (empty: all).
    pub events: Vec<String>,
    /// Deleted subscriptions are inactive.
    pub active: bool,
    /// The signing secret (`whsec_...`), shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

fn subscription_out(s: Subscription, with_secret: bool) -> SubscriptionOut {
    SubscriptionOut {
        events: serde_json::from_str(&s.events).unwrap_or_default(),
        secret: with_secret.then_some(s.secret),
        created_at: instant(s.created_at),
        id: s.id,
        url: s.url,
        active: s.active,
    }
}

/// One message sent (or being sent) to a subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageOut {
    /// The `webhook-id` the receiver sees.
    pub id: String,
    /// Event type.
    pub event_type: String,
    /// pending | delivered | dead.
    pub status: String,
    /// Attempts made.
    pub attempts: i32,
    /// Last HTTP status.
    pub last_status: Option<i32>,
    /// Last error.
    pub last_error: Option<String>,
    /// RFC 3339.
    pub next_attempt_at: String,
    /// RFC 3339.
    pub delivered_at: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

impl From<OutboundSend> for MessageOut {
    fn from(m: OutboundSend) -> Self {
        Self {
            next_attempt_at: instant(m.next_attempt_at),
            delivered_at: m.delivered_at.map(instant),
            created_at: instant(m.created_at),
            id: m.id,
            event_type: m.event_type,
            status: m.status,
            attempts: m.attempts,
            last_status: m.last_status,
            last_error: m.last_error,
        }
    }
}

/// Subscribes a URL to events (admin). The answer carries the signing secret, once.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", request_body = NewSubscriptionBody,
    responses((status = 201, body = SubscriptionOut), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: Body<NewSubscriptionBody>,
) -> Result<HttpResponse, AppError> {
    caller.require(Role::Admin)?;
    let b = body.value;
    let mut checks = Checks::default();
    let url = checks.text("url", &b.url, 2000);
    match reqwest::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        _ => checks.add("url", "invalid_url", format!("`{url}` is not an http(s) URL")),
    }
    let events = b.events.unwrap_or_default();
    for (i, e) in events.iter().enumerate() {
        if !EVENT_TYPES.contains(&e.as_str()) {
            checks.add(
                &format!("events[{i}]"),
                "unknown_event",
                format!("`{e}` is not one of {}", EVENT_TYPES.join(", ")),
            );
        }
    }
    checks.finish()?;
    let now = state.clock.now().timestamp_millis();
    let sub = Subscription {
        id: new_id("whk"),
        url,
        events: serde_json::to_string(&events).unwrap_or_else(|_| "[]".into()),
        secret: generate_secret(),
        active: true,
        created_at: now,
        updated_at: now,
    };
    let saved = sub.clone();
    state.db.write(move |conn| Ok(subscriptions::insert(conn, &saved)?)).await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(subscription_out(sub, true)))
}

/// Lists subscriptions (admin), without secrets.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks",
    responses((status = 200, body = Vec<SubscriptionOut>), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, AppError> {
    caller.require(Role::Admin)?;
    let rows = state.db.read(|conn| Ok(subscriptions::read_active(conn)?)).await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(|s| subscription_out(s, false)).collect::<Vec<_>>()))
}

/// Deletes (deactivates) a subscription (admin); its delivery history stays readable.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    caller.require(Role::Admin)?;
    let now = state.clock.now().timestamp_millis();
    let found = state.db.write(move |conn| Ok(subscriptions::deactivate(conn, &id, now)?)).await?;
    if !found {
        return Err(AppError::not_found("webhook subscription", ""));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Messages of a subscription, newest first (admin): pending, delivered and dead.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = Vec<MessageOut>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn deliveries(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    caller.require(Role::Admin)?;
    let rows = state
        .db
        .read(move |conn| {
            subscriptions::find(conn, &id)?.ok_or_else(|| AppError::not_found("webhook subscription", id.as_str()))?;
            Ok(sends::of_target(conn, &id, 200)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(MessageOut::from).collect::<Vec<_>>()))
}

/// Sends a message again now, with the same `webhook-id` (admin).
#[utoipa::path(post, path = "/api/v1/webhooks/deliveries/{id}/redeliver", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 202, body = MessageOut), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn redeliver(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    caller.require(Role::Admin)?;
    let now = state.clock.now().timestamp_millis();
    let message = state
        .db
        .write(move |conn| {
            let message = sends::find(conn, &id)?.filter(|m| m.channel == "webhook");
            let message = message.ok_or_else(|| AppError::not_found("webhook delivery", id.as_str()))?;
            sends::requeue(conn, &message.id, now)?;
            Ok(sends::find(conn, &message.id)?.unwrap_or(message))
        })
        .await?;
    Ok(HttpResponse::build(StatusCode::ACCEPTED).json(MessageOut::from(message)))
}
