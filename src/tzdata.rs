//! Customer time is the truth: a promise's instant is derived from its wall-clock time and zone. When the IANA
//! time-zone rules compiled into this binary differ from those the stored instants were derived with, start-up
//! re-derives every open future promise and records a `recomputed` event for each one that moved.

use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::clock::{from_ms, to_ms};
use crate::db::Db;
use crate::domain::promise::event::TzdataChange;
use crate::domain::promise::{lifecycle, NewDue};
use crate::domain::time::{local_offset_at, parse_zone, resolve_local, still_matches, tzdata_version};
use crate::error::AppError;
use crate::repo::{customers, promises, service_state};
use crate::service::apply::{self, Outbound};
use crate::service::planning::current_of;
use crate::service::Ctx;
use crate::settings::Tolerances;
use crate::views::Views;

const KEY: &str = "tzdata_version";

/// What the pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecomputeReport {
    /// The version recorded before (None on a new database).
    pub previous: Option<String>,
    /// Promises looked at.
    pub checked: u64,
    /// Promises whose instant changed.
    pub recomputed: u64,
}

/// Runs the pass when the recorded tzdata version differs from the compiled-in one; otherwise only reads one row,
/// so a normal restart stays fast however many promises there are.
pub fn recompute_if_changed(
    db: &Db,
    tolerances: &Tolerances,
    views: &Arc<Views>,
    now: DateTime<Utc>,
) -> Result<RecomputeReport, AppError> {
    let current = tzdata_version();
    let previous = db.read_blocking(|conn| Ok(service_state::get(conn, KEY)?))?;
    let mut report = RecomputeReport { previous: previous.clone(), ..Default::default() };
    if previous.as_deref() == Some(current) {
        return Ok(report);
    }
    let mut after_id = String::new();
    loop {
        let page = db.read_blocking(|conn| Ok(promises::active_future_page(conn, to_ms(now), &after_id, 1000)?))?;
        let Some(last) = page.last() else { break };
        after_id = last.id.clone();
        for promise in page {
            report.checked += 1;
            let (Ok(zone), Ok(local), Ok(how)) = (
                parse_zone(&promise.time_zone),
                NaiveDateTime::parse_from_str(&promise.due_local, "%Y-%m-%dT%H:%M:%S"),
                promise.disambiguation.parse(),
            ) else {
                tracing::warn!(promise = %promise.id, "stored due time does not parse; left as it is");
                continue;
            };
            if still_matches(from_ms(promise.due_at), local, zone, how) {
                continue;
            }
            // A time that became impossible under the new rules is resolved the compatible way rather than left
            // pointing at an instant the customer never agreed to.
            let Ok(resolved) =
                resolve_local(local, zone, how).or_else(|_| resolve_local(local, zone, Default::default()))
            else {
                continue;
            };
            let now_ms = to_ms(now);
            db.write_blocking(|conn| {
                let Some(fresh) = promises::find(conn, &promise.id)? else { return Ok(()) };
                let Some(customer) = customers::find(conn, &fresh.customer_id)? else { return Ok(()) };
                let to = NewDue {
                    due_at: resolved.instant,
                    due_local: fresh.due_local.clone(),
                    time_zone: fresh.time_zone.clone(),
                    disambiguation: fresh.disambiguation.clone(),
                    offset_seconds: local_offset_at(resolved.instant, zone),
                };
                let tzdata = TzdataChange { from: previous.clone(), to: current.to_string() };
                let change =
                    lifecycle::recompute(&current_of(&fresh, tolerances)?, to, fresh.due_offset_seconds, tzdata);
                let ctx = Ctx { tolerances: tolerances.clone(), views: views.clone(), now: from_ms(now_ms) };
                apply::apply(conn, &ctx, Outbound::Read, &fresh, &customer, change, None)?;
                Ok(())
            })?;
            report.recomputed += 1;
        }
    }
    db.write_blocking(|conn| Ok(service_state::set(conn, KEY, current, to_ms(now))?))?;
    Ok(report)
}
