//! Stored answers to POST requests that carried an `Idempotency-Key`, so a retry replays the first answer.

use diesel::prelude::*;

use crate::db::schema::idempotency_keys;
use crate::db::DbConn;

/// A stored answer.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_keys)]
pub struct StoredAnswer {
    /// The caller.
    pub agent_id: String,
    /// The key they sent.
    pub idempotency_key: String,
    /// SHA-256 of method, path and body.
    pub request_hash: String,
    /// HTTP status of the first answer.
    pub response_status: i32,
    /// JSON body of the first answer.
    pub response_body: String,
    /// Created, ms.
    pub created_at: i64,
    /// Updated, ms.
    pub updated_at: i64,
}

/// The stored answer for a caller's key, if any.
pub fn find(conn: &mut DbConn, agent_id: &str, key: &str) -> QueryResult<Option<StoredAnswer>> {
    idempotency_keys::table.find((agent_id, key)).select(StoredAnswer::as_select()).first(conn).optional()
}

/// Stores an answer.
pub fn insert(conn: &mut DbConn, answer: &StoredAnswer) -> QueryResult<()> {
    diesel::insert_into(idempotency_keys::table).values(answer).execute(conn).map(|_| ())
}
