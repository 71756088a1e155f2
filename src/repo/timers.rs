//! The timers of time-driven work. The scheduler never scans promises: it reads this table by `next_attempt_at`.

use diesel::prelude::*;

use crate::db::schema::timers;
use crate::db::{DbConn, Tx};

/// A timer row.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = timers)]
// `None` is NULL, the nullable columns' default anyway; SQLite takes several rows in one INSERT only when no
// value is DEFAULT.
#[diesel(treat_none_as_default_value = false)]
pub struct Timer {
    /// Stable id: the idempotency key of everything this timer produces.
    pub id: String,
    /// The promise.
    pub promise_id: String,
    /// The occurrence (due instant) it belongs to, ms.
    pub occurrence_at: i64,
    /// lead | due | overdue | escalation | expiry.
    pub purpose: String,
    /// The agent it was scheduled for (routing is decided again at fire time).
    pub recipient: String,
    /// inbox.
    pub channel: String,
    /// Extra data (e.g. the prompt an escalation is about).
    pub payload: Option<String>,
    /// pending | done.
    pub status: String,
    /// Times fired.
    pub attempts: i32,
    /// When to fire, ms.
    pub next_attempt_at: i64,
    /// The scheduler instance holding the lease.
    pub claimed_by: Option<String>,
    /// Lease end, ms; an expired lease may be claimed again.
    pub claimed_until: Option<i64>,
    /// When it fired, ms.
    pub fired_at: Option<i64>,
    /// What went wrong last time.
    pub last_error: Option<String>,
    /// Created, ms.
    pub created_at: i64,
    /// Updated, ms.
    pub updated_at: i64,
}

/// What makes two timers the same: (promise, occurrence, purpose, channel, recipient, fire time).
fn slot(d: &Timer) -> (&str, i64, &str, &str, &str, i64) {
    (&d.promise_id, d.occurrence_at, &d.purpose, &d.channel, &d.recipient, d.next_attempt_at)
}

/// Inserts timers, ignoring ones that already exist for the same (promise, occurrence, purpose, channel,
/// recipient, fire time): scheduling the same occurrence twice must not fire it twice.
///
/// One query reads the keys the rows' promises already have, one multi-row INSERT writes the new rows: the
/// scheduler schedules a batch's escalations at once.
pub fn insert_all(tx: &mut Tx<'_>, rows: &[Timer]) -> QueryResult<()> {
    type Key = (String, i64, String, String, String, i64);
    let key = |d: &Timer| -> Key {
        let (promise_id, occurrence_at, purpose, channel, recipient, next_attempt_at) = slot(d);
        (promise_id.into(), occurrence_at, purpose.into(), channel.into(), recipient.into(), next_attempt_at)
    };
    if rows.is_empty() {
        return Ok(());
    }
    let conn: &mut DbConn = tx;
    let mut promise_ids: Vec<&str> = rows.iter().map(|d| d.promise_id.as_str()).collect();
    promise_ids.sort_unstable();
    promise_ids.dedup();
    let mut seen: std::collections::HashSet<Key> = std::collections::HashSet::new();
    for chunk in promise_ids.chunks(super::ROWS_PER_INSERT) {
        let existing: Vec<Key> = timers::table
            .filter(timers::promise_id.eq_any(chunk))
            .select((
                timers::promise_id,
                timers::occurrence_at,
                timers::purpose,
                timers::channel,
                timers::recipient,
                timers::next_attempt_at,
            ))
            .load(conn)?;
        seen.extend(existing);
    }
    // Duplicates within `rows` are dropped too: the first one stands.
    let fresh: Vec<&Timer> = rows.iter().filter(|d| seen.insert(key(d))).collect();
    for chunk in fresh.chunks(super::ROWS_PER_INSERT) {
        super::insert_rows!(conn, timers::table, chunk.to_vec())?;
    }
    added(tx, fresh.iter().copied());
    Ok(())
}

/// Tells the scheduler's alarm clock about pending timers just written (see [`crate::db::wakes`]).
fn added<'a>(tx: &mut Tx<'_>, rows: impl Iterator<Item = &'a Timer>) {
    for row in rows.filter(|d| d.status == "pending") {
        tx.timer_added(row.next_attempt_at);
    }
}

