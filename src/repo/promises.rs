//! Promises and their append-only ledger. A promise row is only ever changed together with a new ledger event,
//! and only when its `version` is the one the caller read (optimistic locking).

use diesel::prelude::*;

use crate::db::schema::{agents, customers, promise_events, promises};
use crate::db::DbConn;

/// A promise row.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = promises)]
// `None` is NULL, every nullable column's default anyway; with DEFAULT in place of a value diesel builds a
// statement whose text depends on which fields are empty, and never caches it: every create parsed it again.
#[diesel(treat_none_as_default_value = false)]
pub struct Promise {
    /// Opaque id.
    pub id: String,
    /// The customer it was made to.
    pub customer_id: String,
    /// Who is answerable for it now.
    pub owner_agent_id: String,
    /// Who made it.
    pub made_by_agent_id: String,
    /// callback | deadline | update.
    pub kind: String,
    /// What the customer was told, verbatim.
    pub title: String,
    /// Internal details.
    pub details: String,
    /// Customer wall-clock due time, `YYYY-MM-DDTHH:MM:SS`.
    pub due_local: String,
    /// IANA zone of `due_local`.
    pub time_zone: String,
    /// How `due_local` was resolved.
    pub disambiguation: String,
    /// Derived UTC instant, ms.
    pub due_at: i64,
    /// UTC offset at due, seconds.
    pub due_offset_seconds: i32,
    /// End of an agreed window, ms.
    pub window_end_at: Option<i64>,
    /// Tolerance after due, seconds.
    pub grace_seconds: i64,
    /// JSON array of lead reminder durations in seconds.
    pub lead_seconds: String,
    /// Cron in the customer's zone.
    pub recurrence_cron: Option<String>,
    /// Last instant a recurrence may fire, ms.
    pub recurrence_until: Option<i64>,
    /// open | missed | kept | broken | cancelled.
    pub status: String,
    /// When it was kept, ms.
    pub kept_at: Option<i64>,
    /// Kept within due + grace.
    pub kept_on_time: Option<bool>,
    /// The interaction that kept it.
    pub resolution_interaction_id: Option<String>,
    /// The note given when kept, cancelled or broken.
    pub resolution_note: Option<String>,
    /// The interaction in which it was made.
    pub made_in_interaction_id: Option<String>,
    /// The customer asked for this time explicitly.
    pub customer_requested: bool,
    /// How often it was rescheduled.
    pub reschedule_count: i32,
    /// Incremented on every change.
    pub version: i32,
    /// Created, ms.
    pub created_at: i64,
    /// Updated, ms.
    pub updated_at: i64,
    /// Who answers for the current due time: the owner, frozen once the due time has passed.
    pub accountable_agent_id: String,
    /// The customer's team when the promise was made.
    pub team_id: Option<String>,
    /// The passed due time an agent moved (what follows is late from then), ms.
    pub late_since: Option<i64>,
}

/// A ledger event row.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = promise_events)]
pub struct PromiseEvent {
    /// Sequence number, increasing.
    pub id: i64,
    /// The promise.
    pub promise_id: String,
    /// Its customer (for the timeline).
    pub customer_id: String,
    /// Event kind.
    pub kind: String,
    /// The agent who caused it (none for the scheduler).
    pub actor_agent_id: Option<String>,
    /// When, ms.
    pub occurred_at: i64,
    /// JSON object with the event's details.
    pub data: String,
    /// Created, ms.
    pub created_at: i64,
    /// Updated, ms (equal to created_at: the ledger is append-only).
    pub updated_at: i64,
}

/// A ledger event to append.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = promise_events)]
// `None` is NULL, the column's default anyway; SQLite takes several rows in one INSERT only when no value is
// DEFAULT.
#[diesel(treat_none_as_default_value = false)]
pub struct NewPromiseEvent<'a> {
    /// The promise.
    pub promise_id: &'a str,
    /// Its customer.
    pub customer_id: &'a str,
    /// Event kind.
    pub kind: &'a str,
    /// The agent who caused it.
    pub actor_agent_id: Option<&'a str>,
    /// When, ms.
    pub occurred_at: i64,
    /// JSON details.
    pub data: String,
    /// Created, ms.
    pub created_at: i64,
    /// Updated, ms.
    pub updated_at: i64,
}

