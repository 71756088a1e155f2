//! The metric rollups: written in the transaction of every ledger change, read by the metrics API, the
//! dashboard and Prometheus, and recomputable from the promise rows and the ledger alone.

use std::collections::BTreeMap;

use diesel::prelude::*;
use serde_json::Value;

use crate::db::schema::{interactions, metric_contacts, metric_days, metric_lateness, promise_events, promises};
use crate::db::DbConn;
use crate::domain::metrics::{self, week_of, Counts, Delta, Facts, Key};
use crate::repo::promises::Promise;

/// The facts metrics read from a promise row.
pub fn facts(p: &Promise) -> Facts<'_> {
    Facts {
        kind: &p.kind,
        team_id: p.team_id.as_deref(),
        accountable_agent_id: &p.accountable_agent_id,
        due_local: &p.due_local,
        due_at: p.due_at,
        status: &p.status,
        kept_at: p.kept_at,
        kept_on_time: p.kept_on_time,
        late_since: p.late_since,
    }
}

/// Adds deltas to the rollups: one upsert per row (`INSERT ... ON CONFLICT DO UPDATE`, on both backends), so
/// concurrent writers on PostgreSQL add to the same row instead of racing to create it.
pub fn apply(conn: &mut DbConn, deltas: &[Delta]) -> QueryResult<()> {
    use diesel::sql_types::{BigInt, Integer, Text};
    let b = conn.backend();
    let m: Vec<String> = (1..=14).map(|n| b.marker(n)).collect();
    for d in deltas {
        let k = &d.key;
        if !d.counts.is_zero() {
            let c = d.counts;
            let sql = format!(
                "INSERT INTO metric_days (day, week, team_id, agent_id, kind, pending, missed_open, kept_on_time, \
                 kept_late, broken, cancelled, renegotiated_by_customer, renegotiated_by_agent, handovers) \
                 VALUES ({}) ON CONFLICT (day, team_id, agent_id, kind) DO UPDATE SET \
                 pending = metric_days.pending + excluded.pending, \
                 missed_open = metric_days.missed_open + excluded.missed_open, \
                 kept_on_time = metric_days.kept_on_time + excluded.kept_on_time, \
                 kept_late = metric_days.kept_late + excluded.kept_late, \
                 broken = metric_days.broken + excluded.broken, \
                 cancelled = metric_days.cancelled + excluded.cancelled, \
                 renegotiated_by_customer = metric_days.renegotiated_by_customer + excluded.renegotiated_by_customer, \
                 renegotiated_by_agent = metric_days.renegotiated_by_agent + excluded.renegotiated_by_agent, \
                 handovers = metric_days.handovers + excluded.handovers",
                m.join(", ")
            );
            diesel::sql_query(sql)
                .bind::<Integer, _>(k.day)
                .bind::<Integer, _>(week_of(k.day))
                .bind::<Text, _>(&k.team_id)
                .bind::<Text, _>(&k.agent_id)
                .bind::<Text, _>(&k.kind)
                .bind::<BigInt, _>(c.pending)
                .bind::<BigInt, _>(c.missed_open)
                .bind::<BigInt, _>(c.kept_on_time)
                .bind::<BigInt, _>(c.kept_late)
                .bind::<BigInt, _>(c.broken)
                .bind::<BigInt, _>(c.cancelled)
                .bind::<BigInt, _>(c.renegotiated_by_customer)
                .bind::<BigInt, _>(c.renegotiated_by_agent)
                .bind::<BigInt, _>(c.handovers)
                .execute(conn)?;
        }
        if let Some((minutes, n)) = d.lateness {
            let sql = format!(
                "INSERT INTO metric_lateness (day, week, team_id, agent_id, kind, minutes, count) VALUES ({}) \
                 ON CONFLICT (day, team_id, agent_id, kind, minutes) DO UPDATE SET \
                 count = metric_lateness.count + excluded.count",
                m[..7].join(", ")
            );
            diesel::sql_query(sql)
                .bind::<Integer, _>(k.day)
                .bind::<Integer, _>(week_of(k.day))
                .bind::<Text, _>(&k.team_id)
                .bind::<Text, _>(&k.agent_id)
                .bind::<Text, _>(&k.kind)
                .bind::<BigInt, _>(minutes)
                .bind::<BigInt, _>(n)
                .execute(conn)?;
        }
    }
    Ok(())
}

