//! The metric rollups: written in the transaction of every ledger change, read by the metrics API, the
//! dashboard and Prometheus, and recomputable from the promise rows and the ledger alone.

use std::collections::BTreeMap;

use crate::domain::promise::LedgerEvent;
use diesel::prelude::*;

use crate::db::schema::{
    interactions, metric_contacts, metric_contacts_weeks, metric_days, metric_lateness, metric_lateness_weeks,
    metric_weeks, promise_events, promises,
};
use crate::db::{DbConn, Tx};
use crate::domain::metrics::{self, week_of, Counts, Delta, Facts, Key, RollupChange};
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

/// A key column's value in an [`AddTo`].
enum KeyValue<'a> {
    Big(i64),
    Text(&'a str),
}

/// The period a rollup row counts: a day, stored with its week (the weekly reads filter day rows by week), or a
/// week, by its Monday's day number.
enum Period {
    Day { day: i32, week: i32 },
    Week(i32),
}

impl Period {
    fn day(day: i32) -> Self {
        Period::Day { day, week: week_of(day) }
    }

    /// The period's first column, the one that belongs to the row's unique key.
    fn key_column(&self) -> &'static str {
        match self {
            Period::Day { .. } => "day",
            Period::Week(_) => "week",
        }
    }
}

/// `INSERT INTO table (period, keys, adds) VALUES (...) ON CONFLICT (period's key column, keys) DO UPDATE SET
/// add = table.add + excluded.add, ...`: adds to a rollup row, creating it if missing, so that concurrent writers
/// on PostgreSQL add to the same row instead of racing to create it. Every rollup table is keyed by its period's
/// day or week and the `keys` columns.
///
/// Written out rather than built with diesel's `on_conflict().do_update()`, which diesel 2.3 never keeps in the
/// connection's statement cache: the rollups of every ledger change were parsed and planned again on every call
/// (see BENCHMARKS.md). This statement's text depends only on the table, so the cache, keyed by the text, prepares
/// it once per connection.
struct AddTo<'a> {
    table: &'static str,
    period: Period,
    /// The rest of the row's unique key.
    keys: &'a [(&'static str, KeyValue<'a>)],
    /// The summed columns and what to add to each.
    adds: &'a [(&'static str, i64)],
}

impl<DB> diesel::query_builder::QueryFragment<DB> for AddTo<'_>
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<diesel::sql_types::Integer>
        + diesel::sql_types::HasSqlType<diesel::sql_types::BigInt>
        + diesel::sql_types::HasSqlType<diesel::sql_types::Text>,
    i32: diesel::serialize::ToSql<diesel::sql_types::Integer, DB>,
    i64: diesel::serialize::ToSql<diesel::sql_types::BigInt, DB>,
    str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, DB>) -> QueryResult<()> {
        use diesel::sql_types::{BigInt, Integer, Text};
        let keys = self.keys.iter().map(|(name, _)| *name);
        let adds = self.adds.iter().map(|(name, _)| *name);
        out.push_sql("INSERT INTO ");
        out.push_identifier(self.table)?;
        out.push_sql(" (");
        out.push_sql(match self.period {
            Period::Day { .. } => "day, week",
            Period::Week(_) => "week",
        });
        for name in keys.clone().chain(adds.clone()) {
            out.push_sql(", ");
            out.push_identifier(name)?;
        }
        out.push_sql(") VALUES (");
        match &self.period {
            Period::Day { day, week } => {
                out.push_bind_param::<Integer, i32>(day)?;
                out.push_sql(", ");
                out.push_bind_param::<Integer, i32>(week)?;
            }
            Period::Week(week) => out.push_bind_param::<Integer, i32>(week)?,
        }
        for (_, value) in self.keys {
            out.push_sql(", ");
            match value {
                KeyValue::Big(v) => out.push_bind_param::<BigInt, i64>(v)?,
                KeyValue::Text(v) => out.push_bind_param::<Text, str>(v)?,
            }
        }
        for (_, n) in self.adds {
            out.push_sql(", ");
            out.push_bind_param::<BigInt, i64>(n)?;
        }
        out.push_sql(") ON CONFLICT (");
        out.push_sql(self.period.key_column());
        for name in keys {
            out.push_sql(", ");
            out.push_identifier(name)?;
        }
        out.push_sql(") DO UPDATE SET ");
        for (i, name) in adds.enumerate() {
            if i > 0 {
                out.push_sql(", ");
            }
            out.push_identifier(name)?;
            out.push_sql(" = ");
            out.push_identifier(self.table)?;
            out.push_sql(".");
            out.push_identifier(name)?;
            out.push_sql(" + excluded.");
            out.push_identifier(name)?;
        }
        Ok(())
    }
}

