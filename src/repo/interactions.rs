//! Interactions: every contact with a customer on any channel.

use diesel::prelude::*;

use crate::db::schema::interactions;
use crate::db::DbConn;

/// An interaction row.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = interactions)]
pub struct Interaction {
    /// Opaque id.
    pub id: String,
    /// The customer.
    pub customer_id: String,
    /// The agent (none for inbound messages nobody has handled yet).
    pub agent_id: Option<String>,
    /// Channel.
    pub channel: String,
    /// inbound | outbound.
    pub direction: String,
    /// Outcome.
    pub outcome: String,
    /// What happened, in the agent's words.
    pub summary: String,
    /// When, ms.
    pub occurred_at: i64,
    /// The promise this contact fulfils, if any.
    pub promise_id: Option<String>,
    /// Created, ms.
    pub created_at: i64,
    /// Updated, ms.
    pub updated_at: i64,
}

/// Inserts an interaction.
pub fn insert(conn: &mut DbConn, interaction: &Interaction) -> QueryResult<()> {
    diesel::insert_into(interactions::table).values(interaction).execute(conn).map(|_| ())
}

/// One interaction by id.
pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Interaction>> {
    interactions::table.find(id).select(Interaction::as_select()).first(conn).optional()
}

/// A customer's interactions, newest first, that occurred at or before `at_most` (ms) when given.
pub fn of_customer(
    conn: &mut DbConn,
    customer_id: &str,
    at_most: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<Interaction>> {
    let mut query = interactions::table
        .filter(interactions::customer_id.eq(customer_id))
        .order((interactions::occurred_at.desc(), interactions::id.desc()))
        .limit(limit)
        .select(Interaction::as_select())
        .into_boxed();
    if let Some(at) = at_most {
        query = query.filter(interactions::occurred_at.le(at));
    }
    query.load(conn)
}