fn insert_day(conn: &mut DbConn, k: &Key, c: &Counts) -> QueryResult<()> {
    apply(conn, &[Delta { key: k.clone(), counts: *c, lateness: None }])
}

/// One outbound contact: counted for the customer's owner (and team) on the customer-local date.
pub fn add_contact(conn: &mut DbConn, day: i32, team_id: &str, owner_id: &str, by_owner: bool) -> QueryResult<()> {
    add_contacts(conn, day, team_id, owner_id, 1, i64::from(by_owner))
}

fn add_contacts(conn: &mut DbConn, day: i32, team: &str, owner: &str, outbound: i64, by: i64) -> QueryResult<()> {
    use diesel::sql_types::{BigInt, Integer, Text};
    let b = conn.backend();
    let m: Vec<String> = (1..=6).map(|n| b.marker(n)).collect();
    let sql = format!(
        "INSERT INTO metric_contacts (day, week, team_id, agent_id, outbound, by_owner) VALUES ({}) \
         ON CONFLICT (day, team_id, agent_id) DO UPDATE SET \
         outbound = metric_contacts.outbound + excluded.outbound, by_owner = metric_contacts.by_owner + excluded.by_owner",
        m.join(", ")
    );
    diesel::sql_query(sql)
        .bind::<Integer, _>(day)
        .bind::<Integer, _>(week_of(day))
        .bind::<Text, _>(team)
        .bind::<Text, _>(owner)
        .bind::<BigInt, _>(outbound)
        .bind::<BigInt, _>(by)
        .execute(conn)?;
    Ok(())
}

/// All rollups in a comparable form: counters per key, late keeps per (key, minutes), contacts per
/// (day, team, owner). Zero entries are left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rollups {
    /// metric_days.
    pub days: BTreeMap<Key, Counts>,
    /// metric_lateness.
    pub lateness: BTreeMap<(Key, i64), i64>,
    /// metric_contacts: (outbound, by_owner).
    pub contacts: BTreeMap<(i32, String, String), (i64, i64)>,
}

impl Rollups {
    fn add(&mut self, d: Delta) {
        *self.days.entry(d.key.clone()).or_default() += d.counts;
        if let Some((m, n)) = d.lateness {
            *self.lateness.entry((d.key, m)).or_default() += n;
        }
    }

    fn without_zeros(mut self) -> Self {
        self.days.retain(|_, c| !c.is_zero());
        self.lateness.retain(|_, n| *n != 0);
        self.contacts.retain(|_, (o, b)| *o != 0 || *b != 0);
        self
    }
}

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
    for (day, team_id, agent_id, kind, p, mo, kot, kl, b, c, rc, ra, h) in rows {
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
        out.days.insert(Key { day, team_id, agent_id, kind }, counts);
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
    Ok(out.without_zeros())
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
        for (_, event, data, team, kind) in &page {
            let data: Value = serde_json::from_str(data).unwrap_or(Value::Null);
            if let Some(d) = metrics::event_effects(event, &data, team.as_deref(), kind) {
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
            let entry = out.contacts.entry((day, team.unwrap_or_default(), owner.clone())).or_default();
            entry.0 += 1;
            entry.1 += i64::from(agent.as_deref() == Some(owner.as_str()));
        }
    }
    Ok(out.without_zeros())
}

/// Replaces the stored rollups with a recomputation (after a restore, or when upgrading a database that was
/// written before the rollups existed).
pub fn rebuild(conn: &mut DbConn) -> QueryResult<()> {
    let fresh = recompute(conn)?;
    diesel::delete(metric_days::table).execute(conn)?;
    diesel::delete(metric_lateness::table).execute(conn)?;
    diesel::delete(metric_contacts::table).execute(conn)?;
    for (key, counts) in fresh.days {
        insert_day(conn, &key, &counts)?;
    }
    let late: Vec<Delta> = fresh
        .lateness
        .into_iter()
        .map(|((key, m), n)| Delta { key, counts: Counts::default(), lateness: Some((m, n)) })
        .collect();
    apply(conn, &late)?;
    for ((day, team, agent), (o, b)) in fresh.contacts {
        add_contacts(conn, day, &team, &agent, o, b)?;
    }
    Ok(())
}

