//! Outbound messages (webhooks and email) and webhook subscriptions. Messages are claimed with a lease, sent,
//! and their outcome recorded; a crashed sender's lease expires and another claim sends again with the same id.

use diesel::prelude::*;

use crate::db::schema::{messages, webhook_subscriptions};
use crate::db::{DbConn, Tx};

/// A message row.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = messages)]
// `None` is NULL, which is also every nullable column's default; SQLite takes several rows in one INSERT only
// when no value is DEFAULT.
#[diesel(treat_none_as_default_value = false)]
pub struct Message {
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

/// A subscription row.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_subscriptions)]
pub struct Subscription {
    /// Opaque id.
    pub id: String,
    /// Where to POST.
    pub url: String,
    /// JSON list of event types; empty means all.
    pub events: String,
    /// `whsec_...`.
    pub secret: String,
    /// Deleted subscriptions are deactivated, not removed, so their history stays readable.
    pub active: bool,
    /// Created, ms.
    pub created_at: i64,
    /// Updated, ms.
    pub updated_at: i64,
}

impl Subscription {
    /// Whether this subscription wants an event type.
    pub fn wants(&self, event_type: &str) -> bool {
        let events: Vec<String> = serde_json::from_str(&self.events).unwrap_or_default();
        events.is_empty() || events.iter().any(|e| e == event_type)
    }
}

/// Inserts a message.
pub fn insert(tx: &mut Tx<'_>, message: &Message) -> QueryResult<()> {
    tx.message_added();
    diesel::insert_into(messages::table).values(message).execute(&mut **tx).map(|_| ())
}

/// Inserts messages, several rows per statement.
pub fn insert_all(tx: &mut Tx<'_>, rows: &[Message]) -> QueryResult<()> {
    if !rows.is_empty() {
        tx.message_added();
    }
    let conn: &mut DbConn = tx;
    for chunk in rows.chunks(super::ROWS_PER_INSERT) {
        super::insert_rows!(conn, messages::table, chunk)?;
    }
    Ok(())
}

/// One message.
pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Message>> {
    messages::table.find(id).select(Message::as_select()).first(conn).optional()
}

/// Claims up to `limit` due messages, in one statement, and returns them.
pub fn claim_due(
    conn: &mut DbConn,
    instance: &str,
    now_ms: i64,
    lease_until_ms: i64,
    limit: i64,
) -> QueryResult<Vec<Message>> {
    let due_rows = || {
        messages::table
            .filter(super::pending("messages"))
            .filter(messages::next_attempt_at.le(now_ms))
            .filter(messages::claimed_until.is_null().or(messages::claimed_until.lt(now_ms)))
            .order(messages::next_attempt_at.asc())
            .limit(limit)
            .select(messages::id)
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
        messages::table
            .filter(messages::id.eq_any(&due))
            .filter(messages::claimed_until.is_null().or(messages::claimed_until.lt(now_ms))),
    )
    .set((messages::claimed_by.eq(instance), messages::claimed_until.eq(lease_until_ms)))
    .execute(conn)?;
    // Read back by id: filtering on the lease columns would walk every pending row.
    messages::table
        .filter(messages::id.eq_any(&due))
        .filter(messages::claimed_by.eq(instance))
        .filter(messages::claimed_until.eq(lease_until_ms))
        .filter(messages::status.eq("pending"))
        .select(Message::as_select())
        .load(conn)
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
    diesel::update(messages::table.find(id))
        .set((
            messages::status.eq(status),
            messages::attempts.eq(messages::attempts + 1),
            messages::first_attempt_at.eq(diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>>(
                &format!("COALESCE(first_attempt_at, {now_ms})"),
            )),
            messages::next_attempt_at.eq(next_attempt_at.unwrap_or(now_ms)),
            messages::claimed_until.eq(None::<i64>),
            messages::last_status.eq(http_status),
            messages::last_error.eq(error),
            messages::delivered_at.eq(if ok { Some(now_ms) } else { None }),
            messages::updated_at.eq(now_ms),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Puts a message back in the queue now (redelivery of a dead or delivered message), with fresh retries.
pub fn requeue(tx: &mut Tx<'_>, id: &str, now_ms: i64) -> QueryResult<bool> {
    tx.message_added();
    let conn: &mut DbConn = tx;
    diesel::update(messages::table.find(id))
        .set((
            messages::status.eq("pending"),
            messages::attempts.eq(0),
            messages::first_attempt_at.eq(None::<i64>),
            messages::next_attempt_at.eq(now_ms),
            messages::claimed_until.eq(None::<i64>),
            messages::updated_at.eq(now_ms),
        ))
        .execute(conn)
        .map(|n| n == 1)
}

/// The earliest pending attempt, ms.
pub fn next_pending_at(conn: &mut DbConn) -> QueryResult<Option<i64>> {
    messages::table.filter(super::pending("messages")).select(diesel::dsl::min(messages::next_attempt_at)).first(conn)
}

/// Messages of one target, newest first.
pub fn of_target(conn: &mut DbConn, target: &str, limit: i64) -> QueryResult<Vec<Message>> {
    messages::table
        .filter(messages::target.eq(target))
        .order((messages::created_at.desc(), messages::id.desc()))
        .limit(limit)
        .select(Message::as_select())
        .load(conn)
}

/// Inserts a subscription.
pub fn insert_subscription(tx: &mut Tx<'_>, sub: &Subscription) -> QueryResult<()> {
    tx.group().memo = None;
    let conn: &mut DbConn = tx;
    diesel::insert_into(webhook_subscriptions::table).values(sub).execute(conn).map(|_| ())
}

/// One subscription.
pub fn find_subscription(conn: &mut DbConn, id: &str) -> QueryResult<Option<Subscription>> {
    webhook_subscriptions::table.find(id).select(Subscription::as_select()).first(conn).optional()
}

/// Active subscriptions, as a write sees them: read once per writer's group and kept on the transaction
/// context, since every promise created and every ledger event asks which subscriptions want it (on PostgreSQL a
/// round trip each) and they change rarely. A subscription change in the group, or a job that fails, makes the
/// next job read them again.
pub fn active_subscriptions(tx: &mut Tx<'_>) -> QueryResult<Vec<Subscription>> {
    if let Some(read) = tx.group().memo.as_ref().and_then(|memo| memo.downcast_ref::<Vec<Subscription>>()) {
        return Ok(read.clone());
    }
    let read = read_active_subscriptions(tx)?;
    tx.group().memo = Some(Box::new(read.clone()));
    Ok(read)
}

/// Active subscriptions, read now (a read connection, or a listing).
pub fn read_active_subscriptions(conn: &mut DbConn) -> QueryResult<Vec<Subscription>> {
    webhook_subscriptions::table
        .filter(webhook_subscriptions::active.eq(true))
        .order(webhook_subscriptions::created_at.asc())
        .select(Subscription::as_select())
        .load(conn)
}

/// Deactivates a subscription; returns whether it existed.
pub fn deactivate_subscription(tx: &mut Tx<'_>, id: &str, now_ms: i64) -> QueryResult<bool> {
    tx.group().memo = None;
    let conn: &mut DbConn = tx;
    diesel::update(webhook_subscriptions::table.find(id))
        .set((webhook_subscriptions::active.eq(false), webhook_subscriptions::updated_at.eq(now_ms)))
        .execute(conn)
        .map(|n| n == 1)
}

/// How many messages are waiting or dead, per channel and status (delivered ones are history, not load).
pub fn counts_by_status(conn: &mut DbConn) -> QueryResult<Vec<(String, String, i64)>> {
    messages::table
        .filter(messages::status.ne("delivered"))
        .group_by((messages::channel, messages::status))
        .select((messages::channel, messages::status, diesel::dsl::count_star()))
        .load(conn)
}
