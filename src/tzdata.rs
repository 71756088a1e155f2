//! Customer time is the truth: a promise's instant is derived from its wall-clock time and zone. When the IANA
//! time-zone rules compiled into this binary differ from those the stored instants were derived with, start-up
//! re-derives every open future promise and records a `recomputed` event for each one that moved.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::json;

use crate::clock::{from_ms, to_ms};
use crate::db::Db;
use crate::domain::time::{local_offset_at, parse_zone, resolve_local, still_matches, tzdata_version};
use crate::domain::vocab::EventKind;
use crate::error::AppError;
use crate::ledger;
use crate::outbox;
use crate::repo::{promises, service_state};
use crate::settings::Tolerances;

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
pub fn recompute_if_changed(db: &Db, tolerances: &Tolerances, now: DateTime<Utc>) -> Result<RecomputeReport, AppError> {
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
                let mut changed = fresh.clone();
                changed.due_at = to_ms(resolved.instant);
                changed.due_offset_seconds = local_offset_at(resolved.instant, zone);
                let data = json!({
                    "from": { "due_at": crate::routes::api::instant(fresh.due_at), "offset_seconds": fresh.due_offset_seconds },
                    "to": { "due_at": crate::routes::api::instant(changed.due_at), "offset_seconds": changed.due_offset_seconds },
                    "due_local": fresh.due_local, "time_zone": fresh.time_zone,
                    "tzdata": { "from": previous, "to": current },
                });
                ledger::save(conn, &fresh, &mut changed, now_ms, None, vec![(EventKind::Recomputed, data)])?;
                outbox::schedule(conn, &changed, tolerances, now_ms)
            })?;
            report.recomputed += 1;
        }
    }
    db.write_blocking(|conn| Ok(service_state::set(conn, KEY, current, to_ms(now))?))?;
    Ok(report)
}
