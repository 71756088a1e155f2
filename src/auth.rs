//! Who is calling, and what they may touch (DESIGN.md section 12): agents see their own agenda, their team's
//! customers and promises, and act on their own promises; managers act on their team; admins on everything.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::vocab::Role;
use crate::error::AppError;
use crate::repo;

/// The authenticated agent behind a request.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Agent id.
    pub agent_id: String,
    /// Role.
    pub role: Role,
    /// Team, if any.
    pub team_id: Option<String>,
    /// Display name.
    pub name: String,
}

impl Caller {
    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Refuses anyone below `role`.
    pub fn require(&self, role: Role) -> Result<(), AppError> {
        let rank = |r: Role| match r {
            Role::Agent => 0,
            Role::Manager => 1,
            Role::Admin => 2,
        };
        if rank(self.role) >= rank(role) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!("this needs the {role} role; you are {}", self.role)))
        }
    }

    /// Whether the caller may see data of a team (customers, promises, agents).
    pub fn sees_team(&self, team_id: Option<&str>) -> bool {
        self.is_admin() || (team_id.is_some() && team_id == self.team_id.as_deref())
    }

    /// Refuses data of another team. Answers 404 rather than 403 so ids of other teams' customers do not leak.
    pub fn check_team(&self, team_id: Option<&str>, resource: &'static str, id: &str) -> Result<(), AppError> {
        if self.sees_team(team_id) {
            Ok(())
        } else {
            Err(AppError::not_found(resource, id))
        }
    }

    /// Whether the caller may change a promise owned by `owner_id` whose customer is in `team_id`: its owner, a
    /// manager of the team, or an admin.
    pub fn check_promise_actor(&self, owner_id: &str, team_id: Option<&str>) -> Result<(), AppError> {
        if self.is_admin() || (self.role == Role::Manager && self.sees_team(team_id)) || self.agent_id == owner_id {
            Ok(())
        } else {
            Err(AppError::Forbidden("only the promise's owner, a manager of the team or an admin may change it".into()))
        }
    }

    /// Whether the caller may see or act for another agent (their agenda, prompts, absences): themselves, a
    /// manager of their team, or an admin.
    pub fn check_agent_scope(&self, agent_id: &str, agent_team: Option<&str>) -> Result<(), AppError> {
        if self.agent_id == agent_id || self.is_admin() || (self.role == Role::Manager && self.sees_team(agent_team)) {
            Ok(())
        } else {
            Err(AppError::Forbidden("you may only see your own agenda and absences".into()))
        }
    }
}

/// The name of the web pages' session cookie.
pub const SESSION_COOKIE: &str = "tendero_session";

/// The header scripts of the web pages send their session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Bearer tokens found good a moment ago, so that a client's next requests skip the lookup (a hop to the blocking
/// pool and a query, on PostgreSQL two round trips with the pool's connection check).
///
/// An entry is used for at most [`TokenCache::TTL`] and only while this process has revoked no token and changed no
/// agent since the lookup that made it ([`repo::tokens::credential_changes`]): a revocation or a deactivation made
/// through this process is refused from the next request on; one made by another instance or the CLI within the TTL.
/// Only the SHA-256 of a secret is kept, as in the database. Unknown tokens are not remembered, so a stream of
/// forged tokens cannot fill it.
#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<[u8; 32], Remembered>>,
}

struct Remembered {
    caller: Caller,
    changes: u64,
    at: Instant,
}

impl TokenCache {
    /// How long a lookup is trusted: long enough that a busy client is looked up a few times a minute, short enough
    /// that a token revoked on another instance stops within a moment.
    pub const TTL: Duration = Duration::from_secs(2);
    /// More distinct tokens than this within a TTL, and the expired ones are dropped (or, if none, all of them).
    const CAPACITY: usize = 10_000;

    /// The key a secret is remembered under: its SHA-256, as the database keeps it.
    pub fn key(secret: &str) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        Sha256::digest(secret.as_bytes()).into()
    }

    /// The caller remembered for `key`, while fresh.
    pub fn get(&self, key: &[u8; 32]) -> Option<Caller> {
        let entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let found = entries.get(key)?;
        let fresh = found.changes == repo::tokens::credential_changes() && found.at.elapsed() < Self::TTL;
        fresh.then(|| found.caller.clone())
    }

    /// Remembers a lookup made when the credentials had changed `changes` times.
    pub fn put(&self, key: [u8; 32], caller: Caller, changes: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= Self::CAPACITY {
            entries.retain(|_, e| e.at.elapsed() < Self::TTL);
            if entries.len() >= Self::CAPACITY {
                entries.clear();
            }
        }
        entries.insert(key, Remembered { caller, changes, at: Instant::now() });
    }
}

/// The caller an active agent row stands for.
pub fn caller_of(agent: repo::agents::Agent) -> Result<Caller, AppError> {
    let role = agent.role.parse::<Role>().map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
    Ok(Caller { agent_id: agent.id, role, team_id: agent.team_id, name: agent.name })
}

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the password failed: {e}"))
}

/// Checks a password against a PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc)
        .map(|hash| argon2::Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
        .unwrap_or(false)
}
