//! Teams.

use diesel::prelude::*;

use crate::db::schema::teams;
use crate::db::DbConn;

/// A team row.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = teams)]
pub struct Team {
    /// Opaque id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Created, ms.
    pub created_at: i64,
    /// Updated, ms.
    pub updated_at: i64,
}

/// Inserts a team.
pub fn insert(conn: &mut DbConn, team: &Team) -> QueryResult<()> {
    diesel::insert_into(teams::table).values(team).execute(conn).map(|_| ())
}

/// One team by id.
pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Team>> {
    teams::table.find(id).select(Team::as_select()).first(conn).optional()
}

/// One team by name.
pub fn find_by_name(conn: &mut DbConn, name: &str) -> QueryResult<Option<Team>> {
    teams::table.filter(teams::name.eq(name)).select(Team::as_select()).first(conn).optional()
}

/// All teams by name.
pub fn list(conn: &mut DbConn) -> QueryResult<Vec<Team>> {
    teams::table.order(teams::name.asc()).select(Team::as_select()).load(conn)
}