impl diesel::query_builder::QueryId for AddTo<'_> {
    type QueryId = ();
    // Not static: the statement cache then keys it by its text, which differs per table.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Conn> RunQueryDsl<Conn> for AddTo<'_> {}

impl AddTo<'_> {
    fn run(self, conn: &mut DbConn) -> QueryResult<usize> {
        crate::repo::per_backend!(conn, |db| self.execute(db))
    }
}

/// Adds deltas to the rollups, at both grains (the day and its week).
///
/// Inside a writer's group the deltas are held back on the transaction context and written once, summed, before
/// the group commits ([`write_held`]); in a transaction of its own they are written now.
pub fn apply(tx: &mut Tx<'_>, deltas: &[Delta]) -> QueryResult<()> {
    record(tx, deltas.iter().cloned().map(RollupChange::Delta))
}

/// One outbound contact: counted for the customer's owner (and team) on the customer-local date.
pub fn add_contact(tx: &mut Tx<'_>, day: i32, team_id: &str, owner_id: &str, by_owner: bool) -> QueryResult<()> {
    let contact = RollupChange::Contact { day, team: team_id.to_string(), owner: owner_id.to_string(), by: by_owner };
    record(tx, std::iter::once(contact))
}

fn record(tx: &mut Tx<'_>, changes: impl Iterator<Item = RollupChange>) -> QueryResult<()> {
    let (conn, group) = tx.parts();
    match group.rollups.as_mut() {
        Some(held) => {
            held.extend(changes);
            Ok(())
        }
        None => write(conn, &summed(changes)),
    }
}

/// The rollup rows a list of changes adds to, summed per row at both grains.
fn summed(changes: impl Iterator<Item = RollupChange>) -> Rollups {
    let mut out = Rollups::default();
    for change in changes {
        match change {
            RollupChange::Delta(d) => out.add(d),
            RollupChange::Contact { day, team, owner, by } => out.add_contact(day, team, owner, by),
        }
    }
    out.with_weeks().without_zeros()
}

/// Writes the rollup changes a group-commit writer's jobs held back, summed per row, table by table in key order,
/// just before the group commits.
///
/// The rollups are the rows every ledger write touches (one per agent, day and kind, and per week): written job by
/// job, they cost two upserts per change and, on PostgreSQL, hold those rows locked for the rest of the group, so
/// writers queue behind each other and two groups touching two agents in opposite orders deadlock. Summed, a group
/// of creates for a few agents writes a few rows; written table by table in key order, every group locks rows in
/// the same order, so groups cannot deadlock on them. A job that fails loses its changes with its savepoint.
pub fn write_held(conn: &mut DbConn, held: Vec<RollupChange>) -> QueryResult<()> {
    write(conn, &summed(held.into_iter()))
}

/// Adds `rows` to the stored rollups: one upsert per row, table by table, each in key order (see
/// [`write_held`] for why the order matters).
fn write(conn: &mut DbConn, rows: &Rollups) -> QueryResult<()> {
    write_grain(conn, &DAYS, &rows.days, &rows.lateness, &rows.contacts)?;
    write_grain(conn, &WEEKS, &rows.weeks, &rows.lateness_weeks, &rows.contacts_weeks)
}

/// The three rollup tables of one grain, and the period a row's day number stands for in them.
struct Grain {
    period: fn(i32) -> Period,
    counters: &'static str,
    lateness: &'static str,
    contacts: &'static str,
}

const DAYS: Grain =
    Grain { period: Period::day, counters: "metric_days", lateness: "metric_lateness", contacts: "metric_contacts" };

