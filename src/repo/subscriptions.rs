//! Webhook subscriptions: where integrators want events POSTed. A deleted subscription is deactivated, not
//! removed, so the history of its sends stays readable.

use diesel::prelude::*;

use crate::db::schema::webhook_subscriptions;
use crate::db::{DbConn, Tx};

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

/// Inserts a subscription.
pub fn insert(tx: &mut Tx<'_>, sub: &Subscription) -> QueryResult<()> {
    tx.group().memo = None;
    let conn: &mut DbConn = tx;
    diesel::insert_into(webhook_subscriptions::table).values(sub).execute(conn).map(|_| ())
}

/// One subscription.
pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Subscription>> {
    webhook_subscriptions::table.find(id).select(Subscription::as_select()).first(conn).optional()
}

/// Active subscriptions, as a write sees them: read once per writer's group and kept on the transaction
/// context, since every promise created and every ledger event asks which subscriptions want it (on PostgreSQL a
/// round trip each) and they change rarely. A subscription change in the group, or a job that fails, makes the
/// next job read them again.
pub fn active(tx: &mut Tx<'_>) -> QueryResult<Vec<Subscription>> {
    if let Some(read) = tx.group().memo.as_ref().and_then(|memo| memo.downcast_ref::<Vec<Subscription>>()) {
        return Ok(read.clone());
    }
    let read = read_active(tx)?;
    tx.group().memo = Some(Box::new(read.clone()));
    Ok(read)
}

/// Active subscriptions, read now (a read connection, or a listing).
pub fn read_active(conn: &mut DbConn) -> QueryResult<Vec<Subscription>> {
    webhook_subscriptions::table
        .filter(webhook_subscriptions::active.eq(true))
        .order(webhook_subscriptions::created_at.asc())
        .select(Subscription::as_select())
        .load(conn)
}

/// Deactivates a subscription; returns whether it existed.
pub fn deactivate(tx: &mut Tx<'_>, id: &str, now_ms: i64) -> QueryResult<bool> {
    tx.group().memo = None;
    let conn: &mut DbConn = tx;
    diesel::update(webhook_subscriptions::table.find(id))
        .set((webhook_subscriptions::active.eq(false), webhook_subscriptions::updated_at.eq(now_ms)))
        .execute(conn)
        .map(|n| n == 1)
}
