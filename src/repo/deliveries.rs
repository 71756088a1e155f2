//! The outbox of time-driven work. The scheduler never scans promises: it reads this table by `next_attempt_at`.

use diesel::prelude::*;

use crate::db::schema::deliveries;
use crate::db::{DbConn, Tx};

/// A delivery row.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = deliveries)]
// `None` is NULL, the nullable columns' default anyway; SQLite takes several rows in one INSERT only when no
// value is DEFAULT.
#[diesel(treat_none_as_default_value = false)]
pub struct Delivery {
    /// Stable id: the idempotency key of everything this delivery produces.
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
    pub delivered_at: Option<i64>,
    /// What went wrong last time.
    pub last_error: Option<String>,
    /// Created, ms.
    pub created_at: i64,
    /// Updated, ms.
    pub updated_at: i64,
}

/// What makes two deliveries the same: (promise, occurrence, purpose, channel, recipient, fire time).
fn slot(d: &Delivery) -> (&str, i64, &str, &str, &str, i64) {
    (&d.promise_id, d.occurrence_at, &d.purpose, &d.channel, &d.recipient, d.next_attempt_at)
}

/// Inserts deliveries, ignoring ones that already exist for the same (promise, occurrence, purpose, channel,
/// recipient, fire time): scheduling the same occurrence twice must not fire it twice.
///
/// One query reads the keys the rows' promises already have, one multi-row INSERT writes the new rows: the
/// scheduler schedules a batch's escalations at once.
pub fn insert_all(tx: &mut Tx<'_>, rows: &[Delivery]) -> QueryResult<()> {
    type Key = (String, i64, String, String, String, i64);
    let key = |d: &Delivery| -> Key {
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
        let existing: Vec<Key> = deliveries::table
            .filter(deliveries::promise_id.eq_any(chunk))
            .select((
                deliveries::promise_id,
                deliveries::occurrence_at,
                deliveries::purpose,
                deliveries::channel,
                deliveries::recipient,
                deliveries::next_attempt_at,
            ))
            .load(conn)?;
        seen.extend(existing);
    }
    // Duplicates within `rows` are dropped too: the first one stands.
    let fresh: Vec<&Delivery> = rows.iter().filter(|d| seen.insert(key(d))).collect();
    for chunk in fresh.chunks(super::ROWS_PER_INSERT) {
        super::insert_rows!(conn, deliveries::table, chunk.to_vec())?;
    }
    added(tx, fresh.iter().copied());
    Ok(())
}

/// Tells the scheduler's alarm clock about pending deliveries just written (see [`crate::db::wakes`]).
fn added<'a>(tx: &mut Tx<'_>, rows: impl Iterator<Item = &'a Delivery>) {
    for row in rows.filter(|d| d.status == "pending") {
        tx.delivery_added(row.next_attempt_at);
    }
}

/// Inserts the deliveries of a promise that has none yet (one just made) in one statement. A multi-row INSERT of a
/// fixed number of rows (an array, not a slice) is a statement diesel prepares once and caches, one per count,
/// where [`insert_all`]'s existence check and slice INSERT are prepared anew on every call; and one statement is
/// one round trip to PostgreSQL where a row per statement was one per delivery.
pub fn insert_fresh(tx: &mut Tx<'_>, rows: &[Delivery]) -> QueryResult<()> {
    // Two plans may coincide (a lead reminder at the due time): the first one stands, as in `insert_all`.
    let mut fresh: Vec<Delivery> = Vec::with_capacity(rows.len());
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
            let rows: [Delivery; $n] = fresh.try_into().expect("the length was matched");
            super::insert_rows!(&mut *conn, deliveries::table, rows)?;
        }};
    }
    match fresh.len() {
        0 => {}
        1 => insert_array!(1),
        2 => insert_array!(2),
        3 => insert_array!(3),
        4 => insert_array!(4),
        5 => insert_array!(5),
        _ => super::insert_rows!(&mut *conn, deliveries::table, &fresh).map(drop)?,
    }
    Ok(())
}

/// Removes a promise's pending deliveries (the ledger keeps the history; the outbox only holds future work).
pub fn retire_pending(conn: &mut DbConn, promise_id: &str) -> QueryResult<usize> {
    diesel::delete(
        deliveries::table.filter(deliveries::promise_id.eq(promise_id)).filter(deliveries::status.eq("pending")),
    )
    .execute(conn)
}