const WEEKS: Grain = Grain {
    period: Period::Week,
    counters: "metric_weeks",
    lateness: "metric_lateness_weeks",
    contacts: "metric_contacts_weeks",
};

/// [`write`] for one grain: counters, late keeps, contacts, each in key order.
fn write_grain(
    conn: &mut DbConn,
    grain: &Grain,
    counters: &BTreeMap<Key, Counts>,
    lateness: &BTreeMap<(Key, i64), i64>,
    contacts: &BTreeMap<(i32, String, String), (i64, i64)>,
) -> QueryResult<()> {
    use KeyValue::{Big, Text};
    for (k, c) in counters {
        let keys = [("team_id", Text(&k.team_id)), ("agent_id", Text(&k.agent_id)), ("kind", Text(&k.kind))];
        AddTo { table: grain.counters, period: (grain.period)(k.day), keys: &keys, adds: &c.columns() }.run(conn)?;
    }
    for ((k, minutes), n) in lateness {
        let keys = [
            ("team_id", Text(&k.team_id)),
            ("agent_id", Text(&k.agent_id)),
            ("kind", Text(&k.kind)),
            ("minutes", Big(*minutes)),
        ];
        AddTo { table: grain.lateness, period: (grain.period)(k.day), keys: &keys, adds: &[("count", *n)] }
            .run(conn)?;
    }
    for ((day, team, owner), (outbound, by_owner)) in contacts {
        let keys = [("team_id", Text(team)), ("agent_id", Text(owner))];
        let adds = [("outbound", *outbound), ("by_owner", *by_owner)];
        AddTo { table: grain.contacts, period: (grain.period)(*day), keys: &keys, adds: &adds }.run(conn)?;
    }
    Ok(())
}

/// All rollups in a comparable form: counters per key, late keeps per (key, minutes), contacts per
/// (day, team, owner), and the same three at the week grain (keyed by the week's Monday in place of the day).
/// Zero entries are left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rollups {
    /// metric_days.
    pub days: BTreeMap<Key, Counts>,
    /// metric_lateness.
    pub lateness: BTreeMap<(Key, i64), i64>,
    /// metric_contacts: (outbound, by_owner).
    pub contacts: BTreeMap<(i32, String, String), (i64, i64)>,
    /// metric_weeks.
    pub weeks: BTreeMap<Key, Counts>,
    /// metric_lateness_weeks.
    pub lateness_weeks: BTreeMap<(Key, i64), i64>,
    /// metric_contacts_weeks.
    pub contacts_weeks: BTreeMap<(i32, String, String), (i64, i64)>,
}

impl Rollups {
    fn add(&mut self, d: Delta) {
        *self.days.entry(d.key.clone()).or_default() += d.counts;
        if let Some((m, n)) = d.lateness {
            *self.lateness.entry((d.key, m)).or_default() += n;
        }
    }

    /// One outbound contact on `day` for the customer's owner (and team), and whether the owner made it.
    fn add_contact(&mut self, day: i32, team: String, owner: String, by_owner: bool) {
        let entry = self.contacts.entry((day, team, owner)).or_default();
        entry.0 += 1;
        entry.1 += i64::from(by_owner);
    }

    /// The week grain summed from the day grain: what the week tables must hold.
    fn with_weeks(mut self) -> Self {
        let week = |k: &Key| Key { day: week_of(k.day), ..k.clone() };
        for (k, c) in &self.days {
            *self.weeks.entry(week(k)).or_default() += *c;
        }
        for ((k, m), n) in &self.lateness {
            *self.lateness_weeks.entry((week(k), *m)).or_default() += n;
        }
        for ((day, team, agent), (o, b)) in &self.contacts {
            let entry = self.contacts_weeks.entry((week_of(*day), team.clone(), agent.clone())).or_default();
            entry.0 += o;
            entry.1 += b;
        }
        self
    }