/// What a report groups by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Grouping {
    /// Per accountable agent.
    pub agent: bool,
    /// Per team.
    pub team: bool,
    /// Per kind.
    pub kind: bool,
    /// Per ISO week (of the customer-local due date).
    pub week: bool,
}

/// A report's period (day numbers, `to` exclusive) and filters (`None` = all).
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// First day.
    pub from_day: i32,
    /// Day after the last.
    pub to_day: i32,
    /// Only this team.
    pub team_id: Option<String>,
    /// Only this agent.
    pub agent_id: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
}

/// The key of one report group: the grouped columns are filled, the rest are `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey {
    /// Agent, when grouped by agent.
    pub agent_id: Option<String>,
    /// Team, when grouped by team (`""` = no team).
    pub team_id: Option<String>,
    /// Kind, when grouped by kind.
    pub kind: Option<String>,
    /// Monday's day number, when grouped by week.
    pub week: Option<i32>,
}

/// One group's summed counters, lateness histogram and (when defined) contacts.
#[derive(Clone, Debug, Default)]
pub struct GroupTotals {
    /// Summed counters.
    pub counts: Counts,
    /// `(minutes, count)`.
    pub lateness: Vec<(i64, i64)>,
    /// `(outbound, by_owner)`; `None` when grouped or filtered by kind (contacts have no kind).
    pub contacts: Option<(i64, i64)>,
}

#[derive(QueryableByName)]
struct SumRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    g_agent: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    g_team: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    g_kind: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    g_week: i32,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    a: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    b: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    c: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    d: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    e: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    f: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    g: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    h: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    i: i64,
}

impl SumRow {
    fn key(&self, by: Grouping) -> GroupKey {
        GroupKey {
            agent_id: by.agent.then(|| self.g_agent.clone()),
            team_id: by.team.then(|| self.g_team.clone()),
            kind: by.kind.then(|| self.g_kind.clone()),
            week: by.week.then_some(self.g_week),
        }
    }
}

fn marker(conn: &DbConn, n: usize) -> String {
    conn.backend().marker(n)
}

/// Runs one grouped query over a rollup table. `sums` are aggregate expressions (up to nine, padded with 0).
fn grouped(
    conn: &mut DbConn,
    table: &str,
    by: Grouping,
    sel: &Selection,
    sums: &[&str],
    extra_group: Option<&str>,
    has_kind: bool,
) -> QueryResult<Vec<SumRow>> {
    let col = |on: bool, expr: &str, blank: &str, alias: &str| {
        if on {
            format!("{expr} AS {alias}")
        } else {
            format!("{blank} AS {alias}")
        }
    };
    let mut select = vec![
        col(by.agent, "agent_id", "''", "g_agent"),
        col(by.team, "team_id", "''", "g_team"),
        col(by.kind && has_kind, "kind", "''", "g_kind"),
        col(by.week, "week", "0", "g_week"),
    ];
    let letters = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for (n, letter) in letters.iter().enumerate() {
        match sums.get(n) {
            Some(expr) => select.push(format!("CAST(COALESCE({expr}, 0) AS BIGINT) AS {letter}")),
            None => select.push(format!("CAST(0 AS BIGINT) AS {letter}")),
        }
    }
    let mut group: Vec<&str> = Vec::new();
    if by.agent {
        group.push("agent_id");
    }
    if by.team {
        group.push("team_id");
    }
    if by.kind && has_kind {
        group.push("kind");
    }
    if by.week {
        group.push("week");
    }
    group.extend(extra_group);
    let m: Vec<String> = (1..=8).map(|n| marker(conn, n)).collect();
    let kind_filter = if has_kind { format!(" AND ({} = '' OR kind = {})", m[6], m[7]) } else { String::new() };
    let mut sql = format!(
        "SELECT {} FROM {table} WHERE day >= {} AND day < {} AND ({} = '' OR team_id = {}) AND ({} = '' OR agent_id = {}){kind_filter}",
        select.join(", "),
        m[0],
        m[1],
        m[2],
        m[3],
        m[4],
        m[5],
    );
    if !group.is_empty() {
        sql.push_str(&format!(" GROUP BY {}", group.join(", ")));
    }
    use diesel::sql_types::{Integer, Text};
    let team = sel.team_id.clone().unwrap_or_default();
    let agent = sel.agent_id.clone().unwrap_or_default();
    let kind = sel.kind.clone().unwrap_or_default();
    let query = diesel::sql_query(sql)
        .bind::<Integer, _>(sel.from_day)
        .bind::<Integer, _>(sel.to_day)
        .bind::<Text, _>(team.clone())
        .bind::<Text, _>(team)
        .bind::<Text, _>(agent.clone())
        .bind::<Text, _>(agent);
    if has_kind {
        query.bind::<Text, _>(kind.clone()).bind::<Text, _>(kind).load(conn)
    } else {
        query.load(conn)
    }
}

