//! Browser sessions of the web pages: the cookie's secret is stored as a SHA-256, like API tokens.

use diesel::prelude::*;

use crate::db::schema::{agents, web_sessions};
use crate::db::DbConn;
use crate::repo::agents::Agent;
use crate::repo::tokens::{generate_secret, hash_secret};

/// A session row.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = web_sessions)]
pub struct WebSession {
    /// Hex SHA-256 of the cookie secret.
    pub token_hash: String,
    /// Who is logged in.
    pub agent_id: String,
    /// The CSRF token of this session's forms.
    pub csrf_token: String,
    /// When it ends, ms.
    pub expires_at: i64,
    /// Created, ms.
    pub created_at: i64,
    /// Updated, ms.
    pub updated_at: i64,
}

/// Opens a session lasting `ttl_ms` and returns it with the cookie secret (stored nowhere).
pub fn open(conn: &mut DbConn, agent_id: &str, now_ms: i64, ttl_ms: i64) -> QueryResult<(WebSession, String)> {
    let secret = generate_secret();
    let session = WebSession {
        token_hash: hash_secret(&secret),
        agent_id: agent_id.to_string(),
        csrf_token: generate_secret(),
        expires_at: now_ms + ttl_ms,
        created_at: now_ms,
        updated_at: now_ms,
    };
    // Expired sessions of anyone are swept on each login, so the table holds only live ones.
    diesel::delete(web_sessions::table.filter(web_sessions::expires_at.lt(now_ms))).execute(conn)?;
    diesel::insert_into(web_sessions::table).values(&session).execute(conn)?;
    Ok((session, secret))
}

/// The live session of a cookie secret, with its active agent.
pub fn find(conn: &mut DbConn, secret: &str, now_ms: i64) -> QueryResult<Option<(WebSession, Agent)>> {
    web_sessions::table
        .inner_join(agents::table)
        .filter(web_sessions::token_hash.eq(hash_secret(secret)))
        .filter(web_sessions::expires_at.gt(now_ms))
        .filter(agents::active.eq(true))
        .select((WebSession::as_select(), Agent::as_select()))
        .first(conn)
        .optional()
}

/// Ends a session.
pub fn close(conn: &mut DbConn, secret: &str) -> QueryResult<()> {
    diesel::delete(web_sessions::table.filter(web_sessions::token_hash.eq(hash_secret(secret)))).execute(conn)?;
    Ok(())
}
