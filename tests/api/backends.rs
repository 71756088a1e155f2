//! The two backends: the suite runs on the one it was asked for, and both migration folders build the same
//! schema (tables, columns with their types and nullability, named indexes).

use std::collections::BTreeSet;

use diesel::sql_types::{Integer, Text};
use diesel::{QueryableByName, RunQueryDsl};
use tendero::db::{Backend, Db, PoolOptions};

use crate::helpers::{at, on_postgres, postgres_from_env, spawn_app_at};

#[actix_web::test]
async fn the_suite_runs_on_the_backend_it_was_asked_for() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let expected = if on_postgres() { Backend::Postgres } else { Backend::Sqlite };
    assert_eq!(app.db.backend(), expected);
    // CI asks for the PostgreSQL pass explicitly; without a server it must fail, not quietly run on SQLite.
    if std::env::var("TENDERO_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
        assert!(on_postgres(), "TENDERO_REQUIRE_POSTGRES=1 but TEST_DATABASE_URL does not name a PostgreSQL server");
    }
}

#[derive(QueryableByName, Debug)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Integer)]
    not_null: i32,
}

#[derive(QueryableByName, Debug)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// (table, column, type, not null), with types in PostgreSQL's words.
type Schema = (BTreeSet<(String, String, String, bool)>, BTreeSet<String>);

fn sqlite_schema(db: &Db) -> Schema {
    db.read_blocking(|conn| {
        let columns: Vec<Column> = diesel::sql_query(
            "SELECT m.name AS table_name, c.name AS column_name, c.type AS data_type, \
             (c.\"notnull\" OR c.pk) AS not_null \
             FROM sqlite_master m JOIN pragma_table_info(m.name) c \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '__diesel_schema_migrations'",
        )
        .load(conn)?;
        let indexes: Vec<Name> = diesel::sql_query(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%'",
        )
        .load(conn)?;
        let columns = columns
            .into_iter()
            .map(|c| {
                // SQLite's INTEGER PRIMARY KEY is the 64-bit rowid, PostgreSQL's BIGSERIAL a bigint.
                let kind = match (c.data_type.to_lowercase().as_str(), c.column_name.as_str(), c.table_name.as_str()) {
                    ("integer", "id", "promise_events") => "bigint".to_string(),
                    (other, _, _) => other.to_string(),
                };
                (c.table_name, c.column_name, kind, c.not_null != 0)
            })
            .collect();
        Ok((columns, indexes.into_iter().map(|i| i.name).collect()))
    })
    .expect("sqlite schema")
}

fn postgres_schema(db: &Db) -> Schema {
    db.read_blocking(|conn| {
        let columns: Vec<Column> = diesel::sql_query(
            "SELECT table_name::text AS table_name, column_name::text AS column_name, data_type::text AS data_type, \
             CASE WHEN is_nullable = 'NO' THEN 1 ELSE 0 END AS not_null \
             FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
        )
        .load(conn)?;
        // Primary keys and UNIQUE constraints get generated names on both sides; named indexes must match.
        let indexes: Vec<Name> = diesel::sql_query(
            "SELECT indexname::text AS name FROM pg_indexes WHERE schemaname = 'public' \
             AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_key'",
        )
        .load(conn)?;
        let columns =
            columns.into_iter().map(|c| (c.table_name, c.column_name, c.data_type, c.not_null != 0)).collect();
        Ok((columns, indexes.into_iter().map(|i| i.name).collect()))
    })
    .expect("postgres schema")
}

#[test]
fn both_migration_folders_build_the_same_schema() {
    let Some(database) = postgres_from_env() else {
        // Runs in the PostgreSQL pass (`TEST_DATABASE_URL`), which CI makes mandatory.
        eprintln!("skipped here: TEST_DATABASE_URL is not set");
        return;
    };
    let options = PoolOptions { max_connections: 2, busy_timeout: std::time::Duration::from_secs(5) };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Db::connect(&format!("sqlite://{}", dir.path().join("schema.db").display()), &options).unwrap();
    sqlite.migrate().unwrap();
    let postgres = Db::connect(database.url(), &options).unwrap();
    postgres.migrate().unwrap();
    let (lite_columns, lite_indexes) = sqlite_schema(&sqlite);
    let (pg_columns, pg_indexes) = postgres_schema(&postgres);
    assert!(lite_columns.len() > 100, "the schema was read: {} columns", lite_columns.len());
    let only_lite: Vec<_> = lite_columns.difference(&pg_columns).collect();
    let only_pg: Vec<_> = pg_columns.difference(&lite_columns).collect();
    assert!(
        only_lite.is_empty() && only_pg.is_empty(),
        "columns differ:\nSQLite only {only_lite:#?}\nPostgreSQL only {only_pg:#?}"
    );
    assert_eq!(lite_indexes, pg_indexes, "named indexes differ");
}