/// Inserts the timers of a promise that has none yet (one just made) in one statement. A multi-row INSERT of a
/// fixed number of rows (an array, not a slice) is a statement diesel prepares once and caches, one per count,
/// where [`insert_all`]'s existence check and slice INSERT are prepared anew on every call; and one statement is
/// one round trip to PostgreSQL where a row per statement was one per timer.
pub fn insert_fresh(tx: &mut Tx<'_>, rows: &[Timer]) -> QueryResult<()> {
    // Two plans may coincide (a lead reminder at the due time): the first one stands, as in `insert_all`.
    let mut fresh: Vec<Timer> = Vec::with_capacity(rows.len());
    for row in rows {
        if !fresh.iter().any(|d| slot(d) == slot(row)) {
            fresh.push(row.clone());
        }
    }
    added(tx, fresh.iter());
    let conn: &mut DbConn = tx;
    // Owned rows: diesel caches a statement by its type, which must not borrow.
    macro_rules! insert_array {
        ($n:literal) => {{
            let rows: [Timer; $n] = fresh.try_into().expect("the length was matched");
            super::insert_rows!(&mut *conn, timers::table, rows)?;
        }};
    }
    match fresh.len() {
        0 => {}
        1 => insert_array!(1),
        2 => insert_array!(2),
        3 => insert_array!(3),
        4 => insert_array!(4),
        5 => insert_array!(5),
        _ => super::insert_rows!(&mut *conn, timers::table, &fresh).map(drop)?,
    }
    Ok(())
}

/// Removes a promise's pending timers (the ledger keeps the history; the timers table only holds future work).
pub fn retire_pending(conn: &mut DbConn, promise_id: &str) -> QueryResult<usize> {
    diesel::delete(timers::table.filter(timers::promise_id.eq(promise_id)).filter(timers::status.eq("pending")))
        .execute(conn)
}

/// Points a promise's pending timers at a new owner.
pub fn reassign_pending(conn: &mut DbConn, promise_id: &str, recipient: &str, now_ms: i64) -> QueryResult<usize> {
    diesel::update(timers::table.filter(timers::promise_id.eq(promise_id)).filter(timers::status.eq("pending")))
        .set((timers::recipient.eq(recipient), timers::updated_at.eq(now_ms)))
        .execute(conn)
}

/// Claims up to `limit` due timers for `instance` until `lease_until_ms` (see [`super::lease`]). At equal
/// instants "due" sorts before "overdue" (a deadline's grace can be zero): prompt, then judge.
pub fn claim_due(
    conn: &mut DbConn,
    instance: &str,
    now_ms: i64,
    lease_until_ms: i64,
    limit: i64,
) -> QueryResult<Vec<Timer>> {
    super::lease::claim_due!(
        conn,
        timers,
        Timer,
        order: (timers::next_attempt_at.asc(), timers::purpose.asc()),
        instance,
        now_ms,
        lease_until_ms,
        limit
    )
}

/// Marks a timer done.
pub fn mark_done(conn: &mut DbConn, id: &str, now_ms: i64, note: Option<&str>) -> QueryResult<()> {
    diesel::update(timers::table.find(id))
        .set((
            timers::status.eq("done"),
            timers::attempts.eq(timers::attempts + 1),
            timers::fired_at.eq(now_ms),
            timers::claimed_until.eq(None::<i64>),
            timers::last_error.eq(note),
            timers::updated_at.eq(now_ms),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Marks timers done with the same note, in one statement.
pub fn mark_all_done(conn: &mut DbConn, ids: &[String], now_ms: i64, note: Option<&str>) -> QueryResult<()> {
    for chunk in ids.chunks(super::ROWS_PER_INSERT) {
        diesel::update(timers::table.filter(timers::id.eq_any(chunk)))
            .set((
                timers::status.eq("done"),
                timers::attempts.eq(timers::attempts + 1),
                timers::fired_at.eq(now_ms),
                timers::claimed_until.eq(None::<i64>),
                timers::last_error.eq(note),
                timers::updated_at.eq(now_ms),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The earliest pending fire time, ms (what the scheduler sleeps until).
pub fn next_pending_at(conn: &mut DbConn) -> QueryResult<Option<i64>> {
    timers::table.filter(super::pending("timers")).select(diesel::dsl::min(timers::next_attempt_at)).first(conn)
}

/// Pending timers of a promise, by fire time.
pub fn pending_of(conn: &mut DbConn, promise_id: &str) -> QueryResult<Vec<Timer>> {
    timers::table
        .filter(timers::promise_id.eq(promise_id))
        .filter(timers::status.eq("pending"))
        .order(timers::next_attempt_at.asc())
        .select(Timer::as_select())
        .load(conn)
}