/// Points a promise's pending deliveries at a new owner.
pub fn reassign_pending(conn: &mut DbConn, promise_id: &str, recipient: &str, now_ms: i64) -> QueryResult<usize> {
    diesel::update(
        deliveries::table.filter(deliveries::promise_id.eq(promise_id)).filter(deliveries::status.eq("pending")),
    )
    .set((deliveries::recipient.eq(recipient), deliveries::updated_at.eq(now_ms)))
    .execute(conn)
}

/// Claims up to `limit` due deliveries for `instance` until `lease_until_ms`, in one statement, and returns them.
/// Rows whose lease expired (a crashed instance) are claimable again.
pub fn claim_due(
    conn: &mut DbConn,
    instance: &str,
    now_ms: i64,
    lease_until_ms: i64,
    limit: i64,
) -> QueryResult<Vec<Delivery>> {
    let due_rows = || {
        deliveries::table
            .filter(super::pending("deliveries"))
            .filter(deliveries::next_attempt_at.le(now_ms))
            .filter(deliveries::claimed_until.is_null().or(deliveries::claimed_until.lt(now_ms)))
            // At equal instants "due" sorts before "overdue" (a deadline's grace can be zero): prompt, then judge.
            .order((deliveries::next_attempt_at.asc(), deliveries::purpose.asc()))
            .limit(limit)
            .select(deliveries::id)
    };
    let due: Vec<String> = match conn {
        // Several instances claim at once: each skips the rows another holds instead of waiting for them.
        #[cfg(feature = "postgres")]
        DbConn::Postgres(pg) => due_rows().for_update().skip_locked().load(pg)?,
        _ => due_rows().load(conn)?,
    };
    if due.is_empty() {
        return Ok(Vec::new());
    }
    // Selected then updated inside the caller's write transaction; the lease condition is repeated so a row
    // claimed meanwhile by another process is not taken twice.
    diesel::update(
        deliveries::table
            .filter(deliveries::id.eq_any(&due))
            .filter(deliveries::claimed_until.is_null().or(deliveries::claimed_until.lt(now_ms))),
    )
    .set((
        deliveries::claimed_by.eq(instance),
        deliveries::claimed_until.eq(lease_until_ms),
        deliveries::updated_at.eq(now_ms),
    ))
    .execute(conn)?;
    // Read back by id: filtering on the lease columns would walk every pending row.
    deliveries::table
        .filter(deliveries::id.eq_any(&due))
        .filter(deliveries::claimed_by.eq(instance))
        .filter(deliveries::claimed_until.eq(lease_until_ms))
        .filter(deliveries::status.eq("pending"))
        .order(deliveries::next_attempt_at.asc())
        .select(Delivery::as_select())
        .load(conn)
}

/// Marks a delivery done.
pub fn mark_done(conn: &mut DbConn, id: &str, now_ms: i64, note: Option<&str>) -> QueryResult<()> {
    diesel::update(deliveries::table.find(id))
        .set((
            deliveries::status.eq("done"),
            deliveries::attempts.eq(deliveries::attempts + 1),
            deliveries::delivered_at.eq(now_ms),
            deliveries::claimed_until.eq(None::<i64>),
            deliveries::last_error.eq(note),
            deliveries::updated_at.eq(now_ms),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Marks deliveries done with the same note, in one statement.
pub fn mark_all_done(conn: &mut DbConn, ids: &[String], now_ms: i64, note: Option<&str>) -> QueryResult<()> {
    for chunk in ids.chunks(super::ROWS_PER_INSERT) {
        diesel::update(deliveries::table.filter(deliveries::id.eq_any(chunk)))
            .set((
                deliveries::status.eq("done"),
                deliveries::attempts.eq(deliveries::attempts + 1),
                deliveries::delivered_at.eq(now_ms),
                deliveries::claimed_until.eq(None::<i64>),
                deliveries::last_error.eq(note),
                deliveries::updated_at.eq(now_ms),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The earliest pending fire time, ms (what the scheduler sleeps until).
pub fn next_pending_at(conn: &mut DbConn) -> QueryResult<Option<i64>> {
    deliveries::table
        .filter(super::pending("deliveries"))
        .select(diesel::dsl::min(deliveries::next_attempt_at))
        .first(conn)
}

/// Pending deliveries of a promise, by fire time.
pub fn pending_of(conn: &mut DbConn, promise_id: &str) -> QueryResult<Vec<Delivery>> {
    deliveries::table
        .filter(deliveries::promise_id.eq(promise_id))
        .filter(deliveries::status.eq("pending"))
        .order(deliveries::next_attempt_at.asc())
        .select(Delivery::as_select())
        .load(conn)
}
