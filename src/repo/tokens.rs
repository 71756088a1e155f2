//! API tokens. Only a SHA-256 of each token is stored: tokens are 256 random bits, so a fast hash is as safe as
//! a slow one and keeps authentication off the hot path's budget.

use std::sync::atomic::{AtomicU64, Ordering};

use diesel::prelude::*;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::db::schema::{agents, api_tokens};
use crate::db::DbConn;
use crate::repo::agents::Agent;

/// A token row.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_tokens)]
pub struct ApiToken {
    /// Opaque id.
    pub id: String,
    /// Whose token.
    pub agent_id: String,
    /// A label.
    pub name: String,
    /// Hex SHA-256 of the secret.
    pub token_hash: String,
    /// Last use, ms.
    pub last_used_at: Option<i64>,
    /// Revocation, ms.
    pub revoked_at: Option<i64>,
    /// Created, ms.
    pub created_at: i64,
    /// Updated, ms.
    pub updated_at: i64,
}

/// A fresh secret in the form given to people: `tnd_` and 43 URL-safe base64 characters.
pub fn generate_secret() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("tnd_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of a secret.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Creates a token for an agent and returns the secret, which is not stored anywhere.
pub fn create(conn: &mut DbConn, agent_id: &str, name: &str, now_ms: i64) -> QueryResult<(ApiToken, String)> {
    let secret = generate_secret();
    let token = ApiToken {
        id: crate::clock::new_id("tok"),
        agent_id: agent_id.to_string(),
        name: name.to_string(),
        token_hash: hash_secret(&secret),
        last_used_at: None,
        revoked_at: None,
        created_at: now_ms,
        updated_at: now_ms,
    };
    diesel::insert_into(api_tokens::table).values(&token).execute(conn)?;
    Ok((token, secret))
}

/// The active agent a secret belongs to, if the token exists and is not revoked.
pub fn authenticate(conn: &mut DbConn, secret: &str) -> QueryResult<Option<Agent>> {
    api_tokens::table
        .inner_join(agents::table)
        .filter(api_tokens::token_hash.eq(hash_secret(secret)))
        .filter(api_tokens::revoked_at.is_null())
        .filter(agents::active.eq(true))
        .select(Agent::as_select())
        .first(conn)
        .optional()
}

/// Revokes a token; returns whether it existed.
pub fn revoke(conn: &mut DbConn, token_id: &str, now_ms: i64) -> QueryResult<bool> {
    credentials_changed();
    diesel::update(api_tokens::table.find(token_id))
        .set((api_tokens::revoked_at.eq(now_ms), api_tokens::updated_at.eq(now_ms)))
        .execute(conn)
        .map(|n| n == 1)
}

/// Token revocations and agent changes made by this process, counted so that callers remembered from an earlier
/// lookup (see `auth::TokenCache`) are known stale at once.
static CREDENTIAL_CHANGES: AtomicU64 = AtomicU64::new(0);

/// How many times this process has revoked a token or changed an agent.
pub fn credential_changes() -> u64 {
    CREDENTIAL_CHANGES.load(Ordering::Acquire)
}

/// Counts a change that may end a token's validity or change who it stands for. Called before the change commits:
/// a lookup that reads the old row after this count is remembered under the new count, which is why remembered
/// callers also expire on their own (`auth::TokenCache`).
pub fn credentials_changed() {
    CREDENTIAL_CHANGES.fetch_add(1, Ordering::AcqRel);
}
