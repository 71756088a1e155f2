//! The application layer: one function per use case, between the HTTP side (API handlers, web pages) and the
//! domain. A use case checks access ([`access`]), asks the domain's pure rules for a change or a refusal
//! (`domain::promise`), and writes it through the one apply path ([`apply`]): version, row, ledger event,
//! rollups, timers and outbound events in the caller's transaction. The API, the pages, the scheduler, the
//! tzdata recomputation and the demo all go through here; nothing here imports the HTTP side.

pub mod access;
pub mod apply;
pub mod events;
pub mod interactions;
pub mod planning;
pub mod promises;
pub mod prompts;
pub mod timing;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::settings::Tolerances;
use crate::views::Views;

/// What every use case is given: the configured rules, the texts, and the moment it happens at.
#[derive(Clone)]
pub struct Ctx {
    /// Default tolerances for judging promises.
    pub tolerances: Tolerances,
    /// The text templates (webhook payload texts, hand-over notes).
    pub views: Arc<Views>,
    /// "Now", read once per use case so every part of it agrees.
    pub now: DateTime<Utc>,
}

impl Ctx {
    /// The moment in milliseconds, as rows store it.
    pub fn now_ms(&self) -> i64 {
        self.now.timestamp_millis()
    }
}
