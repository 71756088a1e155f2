//! Agents and their absences.

use diesel::prelude::*;

use crate::db::schema::{absences, agents};
use crate::db::DbConn;

/// An agent row.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = agents)]
pub struct Agent {
    /// Opaque id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Unique login email.
    pub email: String,
    /// agent | manager | admin.
    pub role: String,
    /// Team, if any.
    pub team_id: Option<String>,
    /// IANA zone.
    pub time_zone: String,
    /// Weekly shift in canonical text form.
    pub shift: String,
    /// BCP 47 locale.
    pub locale: String,
    /// Inactive agents cannot log in or receive work.
    pub active: bool,
    /// Argon2 PHC string, when a password is set.
    pub password_hash: Option<String>,
    /// Created, ms.
    pub created_at: i64,
    /// Updated, ms.
    pub updated_at: i64,
}

/// The fields an update may change; `None` leaves a field as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = agents)]
pub struct AgentChanges {
    /// New name.
    pub name: Option<String>,
    /// New role.
    pub role: Option<String>,
    /// New team (`Some(None)` clears it).
    pub team_id: Option<Option<String>>,
    /// New zone.
    pub time_zone: Option<String>,
    /// New shift.
    pub shift: Option<String>,
    /// New locale.
    pub locale: Option<String>,
    /// Active flag.
    pub active: Option<bool>,
    /// Password hash.
    pub password_hash: Option<Option<String>>,
    /// Always set.
    pub updated_at: i64,
}

/// An absence row.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = absences)]
pub struct Absence {
    /// Opaque id.
    pub id: String,
    /// Who is away.
    pub agent_id: String,
    /// From, ms.
    pub starts_at: i64,
    /// Until (exclusive), ms.
    pub ends_at: i64,
    /// Who takes their promises.
    pub stand_in_agent_id: Option<String>,
    /// Free text.
    pub note: String,
    /// Created, ms.
    pub created_at: i64,
    /// Updated, ms.
    pub updated_at: i64,
}

/// Inserts an agent.
pub fn insert(conn: &mut DbConn, agent: &Agent) -> QueryResult<()> {
    diesel::insert_into(agents::table).values(agent).execute(conn).map(|_| ())
}

/// One agent by id.
pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Agent>> {
    agents::table.find(id).select(Agent::as_select()).first(conn).optional()
}

/// One agent by email.
pub fn find_by_email(conn: &mut DbConn, email: &str) -> QueryResult<Option<Agent>> {
    agents::table.filter(agents::email.eq(email)).select(Agent::as_select()).first(conn).optional()
}

/// Agents, optionally of one team, by name.
pub fn list(conn: &mut DbConn, team_id: Option<&str>) -> QueryResult<Vec<Agent>> {
    let mut query = agents::table.select(Agent::as_select()).order((agents::name.asc(), agents::id.asc())).into_boxed();
    if let Some(team) = team_id {
        query = query.filter(agents::team_id.eq(team));
    }
    query.load(conn)
}

/// The active managers of a team (fallback recipients when an owner is away).
pub fn managers_of(conn: &mut DbConn, team_id: &str) -> QueryResult<Vec<Agent>> {
    agents::table
        .filter(agents::team_id.eq(team_id))
        .filter(agents::role.eq("manager"))
        .filter(agents::active.eq(true))
        .select(Agent::as_select())
        .order(agents::name.asc())
        .load(conn)
}

/// Applies changes to an agent; returns whether it existed.
pub fn update(conn: &mut DbConn, id: &str, changes: &AgentChanges) -> QueryResult<bool> {
    // Role, team, name and being active are all part of who a token stands for.
    super::tokens::credentials_changed();
    diesel::update(agents::table.find(id)).set(changes).execute(conn).map(|n| n == 1)
}

/// Inserts an absence.
pub fn insert_absence(conn: &mut DbConn, absence: &Absence) -> QueryResult<()> {
    diesel::insert_into(absences::table).values(absence).execute(conn).map(|_| ())
}

/// An agent's absences that end after `from_ms`, earliest first.
pub fn absences_of(conn: &mut DbConn, agent_id: &str, from_ms: i64) -> QueryResult<Vec<Absence>> {
    absences::table
        .filter(absences::agent_id.eq(agent_id))
        .filter(absences::ends_at.gt(from_ms))
        .order(absences::starts_at.asc())
        .select(Absence::as_select())
        .load(conn)
}

/// The absence covering an instant, if any.
pub fn absence_at(conn: &mut DbConn, agent_id: &str, at_ms: i64) -> QueryResult<Option<Absence>> {
    absences::table
        .filter(absences::agent_id.eq(agent_id))
        .filter(absences::starts_at.le(at_ms))
        .filter(absences::ends_at.gt(at_ms))
        .order(absences::starts_at.desc())
        .select(Absence::as_select())
        .first(conn)
        .optional()
}

/// Several agents by id.
pub fn find_many(conn: &mut DbConn, ids: &[String]) -> QueryResult<Vec<Agent>> {
    agents::table.filter(agents::id.eq_any(ids)).select(Agent::as_select()).load(conn)
}

/// The active managers of several teams, by name (as [`managers_of`] orders them).
pub fn managers_of_teams(conn: &mut DbConn, team_ids: &[String]) -> QueryResult<Vec<Agent>> {
    agents::table
        .filter(agents::team_id.eq_any(team_ids))
        .filter(agents::role.eq("manager"))
        .filter(agents::active.eq(true))
        .select(Agent::as_select())
        .order(agents::name.asc())
        .load(conn)
}

/// The absences of several agents covering an instant, latest start first (the first per agent is the one
/// [`absence_at`] returns).
pub fn absences_at(conn: &mut DbConn, agent_ids: &[String], at_ms: i64) -> QueryResult<Vec<Absence>> {
    absences::table
        .filter(absences::agent_id.eq_any(agent_ids))
        .filter(absences::starts_at.le(at_ms))
        .filter(absences::ends_at.gt(at_ms))
        .order(absences::starts_at.desc())
        .select(Absence::as_select())
        .load(conn)
}
