//! Prompts: what reached an agent's inbox, when, how late, and whether they acknowledged it.

use diesel::prelude::*;

use crate::db::schema::prompts;
use crate::db::DbConn;

/// A prompt row.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = prompts)]
// `None` is NULL, the nullable columns' default anyway; SQLite takes several rows in one INSERT only when no
// value is DEFAULT.
#[diesel(treat_none_as_default_value = false)]
pub struct Prompt {
    /// Opaque id.
    pub id: String,
    /// The timer that fired it (its idempotency key).
    pub timer_id: String,
    /// The promise.
    pub promise_id: String,
    /// Who was prompted.
    pub agent_id: String,
    /// lead | due | escalation.
    pub purpose: String,
    /// The occurrence, ms.
    pub occurrence_at: i64,
    /// When it should have fired, ms.
    pub scheduled_for: i64,
    /// When it fired, ms.
    pub fired_at: i64,
    /// fired_at - scheduled_for.
    pub late_by_ms: i64,
    /// Why someone other than the owner got it.
    pub handover_note: Option<String>,
    /// The rendered card.
    pub body: String,
    /// The card's data, JSON.
    pub card: String,
    /// When acknowledged, ms.
    pub acknowledged_at: Option<i64>,
    /// Created, ms.
    pub created_at: i64,
    /// Updated, ms.
    pub updated_at: i64,
}

/// Inserts a prompt.
pub fn insert(conn: &mut DbConn, prompt: &Prompt) -> QueryResult<()> {
    diesel::insert_into(prompts::table).values(prompt).execute(conn).map(|_| ())
}

/// Inserts prompts, several rows per statement.
pub fn insert_all(conn: &mut DbConn, rows: &[Prompt]) -> QueryResult<()> {
    for chunk in rows.chunks(super::ROWS_PER_INSERT) {
        super::insert_rows!(conn, prompts::table, chunk)?;
    }
    Ok(())
}

/// One prompt.
pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Prompt>> {
    prompts::table.find(id).select(Prompt::as_select()).first(conn).optional()
}

/// An agent's prompts, newest first; only unacknowledged ones when `open_only`.
pub fn of_agent(conn: &mut DbConn, agent_id: &str, open_only: bool, limit: i64) -> QueryResult<Vec<Prompt>> {
    let mut query = prompts::table
        .filter(prompts::agent_id.eq(agent_id))
        .order((prompts::fired_at.desc(), prompts::id.desc()))
        .limit(limit)
        .select(Prompt::as_select())
        .into_boxed();
    if open_only {
        query = query.filter(prompts::acknowledged_at.is_null());
    }
    query.load(conn)
}

/// Whether any due prompt of this occurrence was acknowledged (escalation checks this).
pub fn occurrence_acknowledged(conn: &mut DbConn, promise_id: &str, occurrence_at: i64) -> QueryResult<bool> {
    prompts::table
        .filter(prompts::promise_id.eq(promise_id))
        .filter(prompts::occurrence_at.eq(occurrence_at))
        .filter(prompts::acknowledged_at.is_not_null())
        .count()
        .get_result::<i64>(conn)
        .map(|n| n > 0)
}

/// Marks a prompt acknowledged; returns false when it already was.
pub fn acknowledge(conn: &mut DbConn, id: &str, now_ms: i64) -> QueryResult<bool> {
    diesel::update(prompts::table.find(id).filter(prompts::acknowledged_at.is_null()))
        .set((prompts::acknowledged_at.eq(now_ms), prompts::updated_at.eq(now_ms)))
        .execute(conn)
        .map(|n| n == 1)
}

/// The (promise, occurrence) pairs among `promise_ids` with an acknowledged prompt ([`occurrence_acknowledged`]
/// for a whole batch).
pub fn acknowledged_occurrences(conn: &mut DbConn, promise_ids: &[String]) -> QueryResult<Vec<(String, i64)>> {
    prompts::table
        .filter(prompts::promise_id.eq_any(promise_ids))
        .filter(prompts::acknowledged_at.is_not_null())
        .select((prompts::promise_id, prompts::occurrence_at))
        .distinct()
        .load(conn)
}
