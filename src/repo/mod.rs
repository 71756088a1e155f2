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

/// `TABLE.status = 'pending'` written as a literal, for the queue tables (`timers`, `sends`): it is the
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
pub mod idempotency;
pub mod interactions;
mod lease;
pub mod ledger;
pub mod metrics;
pub mod promises;
pub mod prompts;
pub mod sends;
pub mod service_state;
pub mod sessions;
pub mod stored;
pub mod subscriptions;
pub mod teams;
pub mod timers;
pub mod tokens;

impl crate::db::Db {
    /// Opens the pools for `url` (see [`crate::db::Db::open`]) with the repository's rollup writer for the
    /// writers' groups.
    pub fn connect(url: &str, options: &crate::db::PoolOptions) -> anyhow::Result<crate::db::Db> {
        crate::db::Db::open(url, options, metrics::write_held)
    }
}

/// The group-commit writer run with the repositories' writes: failures and panics in a group, rollups held for a
/// group, subscriptions read once per group.
#[cfg(test)]
mod group_commit_tests {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::time::Duration;

    use crate::db::{Db, PoolOptions, Tx};
    use crate::error::AppError;
    use crate::repo::service_state;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_or_panicking_write_in_a_group_leaves_the_others_committed() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("group.db").display());
        let db = Db::connect(&url, &PoolOptions { max_connections: 2, busy_timeout: Duration::from_secs(5) }).unwrap();
        db.migrate().unwrap();
        let mut tasks = Vec::new();
        for i in 0..60 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                db.write(move |conn| {
                    service_state::set(conn, &format!("key{i}"), "written", 0)?;
                    if i % 5 == 0 {
                        return Err(AppError::conflict("refused after writing"));
                    }
                    if i == 7 {
                        panic!("a write that panics after writing");
                    }
                    Ok(i)
                })
                .await
            }));
        }
        let mut ok = 0;
        for (i, task) in tasks.into_iter().enumerate() {
            match task.await.unwrap() {
                Ok(value) => {
                    assert_eq!(value, i);
                    ok += 1;
                }
                Err(AppError::Conflict { .. }) => assert_eq!(i % 5, 0),
                Err(AppError::Internal(_)) => assert_eq!(i, 7),
                Err(other) => panic!("write {i}: {other}"),
            }
        }
        assert_eq!(ok, 60 - 12 - 1);
        for i in 0..60 {
            let stored = db.read_blocking(move |conn| Ok(service_state::get(conn, &format!("key{i}"))?)).unwrap();
            assert_eq!(stored.is_some(), i % 5 != 0 && i != 7, "key{i}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn subscriptions_read_once_per_group_are_those_the_job_would_read_itself() {
        use crate::db::schema::webhook_subscriptions;
        use crate::repo::subscriptions::{self, Subscription};
        use diesel::prelude::*;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("subscriptions.db").display());
        let db = Db::connect(&url, &PoolOptions { max_connections: 2, busy_timeout: Duration::from_secs(5) }).unwrap();
        db.migrate().unwrap();
        // Every other write subscribes, every third fails after reading (its subscription rolled back), and each one
        // compares what the group's memo gives with a count of its own.
        let tasks: Vec<_> = (0..90)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.write(move |conn| {
                        if i % 2 == 0 {
                            let sub = Subscription {
                                id: format!("whs_{i}"),
                                url: "http://127.0.0.1:9/hook".into(),
                                events: "[]".into(),
                                secret: "whsec_test".into(),
                                active: true,
                                created_at: i as i64,
                                updated_at: i as i64,
                            };
                            subscriptions::insert(conn, &sub)?;
                        }
                        if i % 10 == 5 {
                            subscriptions::deactivate(conn, &format!("whs_{}", i - 1), 0)?;
                        }
                        let seen = subscriptions::active(conn)?.len() as i64;
                        let counted: i64 = webhook_subscriptions::table
                            .filter(webhook_subscriptions::active.eq(true))
                            .count()
                            .get_result(&mut **conn)?;
                        if i % 3 == 0 {
                            return Err(AppError::conflict("refused after subscribing"));
                        }
                        Ok((seen, counted))
                    })
                    .await
                })
            })
            .collect();
        let mut stood = 0;
        for (i, task) in tasks.into_iter().enumerate() {
            match task.await.unwrap() {
                Ok((seen, counted)) => {
                    assert_eq!(seen, counted, "write {i} was given stale subscriptions");
                    stood += 1;
                }
                Err(AppError::Conflict { .. }) => assert_eq!(i % 3, 0),
                Err(other) => panic!("write {i}: {other}"),
            }
        }
        assert_eq!(stood, 60);
        let ids: Vec<String> =
            db.read_blocking(|conn| Ok(subscriptions::read_active(conn)?.into_iter().map(|s| s.id).collect())).unwrap();
        // What stands is what the writes that stood subscribed, less some they deactivated (which ones depends on
        // the order the writes ran in).
        let subscribed: Vec<String> =
            (0..90).filter(|i| i % 2 == 0 && i % 3 != 0).map(|i| format!("whs_{i}")).collect();
        assert!(ids.len() >= subscribed.len() - 6, "{ids:?}");
        assert!(ids.iter().all(|id| subscribed.contains(id)), "a refused write's subscription stood: {ids:?}");
    }

    /// The changes one numbered write makes to the rollups, and whether it then fails or panics.
    fn rollup_write(conn: &mut Tx<'_>, i: usize) -> Result<usize, AppError> {
        use crate::domain::metrics::{Counts, Delta, Key};
        let key = Key {
            day: 20_400 + (i % 9) as i32,
            team_id: format!("team{}", i % 2),
            agent_id: format!("agent{}", i % 5),
            kind: "callback".into(),
        };
        let counts = Counts { pending: 1, kept_late: i.is_multiple_of(4) as i64, ..Counts::default() };
        let lateness = i.is_multiple_of(4).then_some((i as i64 % 6, 1));
        crate::repo::metrics::apply(conn, &[Delta { key: key.clone(), counts, lateness }])?;
        crate::repo::metrics::add_contact(conn, key.day, &key.team_id, &key.agent_id, i.is_multiple_of(3))?;
        if i.is_multiple_of(7) {
            return Err(AppError::conflict("refused after counting"));
        }
        if i == 11 {
            panic!("a write that panics after counting");
        }
        Ok(i)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rollups_held_for_a_group_equal_the_same_writes_made_one_by_one() {
        let dir = tempfile::tempdir().unwrap();
        let options = PoolOptions { max_connections: 2, busy_timeout: Duration::from_secs(5) };
        let grouped = Db::connect(&format!("sqlite://{}", dir.path().join("grouped.db").display()), &options).unwrap();
        let alone = Db::connect(&format!("sqlite://{}", dir.path().join("alone.db").display()), &options).unwrap();
        grouped.migrate().unwrap();
        alone.migrate().unwrap();
        let tasks: Vec<_> = (0..120)
            .map(|i| {
                let db = grouped.clone();
                tokio::spawn(async move { db.write(move |conn| rollup_write(conn, i)).await.is_ok() })
            })
            .collect();
        let mut stood = 0;
        for (i, task) in tasks.into_iter().enumerate() {
            let ok = task.await.unwrap();
            assert_eq!(ok, !i.is_multiple_of(7) && i != 11, "write {i}");
            stood += usize::from(ok);
            // The same write on its own, in a transaction of its own.
            let _ = catch_unwind(AssertUnwindSafe(|| alone.write_blocking(|conn| rollup_write(conn, i))));
        }
        assert_eq!(stood, 120 - 18 - 1);
        let stored = |db: &Db| db.read_blocking(|conn| Ok(crate::repo::metrics::stored(conn)?)).unwrap();
        let (grouped, alone) = (stored(&grouped), stored(&alone));
        assert_eq!(grouped.days.values().map(|c| c.pending).sum::<i64>(), stood as i64);
        assert_eq!(grouped.contacts_weeks.values().map(|c| c.0).sum::<i64>(), stood as i64);
        assert!(!grouped.lateness_weeks.is_empty());
        assert_eq!(grouped, alone);
    }
}
