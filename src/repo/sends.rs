//! Outbound sends (webhook POSTs and emails). A send is claimed with a lease, attempted, and its outcome
//! recorded; a crashed sender's lease expires and another claim sends again with the same id.

use diesel::prelude::*;

use crate::db::schema::sends;
use crate::db::{DbConn, Tx};

/// A send row.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = sends)]
// `None` is NULL, which is also every nullable column's default; SQLite takes several rows in one INSERT only
// when no value is DEFAULT.
#[diesel(treat_none_as_default_value = false)]
pub struct OutboundSend {
    /// Stable id, sent as `webhook-id`.
    pub id: String,
    /// webhook | email.
    pub channel: String,
    /// Subscription id or email address.
    pub target: String,
    /// e.g. promise.due.
    pub event_type: String,
    /// Email subject.
    pub subject: String,
    /// JSON body (webhook) or text (email).
    pub payload: String,
    /// pending | delivered | dead.
    pub status: String,
    /// Attempts made.
    pub attempts: i32,
    /// First attempt, ms.
    pub first_attempt_at: Option<i64>,
    /// Next attempt, ms.
    pub next_attempt_at: i64,
    /// Sender holding the lease.
    pub claimed_by: Option<String>,
    /// Lease end, ms.
    pub claimed_until: Option<i64>,
    /// Last HTTP status.
    pub last_status: Option<i32>,
    /// Last error.
    pub last_error: Option<String>,
    /// Delivered, ms.
    pub delivered_at: Option<i64>,
    /// Created, ms.
    pub created_at: i64,
    /// Updated, ms.
    pub updated_at: i64,
}

/// Inserts a send.
pub fn insert(tx: &mut Tx<'_>, send: &OutboundSend) -> QueryResult<()> {
    tx.send_added();
    diesel::insert_into(sends::table).values(send).execute(&mut **tx).map(|_| ())
}

/// Inserts sends, several rows per statement.
pub fn insert_all(tx: &mut Tx<'_>, rows: &[OutboundSend]) -> QueryResult<()> {
    if !rows.is_empty() {
        tx.send_added();
    }
    let conn: &mut DbConn = tx;
    for chunk in rows.chunks(super::ROWS_PER_INSERT) {
        super::insert_rows!(conn, sends::table, chunk)?;
    }
    Ok(())
}

/// One send.
pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<OutboundSend>> {
    sends::table.find(id).select(OutboundSend::as_select()).first(conn).optional()
}

/// Claims up to `limit` due sends for `instance` until `lease_until_ms` (see [`super::lease`]), oldest due first.
pub fn claim_due(
    conn: &mut DbConn,
    instance: &str,
    now_ms: i64,
    lease_until_ms: i64,
    limit: i64,
) -> QueryResult<Vec<OutboundSend>> {
    super::lease::claim_due!(
        conn,
        sends,
        OutboundSend,
        order: (sends::next_attempt_at.asc(), sends::id.asc()),
        instance,
        now_ms,
        lease_until_ms,
        limit
    )
}

/// Records an attempt: delivered, retried at `next_attempt_at`, or dead when that is `None`.
pub fn record_attempt(
    conn: &mut DbConn,
    id: &str,
    now_ms: i64,
    ok: bool,
    http_status: Option<i32>,
    error: Option<&str>,
    next_attempt_at: Option<i64>,
) -> QueryResult<()> {
    let status = match (ok, next_attempt_at) {
        (true, _) => "delivered",
        (false, Some(_)) => "pending",
        (false, None) => "dead",
    };
    diesel::update(sends::table.find(id))
        .set((
            sends::status.eq(status),
            sends::attempts.eq(sends::attempts + 1),
            sends::first_attempt_at.eq(diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>>(
                &format!("COALESCE(first_attempt_at, {now_ms})"),
            )),
            sends::next_attempt_at.eq(next_attempt_at.unwrap_or(now_ms)),
            sends::claimed_until.eq(None::<i64>),
            sends::last_status.eq(http_status),
            sends::last_error.eq(error),
            sends::delivered_at.eq(if ok { Some(now_ms) } else { None }),
            sends::updated_at.eq(now_ms),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Puts a send back in the queue now (redelivery of a dead or delivered send), with fresh retries.
pub fn requeue(tx: &mut Tx<'_>, id: &str, now_ms: i64) -> QueryResult<bool> {
    tx.send_added();
    let conn: &mut DbConn = tx;
    diesel::update(sends::table.find(id))
        .set((
            sends::status.eq("pending"),
            sends::attempts.eq(0),
            sends::first_attempt_at.eq(None::<i64>),
            sends::next_attempt_at.eq(now_ms),
            sends::claimed_until.eq(None::<i64>),
            sends::updated_at.eq(now_ms),
        ))
        .execute(conn)
        .map(|n| n == 1)
}

/// The earliest pending attempt, ms.
pub fn next_pending_at(conn: &mut DbConn) -> QueryResult<Option<i64>> {
    sends::table.filter(super::pending("sends")).select(diesel::dsl::min(sends::next_attempt_at)).first(conn)
}

/// Sends of one target, newest first.
pub fn of_target(conn: &mut DbConn, target: &str, limit: i64) -> QueryResult<Vec<OutboundSend>> {
    sends::table
        .filter(sends::target.eq(target))
        .order((sends::created_at.desc(), sends::id.desc()))
        .limit(limit)
        .select(OutboundSend::as_select())
        .load(conn)
}

/// How many sends are waiting or dead, per channel and status (delivered ones are history, not load).
pub fn counts_by_status(conn: &mut DbConn) -> QueryResult<Vec<(String, String, i64)>> {
    sends::table
        .filter(sends::status.ne("delivered"))
        .group_by((sends::channel, sends::status))
        .select((sends::channel, sends::status, diesel::dsl::count_star()))
        .load(conn)
}