/// Inserts a promise.
pub fn insert(conn: &mut DbConn, promise: &Promise) -> QueryResult<()> {
    diesel::insert_into(promises::table).values(promise).execute(conn).map(|_| ())
}

/// Appends a ledger event.
pub fn append_event(conn: &mut DbConn, event: &NewPromiseEvent<'_>) -> QueryResult<()> {
    diesel::insert_into(promise_events::table).values(event).execute(conn).map(|_| ())
}

/// Appends ledger events in the order given, several rows per statement (ids keep that order).
pub fn append_events(conn: &mut DbConn, events: &[NewPromiseEvent<'_>]) -> QueryResult<()> {
    for chunk in events.chunks(super::ROWS_PER_INSERT) {
        super::insert_rows!(conn, promise_events::table, chunk)?;
    }
    Ok(())
}

/// One promise by id.
pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Promise>> {
    promises::table.find(id).select(Promise::as_select()).first(conn).optional()
}

/// Writes the whole row back if its version is still `expected_version`; the row's own `version` must already
/// be the next one. Returns false when someone else changed it first.
pub fn replace_if_version(conn: &mut DbConn, promise: &Promise, expected_version: i32) -> QueryResult<bool> {
    diesel::update(promises::table.filter(promises::id.eq(&promise.id)).filter(promises::version.eq(expected_version)))
        .set((
            promises::owner_agent_id.eq(&promise.owner_agent_id),
            promises::due_local.eq(&promise.due_local),
            promises::time_zone.eq(&promise.time_zone),
            promises::disambiguation.eq(&promise.disambiguation),
            promises::due_at.eq(promise.due_at),
            promises::due_offset_seconds.eq(promise.due_offset_seconds),
            promises::window_end_at.eq(promise.window_end_at),
            promises::status.eq(&promise.status),
            promises::kept_at.eq(promise.kept_at),
            promises::kept_on_time.eq(promise.kept_on_time),
            promises::resolution_interaction_id.eq(&promise.resolution_interaction_id),
            promises::resolution_note.eq(&promise.resolution_note),
            promises::customer_requested.eq(promise.customer_requested),
            promises::reschedule_count.eq(promise.reschedule_count),
            promises::accountable_agent_id.eq(&promise.accountable_agent_id),
            promises::late_since.eq(promise.late_since),
            promises::version.eq(promise.version),
            promises::updated_at.eq(promise.updated_at),
        ))
        .execute(conn)
        .map(|n| n == 1)
}

/// The ledger of one promise, oldest first.
pub fn events_of(conn: &mut DbConn, promise_id: &str) -> QueryResult<Vec<PromiseEvent>> {
    promise_events::table
        .filter(promise_events::promise_id.eq(promise_id))
        .order(promise_events::id.asc())
        .select(PromiseEvent::as_select())
        .load(conn)
}

/// Whether a promise row is active (open or missed), as a filter of fixed shape: `eq_any` with a list is a new
/// statement for diesel each time (it does not cache those), this one stays prepared.
fn is_active(
) -> diesel::dsl::Or<diesel::dsl::Eq<promises::status, &'static str>, diesel::dsl::Eq<promises::status, &'static str>> {
    promises::status.eq("open").or(promises::status.eq("missed"))
}

/// The events of one kind of a customer's active promises, each promise's in ledger order: one statement for the
/// whole brief, which keeps one shape (and its prepared statement) however many promises the customer has.
pub fn active_events_of_customer(conn: &mut DbConn, customer_id: &str, kind: &str) -> QueryResult<Vec<PromiseEvent>> {
    promise_events::table
        .inner_join(promises::table)
        .filter(promises::customer_id.eq(customer_id))
        .filter(is_active())
        .filter(promise_events::kind.eq(kind))
        .order((promise_events::promise_id.asc(), promise_events::id.asc()))
        .select(PromiseEvent::as_select())
        .load(conn)
}

/// Who made each of a customer's active promises: (promise id, the maker's name).
pub fn active_makers_of_customer(conn: &mut DbConn, customer_id: &str) -> QueryResult<Vec<(String, String)>> {
    promises::table
        .inner_join(agents::table.on(agents::id.eq(promises::made_by_agent_id)))
        .filter(promises::customer_id.eq(customer_id))
        .filter(is_active())
        .select((promises::id, agents::name))
        .load(conn)
}

/// A customer's ledger events, newest first, that occurred at or before `at_most` (ms) when given.
pub fn events_of_customer(
    conn: &mut DbConn,
    customer_id: &str,
    at_most: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<PromiseEvent>> {
    let mut query = promise_events::table
        .filter(promise_events::customer_id.eq(customer_id))
        .order((promise_events::occurred_at.desc(), promise_events::id.desc()))
        .limit(limit)
        .select(PromiseEvent::as_select())
        .into_boxed();
    if let Some(at) = at_most {
        query = query.filter(promise_events::occurred_at.le(at));
    }
    query.load(conn)
}

/// Counts of a customer's promises per status, for the brief.
pub fn status_counts_of_customer(conn: &mut DbConn, customer_id: &str) -> QueryResult<Vec<(String, i64)>> {
    promises::table
        .filter(promises::customer_id.eq(customer_id))
        .group_by(promises::status)
        .select((promises::status, diesel::dsl::count_star()))
        .load(conn)
}

/// Filters for listing promises.
#[derive(Clone, Debug, Default)]
pub struct PromiseFilter {
    /// Owner agent.
    pub owner: Option<String>,
    /// Customer.
    pub customer: Option<String>,
    /// Kind.
    pub kind: Option<String>,
    /// Statuses (any of).
    pub statuses: Vec<String>,
    /// due_at >= this, ms.
    pub due_from: Option<i64>,
    /// due_at < this, ms.
    pub due_to: Option<i64>,
    /// Only customers of this team.
    pub team: Option<String>,
    /// Keyset cursor: strictly after (due_at, id).
    pub after: Option<(i64, String)>,
}

/// A page of promises ordered by (due_at, id).
pub fn list(conn: &mut DbConn, filter: &PromiseFilter, limit: i64) -> QueryResult<Vec<Promise>> {
    let mut query = promises::table
        .select(Promise::as_select())
        .order((promises::due_at.asc(), promises::id.asc()))
        .limit(limit)
        .into_boxed();
    if let Some(owner) = &filter.owner {
        query = query.filter(promises::owner_agent_id.eq(owner.clone()));
    }
    if let Some(customer) = &filter.customer {
        query = query.filter(promises::customer_id.eq(customer.clone()));
    }
    if let Some(kind) = &filter.kind {
        query = query.filter(promises::kind.eq(kind.clone()));
    }
    // One status as an equality: PostgreSQL then reads `promises_status_due` in due order and stops at the limit;
    // with `= ANY(...)` it fetched every row of the status and sorted them (the dashboard's broken list over
    // 1,000,000 promises: 540 ms against 8 ms).
    match filter.statuses.as_slice() {
        [] => {}
        [status] => query = query.filter(promises::status.eq(status.clone())),
        statuses => query = query.filter(promises::status.eq_any(statuses.to_vec())),
    }
    if let Some(from) = filter.due_from {
        query = query.filter(promises::due_at.ge(from));
    }
    if let Some(to) = filter.due_to {
        query = query.filter(promises::due_at.lt(to));
    }
    if let Some(team) = &filter.team {
        let team_customers = customers::table.filter(customers::team_id.eq(team.clone())).select(customers::id);
        query = query.filter(promises::customer_id.eq_any(team_customers));
    }
    if let Some((due_at, id)) = &filter.after {
        query = query
            .filter(promises::due_at.gt(*due_at).or(promises::due_at.eq(*due_at).and(promises::id.gt(id.clone()))));
    }
    query.load(conn)
}

/// An owner's active promises due before `to_ms` (overdue ones included), earliest first: the agenda.
pub fn agenda(conn: &mut DbConn, owner: &str, to_ms: i64, limit: i64) -> QueryResult<Vec<Promise>> {
    promises::table
        .filter(promises::owner_agent_id.eq(owner))
        .filter(promises::due_at.lt(to_ms))
        .filter(promises::status.eq_any(["open", "missed"]))
        .order((promises::due_at.asc(), promises::id.asc()))
        .limit(limit)
        .select(Promise::as_select())
        .load(conn)
}

/// A customer's active promises, earliest first.
pub fn active_of_customer(conn: &mut DbConn, customer_id: &str) -> QueryResult<Vec<Promise>> {
    promises::table
        .filter(promises::customer_id.eq(customer_id))
        .filter(is_active())
        .order((promises::due_at.asc(), promises::id.asc()))
        .select(Promise::as_select())
        .load(conn)
}

/// A page of active promises due after `after_ms`, ordered by id after `after_id` (for start-up passes that must
/// not hold the whole table in memory).
pub fn active_future_page(conn: &mut DbConn, after_ms: i64, after_id: &str, limit: i64) -> QueryResult<Vec<Promise>> {
    promises::table
        .filter(promises::status.eq_any(["open", "missed"]))
        .filter(promises::due_at.gt(after_ms))
        .filter(promises::id.gt(after_id))
        .order(promises::id.asc())
        .limit(limit)
        .select(Promise::as_select())
        .load(conn)
}

/// The `rescheduled` events of several promises, oldest first: the card's story of how each promise moved.
pub fn reschedules_of_many(conn: &mut DbConn, promise_ids: &[String]) -> QueryResult<Vec<PromiseEvent>> {
    promise_events::table
        .filter(promise_events::promise_id.eq_any(promise_ids))
        .filter(promise_events::kind.eq("rescheduled"))
        .order(promise_events::id.asc())
        .select(PromiseEvent::as_select())
        .load(conn)
}

/// Several promises by id.
pub fn find_many(conn: &mut DbConn, ids: &[String]) -> QueryResult<Vec<Promise>> {
    promises::table.filter(promises::id.eq_any(ids)).select(Promise::as_select()).load(conn)
}

/// One of a customer's soonest active promises, with how many active promises the customer has in all.
#[derive(Clone, Debug, QueryableByName)]
pub struct SoonestActive {
    /// The customer.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub customer_id: String,
    /// The promise.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub id: String,
    /// What the customer was told.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub title: String,
    /// Due instant, ms.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub due_at: i64,
    /// The customer's active promises in all, this one included.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub active_count: i64,
}

/// The `per_customer` soonest active promises of each customer, by (due_at, id), each with the customer's total:
/// one statement for a whole batch of cards, however many promises a busy customer has open.
pub fn soonest_active_of_customers(
    conn: &mut DbConn,
    customer_ids: &[String],
    per_customer: i64,
) -> QueryResult<Vec<SoonestActive>> {
    if customer_ids.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.backend();
    // The wanted customers drive the join (CROSS JOIN fixes the order on SQLite): the planner would otherwise
    // walk every open promise through the status index.
    let sql = format!(
        "SELECT customer_id, id, title, due_at, active_count FROM (\
         SELECT p.customer_id, p.id, p.title, p.due_at, \
         ROW_NUMBER() OVER (PARTITION BY p.customer_id ORDER BY p.due_at, p.id) AS position, \
         COUNT(*) OVER (PARTITION BY p.customer_id) AS active_count \
         FROM ({}) AS wanted CROSS JOIN promises p \
         WHERE p.customer_id = wanted.value AND p.status IN ('open', 'missed')) ranked \
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
