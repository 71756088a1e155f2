//! The claim of a leased queue, written once for both queues (`timers` and `sends`): the rows due now that no live
//! lease holds are taken by one instance until its lease ends. On PostgreSQL the select skips the rows another
//! instance is claiming (`FOR UPDATE SKIP LOCKED`) instead of waiting for them; on SQLite the caller's write
//! transaction is `IMMEDIATE`, so claims are serialised by the database itself. A row whose lease ended (its
//! instance died mid-work) is claimable again, so work is done at least once; its id is the idempotency key that
//! makes a repeat harmless.
//!
//! A macro rather than a generic function: both tables have the same lease columns (`id`, `status`,
//! `next_attempt_at`, `claimed_by`, `claimed_until`, `updated_at`), and diesel's typed columns make a function
//! generic over "a table with these columns" far longer than the query it would share.

/// Claims up to `limit` due rows of `$table` for `$instance` until `$until` (ms) at `$now` (ms), ordered by
/// `$order` (a tuple of the table's columns), and returns them as `$row`, in fire order.
macro_rules! claim_due {
    ($conn:expr, $table:ident, $row:ty, order: $order:expr, $instance:expr, $now:expr, $until:expr, $limit:expr) => {{
        use diesel::prelude::*;
        use $crate::db::DbConn;
        let conn: &mut DbConn = $conn;
        let (instance, now_ms, lease_until_ms, limit): (&str, i64, i64, i64) = ($instance, $now, $until, $limit);
        let due_rows = || {
            $table::table
                .filter($crate::repo::pending(stringify!($table)))
                .filter($table::next_attempt_at.le(now_ms))
                .filter($table::claimed_until.is_null().or($table::claimed_until.lt(now_ms)))
                .order($order)
                .limit(limit)
                .select($table::id)
        };
        let due: Vec<String> = match conn {
            #[cfg(feature = "postgres")]
            DbConn::Postgres(pg) => due_rows().for_update().skip_locked().load(pg)?,
            _ => due_rows().load(conn)?,
        };
        if due.is_empty() {
            return Ok(Vec::new());
        }
        // Selected then updated inside the caller's write transaction; the lease condition is repeated so a row
        // claimed meanwhile by another process is not taken twice.
        diesel::update(
            $table::table
                .filter($table::id.eq_any(&due))
                .filter($table::claimed_until.is_null().or($table::claimed_until.lt(now_ms))),
        )
        .set(($table::claimed_by.eq(instance), $table::claimed_until.eq(lease_until_ms), $table::updated_at.eq(now_ms)))
        .execute(conn)?;
        // Read back by id: filtering on the lease columns alone would walk every pending row.
        $table::table
            .filter($table::id.eq_any(&due))
            .filter($table::claimed_by.eq(instance))
            .filter($table::claimed_until.eq(lease_until_ms))
            .filter($crate::repo::pending(stringify!($table)))
            .order($order)
            .select(<$row>::as_select())
            .load(conn)
    }};
}

pub(crate) use claim_due;