/// Sums the rollups of a selection into groups.
pub fn report(conn: &mut DbConn, by: Grouping, sel: &Selection) -> QueryResult<BTreeMap<GroupKey, GroupTotals>> {
    let mut out: BTreeMap<GroupKey, GroupTotals> = BTreeMap::new();
    let sums = [
        "SUM(pending)",
        "SUM(missed_open)",
        "SUM(kept_on_time)",
        "SUM(kept_late)",
        "SUM(broken)",
        "SUM(cancelled)",
        "SUM(renegotiated_by_customer)",
        "SUM(renegotiated_by_agent)",
        "SUM(handovers)",
    ];
    for r in grouped(conn, "metric_days", by, sel, &sums, None, true)? {
        let counts = Counts {
            pending: r.a,
            missed_open: r.b,
            kept_on_time: r.c,
            kept_late: r.d,
            broken: r.e,
            cancelled: r.f,
            renegotiated_by_customer: r.g,
            renegotiated_by_agent: r.h,
            handovers: r.i,
        };
        out.entry(r.key(by)).or_default().counts = counts;
    }
    for r in grouped(conn, "metric_lateness", by, sel, &["MIN(minutes)", "SUM(count)"], Some("minutes"), true)? {
        out.entry(r.key(by)).or_default().lateness.push((r.a, r.b));
    }
    // Contacts have no kind: continuity is only defined when the report is neither grouped nor filtered by kind.
    if !by.kind && sel.kind.is_none() {
        for r in grouped(conn, "metric_contacts", by, sel, &["SUM(outbound)", "SUM(by_owner)"], None, false)? {
            out.entry(r.key(by)).or_default().contacts = Some((r.a, r.b));
        }
        for totals in out.values_mut() {
            totals.contacts.get_or_insert((0, 0));
        }
    }
    Ok(out)
}

/// Current totals per (team, kind) over all days, for Prometheus: open (pending + missed_open), overdue
/// (missed_open), kept (on time + late) and broken.
pub fn totals_by_team_kind(conn: &mut DbConn) -> QueryResult<Vec<(String, String, Counts)>> {
    let by = Grouping { team: true, kind: true, ..Default::default() };
    let sel = Selection { from_day: i32::MIN, to_day: i32::MAX, ..Default::default() };
    Ok(report(conn, by, &sel)?
        .into_iter()
        .map(|(k, t)| (k.team_id.unwrap_or_default(), k.kind.unwrap_or_default(), t.counts))
        .collect())
}

/// The version of the rollup definitions the stored rollups were built with; a database written before the
/// rollups existed (or with other definitions) is rebuilt once at start.
const ROLLUPS_VERSION: &str = "1";

/// Rebuilds the rollups at start when they were built with other definitions, or never. Returns whether it did.
pub fn ensure_current(conn: &mut DbConn, now_ms: i64) -> QueryResult<bool> {
    if crate::repo::service_state::get(conn, "metric_rollups")?.as_deref() == Some(ROLLUPS_VERSION) {
        return Ok(false);
    }
    rebuild(conn)?;
    crate::repo::service_state::set(conn, "metric_rollups", ROLLUPS_VERSION, now_ms)?;
    Ok(true)
}
