//! Customers.

use diesel::prelude::*;

use crate::db::schema::customers;
use crate::db::DbConn;

/// A customer row.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = customers)]
pub struct Customer {
    /// Opaque id.
    pub id: String,
    /// Full name.
    pub name: String,
    /// Phone number as given.
    pub phone: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// IANA zone.
    pub time_zone: String,
    /// BCP 47 locale.
    pub locale: String,
    /// Weekly contact window, canonical text.
    pub contact_window: String,
    /// Preferred channel.
    pub preferred_channel: Option<String>,
    /// The shopkeeper.
    pub owner_agent_id: Option<String>,
    /// The team that serves the customer.
    pub team_id: Option<String>,
    /// Free text.
    pub notes: String,
    /// JSON array of short facts.
    pub facts: String,
    /// Id in another system.
    pub external_ref: Option<String>,
    /// Hard block on calls.
    pub do_not_call: bool,
    /// Holiday calendar region.
    pub region: Option<String>,
    /// Created, ms.
    pub created_at: i64,
    /// Updated, ms.
    pub updated_at: i64,
}

/// The fields an update may change; `None` leaves a field as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = customers)]
pub struct CustomerChanges {
    /// Name.
    pub name: Option<String>,
    /// Phone.
    pub phone: Option<Option<String>>,
    /// Email.
    pub email: Option<Option<String>>,
    /// Zone.
    pub time_zone: Option<String>,
    /// Locale.
    pub locale: Option<String>,
    /// Contact window.
    pub contact_window: Option<String>,
    /// Preferred channel.
    pub preferred_channel: Option<Option<String>>,
    /// Owner.
    pub owner_agent_id: Option<Option<String>>,
    /// Team.
    pub team_id: Option<Option<String>>,
    /// Notes.
    pub notes: Option<String>,
    /// Facts (JSON array).
    pub facts: Option<String>,
    /// External reference.
    pub external_ref: Option<Option<String>>,
    /// Do not call.
    pub do_not_call: Option<bool>,
    /// Region.
    pub region: Option<Option<String>>,
    /// Always set.
    pub updated_at: i64,
}

/// Inserts a customer.
pub fn insert(conn: &mut DbConn, customer: &Customer) -> QueryResult<()> {
    diesel::insert_into(customers::table).values(customer).execute(conn).map(|_| ())
}

/// One customer by id.
pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Customer>> {
    customers::table.find(id).select(Customer::as_select()).first(conn).optional()
}

/// Applies changes; returns whether the customer existed.
pub fn update(conn: &mut DbConn, id: &str, changes: &CustomerChanges) -> QueryResult<bool> {
    diesel::update(customers::table.find(id)).set(changes).execute(conn).map(|n| n == 1)
}

/// Makes `owner_id` the customer's shopkeeper if they have none yet; a concurrent first promise that got there
/// first keeps it. Returns whether this call set it.
pub fn adopt(conn: &mut DbConn, id: &str, owner_id: &str, now_ms: i64) -> QueryResult<bool> {
    diesel::update(customers::table.find(id).filter(customers::owner_agent_id.is_null()))
        .set((customers::owner_agent_id.eq(owner_id), customers::updated_at.eq(now_ms)))
        .execute(conn)
        .map(|n| n == 1)
}

/// A page of customers ordered by id, optionally limited to one team and a name/phone/email search.
pub fn list(
    conn: &mut DbConn,
    team_id: Option<&str>,
    search: Option<&str>,
    after_id: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Customer>> {
    let mut query = customers::table.select(Customer::as_select()).order(customers::id.asc()).limit(limit).into_boxed();
    if let Some(team) = team_id {
        query = query.filter(customers::team_id.eq(team));
    }
    if let Some(after) = after_id {
        query = query.filter(customers::id.gt(after));
    }
    if let Some(text) = search {
        // Lower-cased on both sides: SQLite's LIKE ignores ASCII case, PostgreSQL's does not.
        let pattern = format!("%{}%", text.replace(['%', '_'], "").to_lowercase());
        query = query.filter(
            lower(customers::name.nullable())
                .like(pattern.clone())
                .or(lower(customers::phone).like(pattern.clone()))
                .or(lower(customers::email).like(pattern.clone()))
                .or(lower(customers::external_ref).like(pattern)),
        );
    }
    query.load(conn)
}

diesel::define_sql_function! {
    /// SQL `lower(text)`.
    fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

/// Several customers by id (for lists that show the customer beside each promise without one query each).
pub fn find_many(conn: &mut DbConn, ids: &[String]) -> QueryResult<Vec<Customer>> {
    customers::table.filter(customers::id.eq_any(ids)).select(Customer::as_select()).load(conn)
}
