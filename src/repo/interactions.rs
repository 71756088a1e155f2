//! Interactions: every contact with a customer on any channel.

use diesel::prelude::*;

use crate::db::schema::interactions;
use crate::db::{DbConn, Tx};

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
    /// The customer's owner when the contact happened.
    pub owner_agent_id: Option<String>,
    /// The customer's team when the contact happened.
    pub team_id: Option<String>,
    /// The customer-local date of the contact, `YYYY-MM-DD`.
    pub local_date: Option<String>,
}

/// The customer's owner, team and local date of a contact at `occurred_at` (ms), as stored with it.
pub fn stamp(
    customer: &crate::repo::customers::Customer,
    occurred_at: i64,
) -> (Option<String>, Option<String>, Option<String>) {
    let date = customer
        .time_zone
        .parse::<chrono_tz::Tz>()
        .ok()
        .map(|zone| crate::clock::from_ms(occurred_at).with_timezone(&zone).format("%Y-%m-%d").to_string());
    (customer.owner_agent_id.clone(), customer.team_id.clone(), date)
}

/// Inserts an interaction and, for an outbound one, counts it in the continuity rollup.
pub fn insert(conn: &mut Tx<'_>, interaction: &Interaction) -> QueryResult<()> {
    diesel::insert_into(interactions::table).values(interaction).execute(&mut **conn)?;
    if interaction.direction == "outbound" {
        let day = interaction.local_date.as_deref().and_then(crate::domain::metrics::day_of_local);
        if let (Some(owner), Some(day)) = (&interaction.owner_agent_id, day) {
            let by_owner = interaction.agent_id.as_deref() == Some(owner.as_str());
            let team = interaction.team_id.as_deref().unwrap_or("");
            crate::repo::metrics::add_contact(conn, day, team, owner, by_owner)?;
        }
    }
    Ok(())
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

/// One of a customer's latest interactions, as the prompt card lists it.
#[derive(Clone, Debug, QueryableByName)]
pub struct LatestInteraction {
    /// The customer.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub customer_id: String,
    /// Channel.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub channel: String,
    /// inbound | outbound.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub direction: String,
    /// Outcome.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub outcome: String,
    /// What happened.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub summary: String,
    /// When, ms.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub occurred_at: i64,
}

/// The `per_customer` latest interactions of each customer, newest first (as [`of_customer`] orders them), in
/// one statement for a whole batch of cards.
pub fn latest_of_customers(
    conn: &mut DbConn,
    customer_ids: &[String],
    per_customer: i64,
) -> QueryResult<Vec<LatestInteraction>> {
    if customer_ids.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.backend();
    let sql = format!(
        "SELECT customer_id, channel, direction, outcome, summary, occurred_at FROM (\
         SELECT customer_id, channel, direction, outcome, summary, occurred_at, \
         ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY occurred_at DESC, id DESC) AS position \
         FROM interactions WHERE customer_id IN ({})) latest \
         WHERE position <= {} ORDER BY customer_id, position",
        backend.json_text_array(1),
        backend.marker(2)
    );
    let ids = serde_json::to_string(customer_ids).unwrap_or_else(|_| "[]".into());
    diesel::sql_query(sql)
        .bind::<diesel::sql_types::Text, _>(ids)
        .bind::<diesel::sql_types::BigInt, _>(per_customer)
        .load(conn)
}
