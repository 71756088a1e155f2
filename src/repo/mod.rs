//! Queries per aggregate, as plain functions over `&mut DbConn` returning diesel's `QueryResult`. No HTTP here;
//! the caller owns the transaction.

/// Rows per multi-row INSERT: far below the bind-variable limits (SQLite 32,766, PostgreSQL 65,535) for the
/// widest table, and big enough that a batch of prompts is a handful of statements.
pub const ROWS_PER_INSERT: usize = 500;

/// Runs `$body` with `$c` bound to the backend's own connection: for statements diesel's `MultiConnection`
/// cannot express (its backend has no single dialect for DEFAULT keywords or `ON CONFLICT`), while each backend
/// can. The body is compiled once per backend.
macro_rules! per_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            crate::db::DbConn::Sqlite($c) => $body,
            #[cfg(feature = "postgres")]
            crate::db::DbConn::Postgres($c) => $body,
        }
    };
}
pub(crate) use per_backend;

/// A (multi-row) INSERT of `rows` into `table`, run on the backend's own connection.
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {
        crate::repo::per_backend!($conn, |c| diesel::insert_into($table).values($rows).execute(c))
    };
}
pub(crate) use insert_rows;

/// `TABLE.status = 'pending'` written as a literal, for the outbox tables (`deliveries`, `messages`): it is the
/// predicate of their partial indexes `TABLE_pending`, and PostgreSQL uses a partial index only when it can prove
/// the query's condition implies the index's. With the status as a bound parameter, the plan PostgreSQL caches for
/// a prepared statement (a generic plan) cannot, and the claims and the next-wake queries scanned the whole table
/// on every pass.
fn pending(table: &'static str) -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql(&format!("{table}.status = 'pending'"))
}

pub mod agents;
pub mod calendar_tokens;
pub mod customers;
pub mod deliveries;
pub mod idempotency;
pub mod interactions;
pub mod messages;
pub mod metrics;
pub mod promises;
pub mod prompts;
pub mod service_state;
pub mod sessions;
pub mod teams;
pub mod tokens;
