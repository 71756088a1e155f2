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

mod brief;
mod contacts;
mod read;
mod timeline;
mod write;

pub use brief::*;
pub use contacts::*;
pub use read::*;
pub use timeline::*;
pub use write::*;
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
