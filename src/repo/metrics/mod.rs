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

mod rebuild;
mod report;

use crate::repo::promises::Promise;
pub use rebuild::*;
pub use report::*;

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
