//! Reading the stored rollups whole and recomputing them from the promise rows and the ledger alone: the check
//! that they agree, the rebuild after a restore, and the one-time rebuild at start.

use super::*;

/// id, agent, owner at the time, team at the time, local date.
type ContactRow = (String, Option<String>, Option<String>, Option<String>, Option<String>);

type DayRow = (i32, String, String, String, i64, i64, i64, i64, i64, i64, i64, i64, i64);

/// The rollups as stored.
pub fn stored(conn: &mut DbConn) -> QueryResult<Rollups> {
    let mut out = Rollups::default();
    let rows: Vec<DayRow> = metric_days::table
        .select((
            metric_days::day,
            metric_days::team_id,
            metric_days::agent_id,
            metric_days::kind,
            metric_days::pending,
            metric_days::missed_open,
            metric_days::kept_on_time,
            metric_days::kept_late,
            metric_days::broken,
            metric_days::cancelled,
            metric_days::renegotiated_by_customer,
            metric_days::renegotiated_by_agent,
            metric_days::handovers,
        ))
        .load(conn)?;
    for row in rows {
        let (key, counts) = day_row(row);
        out.days.insert(key, counts);
    }
    let late: Vec<(i32, String, String, String, i64, i64)> = metric_lateness::table
        .select((
            metric_lateness::day,
            metric_lateness::team_id,
            metric_lateness::agent_id,
            metric_lateness::kind,
            metric_lateness::minutes,
            metric_lateness::count,
        ))
        .load(conn)?;
    for (day, team_id, agent_id, kind, minutes, n) in late {
        out.lateness.insert((Key { day, team_id, agent_id, kind }, minutes), n);
    }
    let contacts: Vec<(i32, String, String, i64, i64)> = metric_contacts::table
        .select((
            metric_contacts::day,
            metric_contacts::team_id,
            metric_contacts::agent_id,
            metric_contacts::outbound,
            metric_contacts::by_owner,
        ))
        .load(conn)?;
    for (day, team, agent, o, b) in contacts {
        out.contacts.insert((day, team, agent), (o, b));
    }
    let weeks: Vec<DayRow> = metric_weeks::table
        .select((
            metric_weeks::week,
            metric_weeks::team_id,
            metric_weeks::agent_id,
            metric_weeks::kind,
            metric_weeks::pending,
            metric_weeks::missed_open,
            metric_weeks::kept_on_time,
            metric_weeks::kept_late,
            metric_weeks::broken,
            metric_weeks::cancelled,
            metric_weeks::renegotiated_by_customer,
            metric_weeks::renegotiated_by_agent,
            metric_weeks::handovers,
        ))
        .load(conn)?;
    for row in weeks {
        let (key, counts) = day_row(row);
        out.weeks.insert(key, counts);
    }
    let late: Vec<(i32, String, String, String, i64, i64)> = metric_lateness_weeks::table
        .select((
            metric_lateness_weeks::week,
            metric_lateness_weeks::team_id,
            metric_lateness_weeks::agent_id,
            metric_lateness_weeks::kind,
            metric_lateness_weeks::minutes,
            metric_lateness_weeks::count,
        ))
        .load(conn)?;
    for (day, team_id, agent_id, kind, minutes, n) in late {
        out.lateness_weeks.insert((Key { day, team_id, agent_id, kind }, minutes), n);
    }
    let contacts: Vec<(i32, String, String, i64, i64)> = metric_contacts_weeks::table
        .select((
            metric_contacts_weeks::week,
            metric_contacts_weeks::team_id,
            metric_contacts_weeks::agent_id,
            metric_contacts_weeks::outbound,
            metric_contacts_weeks::by_owner,
        ))
        .load(conn)?;
    for (week, team, agent, o, b) in contacts {
        out.contacts_weeks.insert((week, team, agent), (o, b));
    }
    Ok(out.without_zeros())
}

/// A counters row of metric_days or metric_weeks as its key and counts.
fn day_row((day, team_id, agent_id, kind, p, mo, kot, kl, b, c, rc, ra, h): DayRow) -> (Key, Counts) {
    let counts = Counts {
        pending: p,
        missed_open: mo,
        kept_on_time: kot,
        kept_late: kl,
        broken: b,
        cancelled: c,
        renegotiated_by_customer: rc,
        renegotiated_by_agent: ra,
        handovers: h,
    };
    (Key { day, team_id, agent_id, kind }, counts)
}

