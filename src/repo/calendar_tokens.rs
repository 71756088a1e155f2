//! Secret tokens for agents' calendar feeds. Only a hash is stored; revoking is setting `revoked_at`.

use diesel::prelude::*;

use crate::db::schema::{agents, calendar_tokens};
use crate::db::DbConn;
use crate::repo::agents::Agent;
use crate::repo::tokens::{generate_secret, hash_secret};

/// Creates a feed token for an agent and returns the secret.
pub fn create(conn: &mut DbConn, agent_id: &str, now_ms: i64) -> QueryResult<String> {
    let secret = generate_secret().replacen("tnd_", "cal_", 1);
    diesel::insert_into(calendar_tokens::table)
        .values((
            calendar_tokens::id.eq(crate::clock::new_id("cal")),
            calendar_tokens::agent_id.eq(agent_id),
            calendar_tokens::token_hash.eq(hash_secret(&secret)),
            calendar_tokens::created_at.eq(now_ms),
            calendar_tokens::updated_at.eq(now_ms),
        ))
        .execute(conn)?;
    Ok(secret)
}

/// Revokes every feed token of an agent; returns how many.
pub fn revoke_all(conn: &mut DbConn, agent_id: &str, now_ms: i64) -> QueryResult<usize> {
    diesel::update(
        calendar_tokens::table
            .filter(calendar_tokens::agent_id.eq(agent_id))
            .filter(calendar_tokens::revoked_at.is_null()),
    )
    .set((calendar_tokens::revoked_at.eq(now_ms), calendar_tokens::updated_at.eq(now_ms)))
    .execute(conn)
}

/// The active agent a feed secret belongs to.
pub fn agent_for(conn: &mut DbConn, secret: &str) -> QueryResult<Option<Agent>> {
    calendar_tokens::table
        .inner_join(agents::table)
        .filter(calendar_tokens::token_hash.eq(hash_secret(secret)))
        .filter(calendar_tokens::revoked_at.is_null())
        .filter(agents::active.eq(true))
        .select(Agent::as_select())
        .first(conn)
        .optional()
}
