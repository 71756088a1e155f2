//! Key-value facts about the service itself.

use diesel::prelude::*;

use crate::db::schema::service_state;
use crate::db::DbConn;

/// The value stored under `key`.
pub fn get(conn: &mut DbConn, key: &str) -> QueryResult<Option<String>> {
    service_state::table.find(key).select(service_state::value).first(conn).optional()
}

/// Stores `value` under `key`, replacing any earlier value.
pub fn set(conn: &mut DbConn, key: &str, value: &str, now_ms: i64) -> QueryResult<()> {
    let updated = diesel::update(service_state::table.find(key))
        .set((service_state::value.eq(value), service_state::updated_at.eq(now_ms)))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(service_state::table)
            .values((
                service_state::key.eq(key),
                service_state::value.eq(value),
                service_state::created_at.eq(now_ms),
                service_state::updated_at.eq(now_ms),
            ))
            .execute(conn)?;
    }
    Ok(())
}