/// The rollups recomputed from scratch: every promise row's current obligation, every ledger event's effects,
/// every outbound interaction. Reads in pages so memory stays bounded by the rollups, not the ledger.
pub fn recompute(conn: &mut DbConn) -> QueryResult<Rollups> {
    let mut out = Rollups::default();
    let mut after = String::new();
    loop {
        let page: Vec<Promise> = promises::table
            .filter(promises::id.gt(&after))
            .order(promises::id)
            .limit(5000)
            .select(Promise::as_select())
            .load(conn)?;
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        for p in &page {
            if let Some(d) = metrics::obligation(&facts(p)) {
                out.add(d);
            }
        }
    }
    let mut after_id = 0i64;
    loop {
        let page: Vec<(i64, String, String, Option<String>, String)> = promise_events::table
            .inner_join(promises::table)
            .filter(promise_events::id.gt(after_id))
            .filter(promise_events::kind.eq_any(["kept", "missed", "rescheduled", "handed_over"]))
            .order(promise_events::id)
            .limit(5000)
            .select((promise_events::id, promise_events::kind, promise_events::data, promises::team_id, promises::kind))
            .load(conn)?;
        let Some(last) = page.last() else { break };
        after_id = last.0;
        for (id, event, data, team, kind) in &page {
            // A row that does not read is an error naming it: a recomputation that skipped it would disagree
            // with the rollups the writes kept.
            let event = LedgerEvent::read(&id.to_string(), event, data)
                .map_err(|e| diesel::result::Error::DeserializationError(Box::new(e)))?;
            if let Some(d) = metrics::event_effects(&event, team.as_deref(), kind) {
                out.add(d);
            }
        }
    }
    let mut after = String::new();
    loop {
        let page: Vec<ContactRow> = interactions::table
            .filter(interactions::id.gt(&after))
            .filter(interactions::direction.eq("outbound"))
            .order(interactions::id)
            .limit(5000)
            .select((
                interactions::id,
                interactions::agent_id,
                interactions::owner_agent_id,
                interactions::team_id,
                interactions::local_date,
            ))
            .load(conn)?;
        let Some(last) = page.last() else { break };
        after = last.0.clone();
        for (_, agent, owner, team, date) in page {
            let (Some(owner), Some(day)) = (owner, date.as_deref().and_then(metrics::day_of_local)) else { continue };
            let by_owner = agent.as_deref() == Some(owner.as_str());
            out.add_contact(day, team.unwrap_or_default(), owner, by_owner);
        }
    }
    Ok(out.with_weeks().without_zeros())
}

/// Replaces the stored rollups with a recomputation (after a restore, or when upgrading a database that was
/// written before the rollups existed).
///
/// Runs outside the writer's groups (at start, from the command line): inside one, the changes held back for the
/// group's earlier jobs would be counted twice, once in the recomputation and once when the group writes them.
pub fn rebuild(tx: &mut Tx<'_>) -> QueryResult<()> {
    debug_assert!(tx.group().rollups.is_none(), "rollups rebuilt inside a writer's group");
    let conn: &mut DbConn = tx;
    let fresh = recompute(conn)?;
    for table in [
        "metric_days",
        "metric_lateness",
        "metric_contacts",
        "metric_weeks",
        "metric_lateness_weeks",
        "metric_contacts_weeks",
    ] {
        diesel::sql_query(format!("DELETE FROM {table}")).execute(conn)?;
    }
    write(conn, &fresh)
}

/// The version of the rollup definitions the stored rollups were built with; a database written before the
/// rollups existed (or with other definitions) is rebuilt once at start.
const ROLLUPS_VERSION: &str = "1";

/// Rebuilds the rollups at start when they were built with other definitions, or never. Returns whether it did.
pub fn ensure_current(conn: &mut Tx<'_>, now_ms: i64) -> QueryResult<bool> {
    // Instances started together on one PostgreSQL database would each find the version missing and rebuild at
    // once, and the second to insert the rebuilt rows would fail on the first one's keys (and stop at start-up).
    // The first takes this transaction-scoped lock; the others wait for it, then find the version written. (On
    // SQLite the write transaction is IMMEDIATE, so start-ups are one at a time already.)
    if conn.backend() == crate::db::Backend::Postgres {
        diesel::connection::SimpleConnection::batch_execute(&mut **conn, "SELECT pg_advisory_xact_lock(7270001)")?;
    }
    if crate::repo::service_state::get(conn, "metric_rollups")?.as_deref() == Some(ROLLUPS_VERSION) {
        return Ok(false);
    }
    rebuild(conn)?;
    crate::repo::service_state::set(conn, "metric_rollups", ROLLUPS_VERSION, now_ms)?;
    Ok(true)
}