    fn without_zeros(mut self) -> Self {
        self.days.retain(|_, c| !c.is_zero());
        self.lateness.retain(|_, n| *n != 0);
        self.contacts.retain(|_, (o, b)| *o != 0 || *b != 0);
        self.weeks.retain(|_, c| !c.is_zero());
        self.lateness_weeks.retain(|_, n| *n != 0);
        self.contacts_weeks.retain(|_, (o, b)| *o != 0 || *b != 0);
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

/// A rollup at its two grains: the daily table and the weekly one, the columns a report reads from both (after
/// `week`), and whether it has a kind.
struct Rollup {
    days: &'static str,
    weeks: &'static str,
    columns: &'static str,
    has_kind: bool,
}

const COUNTS: Rollup = Rollup {
    days: "metric_days",
    weeks: "metric_weeks",
    columns: "team_id, agent_id, kind, pending, missed_open, kept_on_time, kept_late, broken, cancelled, \
              renegotiated_by_customer, renegotiated_by_agent, handovers",
    has_kind: true,
};
const LATENESS: Rollup = Rollup {
    days: "metric_lateness",
    weeks: "metric_lateness_weeks",
    columns: "team_id, agent_id, kind, minutes, count",
    has_kind: true,
};
const CONTACTS: Rollup = Rollup {
    days: "metric_contacts",
    weeks: "metric_contacts_weeks",
    columns: "team_id, agent_id, outbound, by_owner",
    has_kind: false,
};

/// How a period of days is read: the whole weeks inside it from the weekly tables, the days before the first
/// Monday and from the last Monday on from the daily ones. All ranges are `[start, end)` day numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    head: (i64, i64),
    weeks: (i64, i64),
    tail: (i64, i64),
}

impl Span {
    fn of(from: i32, to: i32) -> Span {
        let (from, to) = (i64::from(from), i64::from(to));
        let monday_on_or_before = |d: i64| d - (d + 3).rem_euclid(7);
        let first = monday_on_or_before(from + 6);
        let last = monday_on_or_before(to);
        if first < last {
            Span { head: (from, first), weeks: (first, last), tail: (last, to) }
        } else {
            Span { head: (from, to), weeks: (0, 0), tail: (0, 0) }
        }
    }
}

/// Runs one grouped query over a rollup at both grains. `sums` are aggregate expressions (up to nine, padded
/// with 0). The period's day numbers are written into the statement (they are integers this code computed); the
/// filters are bound.
fn grouped(
    conn: &mut DbConn,
    rollup: &Rollup,
    by: Grouping,
    sel: &Selection,
    sums: &[&str],
    extra_group: Option<&str>,
) -> QueryResult<Vec<SumRow>> {
    let has_kind = rollup.has_kind;
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
    let span = Span::of(sel.from_day, sel.to_day);
    let (Rollup { days, weeks, columns, .. }, (h0, h1), (w0, w1), (t0, t1)) =
        (rollup, span.head, span.weeks, span.tail);
    let m: Vec<String> = (1..=6).map(|n| marker(conn, n)).collect();
    let kind_filter = if has_kind { format!(" AND ({} = '' OR kind = {})", m[4], m[5]) } else { String::new() };
    // The union feeds one GROUP BY; each branch is a range scan of its table's primary key.
    let mut sql = format!(
        "SELECT {} FROM (\
         SELECT week, {columns} FROM {days} WHERE (day >= {h0} AND day < {h1}) OR (day >= {t0} AND day < {t1}) \
         UNION ALL SELECT week, {columns} FROM {weeks} WHERE week >= {w0} AND week < {w1}\
         ) AS r WHERE ({} = '' OR team_id = {}) AND ({} = '' OR agent_id = {}){kind_filter}",
        select.join(", "),
        m[0],
        m[1],
        m[2],
        m[3],
    );
    if !group.is_empty() {
        sql.push_str(&format!(" GROUP BY {}", group.join(", ")));
    }
    use diesel::sql_types::Text;
    let team = sel.team_id.clone().unwrap_or_default();
    let agent = sel.agent_id.clone().unwrap_or_default();
    let kind = sel.kind.clone().unwrap_or_default();
    let query = diesel::sql_query(sql)
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
    Ok(report_many(conn, &[by], sel)?.pop().unwrap_or_default())
}

/// Sums the rollups of one selection into several groupings at once (a report and its totals, the dashboard's
/// agent, team and week views): the period is read once, at the finest grouping asked for, and folded into each.
pub fn report_many(
    conn: &mut DbConn,
    groupings: &[Grouping],
    sel: &Selection,
) -> QueryResult<Vec<BTreeMap<GroupKey, GroupTotals>>> {
    let finest = groupings.iter().fold(Grouping::default(), |a, g| Grouping {
        agent: a.agent || g.agent,
        team: a.team || g.team,
        kind: a.kind || g.kind,
        week: a.week || g.week,
    });
    let mut out: Vec<BTreeMap<GroupKey, GroupTotals>> = vec![BTreeMap::new(); groupings.len()];
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
    for r in grouped(conn, &COUNTS, finest, sel, &sums, None)? {
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
        for (target, by) in out.iter_mut().zip(groupings) {
            target.entry(r.key(*by)).or_default().counts += counts;
        }
    }
    // Late keeps come per (group, minutes); several fine groups fold into one histogram per coarse group.
    let mut late: Vec<BTreeMap<GroupKey, BTreeMap<i64, i64>>> = vec![BTreeMap::new(); groupings.len()];
    for r in grouped(conn, &LATENESS, finest, sel, &["MIN(minutes)", "SUM(count)"], Some("minutes"))? {
        for (target, by) in late.iter_mut().zip(groupings) {
            *target.entry(r.key(*by)).or_default().entry(r.a).or_default() += r.b;
        }
    }
    for (target, histograms) in out.iter_mut().zip(late) {
        for (key, histogram) in histograms {
            target.entry(key).or_default().lateness = histogram.into_iter().filter(|(_, n)| *n != 0).collect();
        }
    }
    // Contacts have no kind: continuity is only defined when the report is neither grouped nor filtered by kind.
    let with_contacts: Vec<bool> = groupings.iter().map(|by| !by.kind && sel.kind.is_none()).collect();
    if with_contacts.iter().any(|&on| on) {
        for r in grouped(conn, &CONTACTS, finest, sel, &["SUM(outbound)", "SUM(by_owner)"], None)? {
            for ((target, by), on) in out.iter_mut().zip(groupings).zip(&with_contacts) {
                if *on {
                    let (o, b) = target.entry(r.key(*by)).or_default().contacts.get_or_insert((0, 0));
                    *o += r.a;
                    *b += r.b;
                }
            }
        }
        for (target, on) in out.iter_mut().zip(&with_contacts) {
            if *on {
                for totals in target.values_mut() {
                    totals.contacts.get_or_insert((0, 0));
                }
            }
        }
    }
    Ok(out)
}

/// Current totals per (team, kind) over all days, for Prometheus: open (pending + missed_open), overdue
/// (missed_open), kept (on time + late) and broken. All of history is whole weeks, so this reads the weekly
/// table only.
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

#[cfg(test)]
mod tests {
    use super::Span;

    #[test]
    fn a_period_reads_whole_weeks_and_the_days_around_them() {
        // 2026-11-04 is day 20,761, a Wednesday; 2026-11-09 (day 20,766) and 2026-11-30 (20,787) are Mondays.
        let span = Span::of(20_761, 20_790);
        assert_eq!(span, Span { head: (20_761, 20_766), weeks: (20_766, 20_787), tail: (20_787, 20_790) });
        // Starting on a Monday: no head days.
        assert_eq!(
            Span::of(20_766, 20_780),
            Span { head: (20_766, 20_766), weeks: (20_766, 20_780), tail: (20_780, 20_780) }
        );
        // Less than a whole week: days only.
        assert_eq!(Span::of(20_761, 20_767), Span { head: (20_761, 20_767), weeks: (0, 0), tail: (0, 0) });
        // All of time: weeks only, with no overflow at the ends.
        let all = Span::of(i32::MIN, i32::MAX);
        assert!(all.head.1 - all.head.0 < 7 && all.tail.1 - all.tail.0 < 7);
        assert!(all.weeks.0 < 0 && all.weeks.1 > 20_000);
    }
}
