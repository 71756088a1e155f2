//! Prompt fire lateness (DESIGN.md section 11): how late the real, release-built `tendero serve` fires due
//! prompts, on SQLite or, when BENCH_DATABASE_URL names a PostgreSQL server, on PostgreSQL.
//!
//! - (a) sustained: FIRE_RATE promises due per second for FIRE_SECONDS, each at its own instant, spread evenly
//!   (default 1,000/s for 60 s = 60,000 promises);
//! - (b) burst: BURST promises due at one instant (default 100,000), and how long the scheduler takes to drain
//!   them;
//! - (c) restart at scale: RESTART_OPEN open promises (default 1,000,000, due over the 30 days from tomorrow, with
//!   their outbox rows and RESTART_EVENTS_PER_PROMISE ledger events each, default 10: `created` and effect-free
//!   reminded / prompted / acknowledged history, so the ledger holds 10,000,000 rows) plus RESTART_DUE (100) that
//!   fell due 2 s before the start: the time from spawning `tendero serve` to its first `/healthz` answer
//!   (serving) and to the last of those prompts fired (firing); then the agenda and brief latencies over that
//!   database (RESTART_READS sequential GETs each, admin token) and the server's RSS.
//!
//! Each scenario gets a fresh database: a SQLite file, or on PostgreSQL a database `fire_<scenario>_<pid>` made on the
//! BENCH_DATABASE_URL server and dropped afterwards. The team, FIRE_AGENTS agents (shift "always") and one template
//! customer are made over HTTP; customers (FIRE_PROMISES_PER_CUSTOMER promises each) and promises are then written
//! straight into the database with the library, the rows `POST /promises` writes: the promise row, its `created` ledger
//! event with its rollups, and its outbox rows through `outbox::schedule_new` (no webhook subscriptions exist, so
//! nothing else), 2,000 promises per transaction. The events go in multi-row INSERTs, and on PostgreSQL, where every
//! statement is a round trip, the customers and promises too; the outbox rows are single-row INSERTs, most of the
//! several minutes a million take there. The promises have no lead reminders, so only the `due` delivery falls inside
//! the run (overdue fires at due + 15 min). HTTP creation is left out on purpose: it is a different figure, and
//! `due_local` has whole seconds, so it could not place promises at millisecond instants. The promises are written a
//! day ahead, then shifted (due times, deliveries and `due_local`) in one transaction so the first falls due FIRE_LEAD
//! seconds later, and the server is started straight away; on PostgreSQL a `VACUUM ANALYZE` and a `CHECKPOINT` come
//! between, so the server starts on tables with statistics and without the shift's dead rows, as in service, and
//! autovacuum does not run during the measurement.
//!
//! Two figures per prompt:
//! - recorded: `prompts.fired_at - prompts.scheduled_for`, as the scheduler stores it. `fired_at` is the clock
//!   read when its batch started, so this leaves out the time to fire the rest of the batch and commit it;
//! - visible: when a second connection first saw the prompt committed, minus `scheduled_for`: when an agent's
//!   inbox could show it, give or take one poll interval (FIRE_POLL_MS, default 10). On SQLite it reads the rows
//!   added since its last poll; on PostgreSQL it listens for the `NOTIFY` the scheduler sends with each prompt in
//!   the firing transaction, which PostgreSQL delivers at commit.
//!
//! Run with `cargo bench --bench fire_lateness` (which also builds the release binary), or build the binary with
//! `cargo build --release --bin tendero` and point TENDERO_BIN at it. On PostgreSQL: `cargo build --release
//! --all-features --bin tendero`, then `BENCH_DATABASE_URL=postgres://root@127.0.0.1:5432/test cargo bench
//! --all-features --bench fire_lateness` (the role needs CREATEDB and, for `CHECKPOINT`, superuser or
//! pg_checkpoint). The report adds the CPU of the machine's `postgres` processes there.
//!
//! Env: TENDERO_BIN (default: the binary cargo built, else target/release/tendero), BENCH_DATABASE_URL (a `postgres://`
//! URL selects PostgreSQL; anything else, or none, SQLite), FIRE_RATE (1000), FIRE_SECONDS (60), BURST (100000; 0 skips
//! a scenario), FIRE_AGENTS (20), FIRE_PROMISES_PER_CUSTOMER (2), FIRE_LEAD (10; 30 on PostgreSQL), FIRE_POLL_MS (10),
//! FIRE_DIR (where the databases and server logs go; default target/fire-lateness), FIRE_KEEP=1 keeps them (and the
//! PostgreSQL databases); RESTART_OPEN (1000000; 0 skips the scenario), RESTART_DUE (100), RESTART_AGENTS (200),
//! RESTART_PER_CUSTOMER (10), RESTART_EVENTS_PER_PROMISE (10), RESTART_READS (1000).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::Utc;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde_json::{json, Value};

use tendero::clock::new_id;
use tendero::db::{schema, Backend, Db, DbConn, PoolOptions};
use tendero::domain::promise::event::Fired as FiredEvent;
use tendero::domain::promise::{lifecycle, LedgerEvent};
use tendero::error::AppError;
use tendero::repo::customers::{self, Customer};
use tendero::repo::ledger;
use tendero::repo::promises::Promise;
use tendero::settings::{Settings, Tolerances};

#[path = "../tests/support/mod.rs"]
mod support;

use support::{ScratchDatabase, Server, Tendero};

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| panic!("{name}=`{v}` is not a whole number")),
        Err(_) => default,
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(option_env!("CARGO_MANIFEST_DIR").unwrap_or("."))
}

/// Where a scenario's database lives.
enum Store {
    /// A file in the scenario's directory.
    Sqlite(PathBuf),
    /// A database made for the scenario on the BENCH_DATABASE_URL server, dropped with the run.
    Postgres(ScratchDatabase),
}

impl Store {
    fn url(&self) -> String {
        match self {
            Store::Sqlite(path) => format!("sqlite://{}", path.display()),
            Store::Postgres(database) => database.url().to_string(),
        }
    }
}

struct Run {
    dir: PathBuf,
    url: String,
    store: Store,
    tendero: Tendero,
    http: reqwest::Client,
    admin: String,
}

impl Run {
    /// A fresh directory for the server's logs and a fresh database: a file in that directory, or a database on
    /// the PostgreSQL `server`.
    fn new(bin: &Path, root: &Path, name: &str, server: Option<&str>) -> Run {
        let dir = root.join(format!("{}-{name}-{}", Utc::now().format("%Y%m%dT%H%M%S"), std::process::id()));
        std::fs::create_dir_all(&dir).expect("bench dir");
        let store = match server {
            None => Store::Sqlite(dir.join("tendero.db")),
            Some(server) => {
                let name = format!("fire_{name}_{}", std::process::id());
                Store::Postgres(ScratchDatabase::create(server, &name).expect("BENCH_DATABASE_URL answers"))
            }
        };
        let url = store.url();
        let tendero = Tendero::new(bin, &dir, &url);
        let admin = tendero.create_admin("bench@tendero.test", "Bench");
        Run { dir, url, store, tendero, http: reqwest::Client::new(), admin }
    }

    /// How the progress lines name the database.
    fn describe(&self) -> String {
        match &self.store {
            Store::Sqlite(path) => path.display().to_string(),
            Store::Postgres(database) => format!("{} on PostgreSQL", database.name()),
        }
    }

    /// Starts `tendero serve` and waits for its first `/healthz` answer (the restart scenario times this).
    async fn start(&mut self) -> Server {
        self.tendero.start(&[]).await
    }

    async fn post(&self, server: &Server, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}/api/v1{path}", server.base))
            .bearer_auth(&self.admin)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "POST {path}: {status} {body}");
        body
    }

    fn db(&self) -> Db {
        Db::connect(&self.url, &PoolOptions { max_connections: 1, busy_timeout: Duration::from_secs(30) }).expect("db")
    }

    /// A plain connection beside the server's, for the shift and for reading the results.
    fn raw(&self) -> DbConn {
        let mut c = tendero::db::establish(&self.url).expect("database connection");
        if c.backend() == Backend::Sqlite {
            c.batch_execute("PRAGMA busy_timeout = 30000;").unwrap();
        }
        c
    }

    /// The database's size on disk, MiB.
    fn size_mib(&self) -> f64 {
        let bytes = match &self.store {
            Store::Sqlite(path) => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) as f64,
            Store::Postgres(_) => count(&mut self.raw(), "SELECT pg_database_size(current_database()) AS n") as f64,
        };
        bytes / 1048576.0
    }
}

impl Drop for Run {
    /// Removes the directory (the PostgreSQL database goes with `store`), unless FIRE_KEEP is set; after a panic
    /// the directory stays for the server's logs.
    fn drop(&mut self) {
        if std::env::var("FIRE_KEEP").is_ok() {
            match &mut self.store {
                Store::Sqlite(_) => eprintln!("  kept {}", self.dir.display()),
                Store::Postgres(database) => {
                    database.keep();
                    eprintln!("  kept {} and the database {}", self.dir.display(), database.name());
                }
            }
            return;
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The team, agents and a template customer, made over HTTP on a first start (which also records the tzdata
/// version, so the measured start does not re-derive anything).
struct Cast {
    agents: Vec<String>,
    customer: Customer,
}

async fn cast(run: &mut Run, agents: usize) -> Cast {
    let server = run.start().await;
    let team = run.post(&server, "/teams", json!({ "name": "Bench" })).await["id"].as_str().unwrap().to_string();
    let mut ids = Vec::new();
    for i in 0..agents {
        let agent = run
            .post(
                &server,
                "/agents",
                json!({ "name": format!("Agent {i}"), "email": format!("agent{i}@bench.test"), "role": "agent",
                        "team_id": team, "time_zone": "UTC", "shift": "always", "locale": "en" }),
            )
            .await;
        ids.push(agent["id"].as_str().unwrap().to_string());
    }
    let customer = run
        .post(
            &server,
            "/customers",
            json!({ "name": "Template", "time_zone": "UTC", "locale": "en", "phone": "+34 976 555 000",
                    "team_id": team }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    drop(server);
    let customer = run.db().read_blocking(move |c| Ok(customers::find(c, &customer)?)).unwrap().expect("template");
    Cast { agents: ids, customer }
}

/// Inserts `rows` into `table`, as the library's repo functions do one. On PostgreSQL in multi-row INSERTs, since
/// a round trip per row is what bulk loading costs there; on SQLite one row per statement, which in-process costs
/// little, and diesel would run a batch holding NULLs (DEFAULT) in a transaction of its own, which cannot nest in
/// the one `Db::write_blocking` opened.
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {
        match $conn {
            DbConn::Sqlite(c) => {
                $rows.iter().try_for_each(|row| diesel::insert_into($table).values(row).execute(c).map(|_| ()))
            }
            #[cfg(feature = "postgres")]
            DbConn::Postgres(c) => $rows
                .chunks(tendero::repo::ROWS_PER_INSERT)
                .try_for_each(|rows| diesel::insert_into($table).values(rows).execute(c).map(|_| ())),
        }
    };
}

/// Promises written per transaction: a handful of multi-row statements each for the promises and their events,
/// and few enough rows that SQLite's writer is not held for long.
const PROMISES_PER_TRANSACTION: usize = 2_000;

/// Each of `rows`' ledger through `ledger::append_all` (multi-row INSERTs for the events, one pass over the
/// rollups' summed changes): its `created` event with its rollups, as `POST /promises` records it, then `history`
/// effect-free events (reminded, prompted, acknowledged in turn), so the ledger reaches the size of a service that
/// has run for a while without changing the rollups.
fn append_ledger(conn: &mut tendero::db::Tx<'_>, rows: &[Promise], history: usize, now: i64) -> Result<(), AppError> {
    let mut events = Vec::with_capacity(rows.len() * (history + 1));
    for p in rows {
        events.push((p, tendero::service::promises::created_event_of(p)?));
        for k in 0..history {
            let fired = FiredEvent {
                purpose: "due".into(),
                occurrence: tendero::clock::from_ms(p.due_at),
                timer_id: format!("dlv_history_{k}"),
                prompt_id: format!("pmt_history_{k}"),
                recipient: p.owner_agent_id.clone(),
                late_by_ms: 0,
                misfire: false,
            };
            events.push((
                p,
                match k % 3 {
                    0 => LedgerEvent::Reminded(FiredEvent { purpose: "lead".into(), ..fired }),
                    1 => LedgerEvent::Prompted(fired),
                    _ => lifecycle::acknowledge(&fired.prompt_id, "due", fired.occurrence),
                },
            ));
        }
    }
    ledger::append_all(conn, events, now)
}

/// Writes `offsets.len()` promises due at `base + offset` (ms), spread over agents and customers, as the API would,
/// each with `history` ledger events besides its `created` one.
fn write_promises(
    run: &Run,
    cast: &Cast,
    offsets: &[i64],
    base: i64,
    (per_customer, history): (usize, usize),
    tolerances: &Tolerances,
) {
    let db = run.db();
    let started = Instant::now();
    let now = now_ms();
    let n_customers = offsets.len().div_ceil(per_customer.max(1)).max(1);
    let customer_ids: Vec<String> = (0..n_customers).map(|_| new_id("cus")).collect();
    for (chunk_no, chunk) in customer_ids.chunks(5_000).enumerate() {
        let rows: Vec<Customer> = chunk
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let n = chunk_no * 5_000 + i;
                let mut c = cast.customer.clone();
                c.id = id.clone();
                c.name = format!("Customer {n}");
                c.owner_agent_id = Some(cast.agents[n % cast.agents.len()].clone());
                c.created_at = now;
                c.updated_at = now;
                c
            })
            .collect();
        db.write_blocking(|conn| Ok(insert_rows!(&mut **conn, schema::customers::table, &rows)?))
            .expect("insert customers");
    }
    let mut done = 0usize;
    for chunk in offsets.chunks(PROMISES_PER_TRANSACTION) {
        let rows: Vec<Promise> = chunk
            .iter()
            .enumerate()
            .map(|(j, offset)| {
                let i = done + j;
                let due_at = base + offset;
                let customer = &customer_ids[i % n_customers];
                let owner = &cast.agents[(i % n_customers) % cast.agents.len()];
                Promise {
                    id: new_id("prm"),
                    customer_id: customer.clone(),
                    owner_agent_id: owner.clone(),
                    made_by_agent_id: owner.clone(),
                    kind: "callback".into(),
                    title: format!("Te llamo ({i})"),
                    details: String::new(),
                    due_local: tendero::clock::from_ms(due_at).format("%Y-%m-%dT%H:%M:%S").to_string(),
                    time_zone: "UTC".into(),
                    disambiguation: "compatible".into(),
                    due_at,
                    due_offset_seconds: 0,
                    window_end_at: None,
                    grace_seconds: tolerances.callback_grace.num_seconds(),
                    lead_seconds: "[]".into(),
                    recurrence_cron: None,
                    recurrence_until: None,
                    status: "open".into(),
                    kept_at: None,
                    kept_on_time: None,
                    resolution_interaction_id: None,
                    resolution_note: None,
                    made_in_interaction_id: None,
                    customer_requested: true,
                    reschedule_count: 0,
                    version: 1,
                    created_at: now,
                    updated_at: now,
                    accountable_agent_id: owner.clone(),
                    team_id: None,
                    late_since: None,
                }
            })
            .collect();
        db.write_blocking(|conn| {
            insert_rows!(&mut **conn, schema::promises::table, &rows)?;
            append_ledger(conn, &rows, history, now)?;
            for p in &rows {
                tendero::service::timing::schedule_new(conn, p, tolerances, now)?;
            }
            Ok(())
        })
        .expect("insert promises");
        done += chunk.len();
    }
    eprintln!(
        "  wrote {} customers and {} promises in {:.1} s",
        n_customers,
        offsets.len(),
        started.elapsed().as_secs_f64()
    );
}

/// Moves every due time (promises and their deliveries) by `shift_ms`, keeping `due_local` in step (UTC). On
/// PostgreSQL the update leaves a dead copy of every row and makes the statistics stale, so a `VACUUM ANALYZE`
/// follows, and a `CHECKPOINT`, so no checkpoint the load and the shift asked for falls inside the measurement.
fn shift(run: &Run, shift_ms: i64) {
    let started = Instant::now();
    let mut c = run.raw();
    let (begin, due_local) = match c.backend() {
        Backend::Sqlite => {
            ("BEGIN IMMEDIATE", format!("strftime('%Y-%m-%dT%H:%M:%S', (due_at + {shift_ms}) / 1000, 'unixepoch')"))
        }
        Backend::Postgres => (
            "BEGIN",
            format!(
                "to_char(to_timestamp((due_at + {shift_ms}) / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')"
            ),
        ),
    };
    c.batch_execute(&format!(
        "{begin};
         UPDATE promises SET due_at = due_at + {shift_ms}, due_local = {due_local};
         UPDATE timers
             SET next_attempt_at = next_attempt_at + {shift_ms}, occurrence_at = occurrence_at + {shift_ms};
         COMMIT;"
    ))
    .expect("shift due times");
    if c.backend() == Backend::Postgres {
        // Each on its own: VACUUM cannot run inside the transaction a multi-statement string would make.
        c.batch_execute("VACUUM ANALYZE").expect("VACUUM ANALYZE");
        c.batch_execute("CHECKPOINT").expect("CHECKPOINT");
    }
    eprintln!("  shifted in {:.1} s", started.elapsed().as_secs_f64());
}

#[derive(QueryableByName)]
struct Fired {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = BigInt)]
    scheduled_for: i64,
    #[diesel(sql_type = BigInt)]
    fired_at: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(c: &mut DbConn, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Count>(c).map(|r| r.n).unwrap_or(0)
}

/// Notes when each prompt was first seen committed, from a connection of its own.
enum Watch {
    /// SQLite: the rows added since the last poll. Rowids follow the commit order (one writer), so the last one
    /// seen is where the next poll starts.
    Rowids { conn: SqliteConnection, last: i64 },
    /// PostgreSQL: the scheduler's `NOTIFY` for each prompt, delivered at commit. Counting or scanning `prompts`
    /// every few milliseconds would take much of a core from the server and PostgreSQL on a small machine, and
    /// text ids do not follow the commit order.
    #[cfg(feature = "postgres")]
    Notified(diesel::PgConnection),
}

#[derive(QueryableByName)]
struct Seen {
    #[diesel(sql_type = BigInt)]
    rid: i64,
    #[diesel(sql_type = Text)]
    id: String,
}

impl Watch {
    /// Starts watching; on PostgreSQL it must listen before the first prompt fires.
    fn new(run: &Run) -> Watch {
        match run.raw() {
            DbConn::Sqlite(conn) => Watch::Rowids { conn, last: 0 },
            #[cfg(feature = "postgres")]
            DbConn::Postgres(mut conn) => {
                conn.batch_execute(&format!("LISTEN {}", tendero::channels::relay::CHANNEL)).expect("LISTEN");
                Watch::Notified(conn)
            }
        }
    }

    /// Adds the prompts committed since the last poll to `seen`, with the time of this poll.
    fn poll(&mut self, seen: &mut HashMap<String, i64>) {
        let ids: Vec<String> = match self {
            Watch::Rowids { conn, last } => {
                let rows: Vec<Seen> = diesel::sql_query("SELECT rowid AS rid, id FROM prompts WHERE rowid > ?")
                    .bind::<BigInt, _>(*last)
                    .load(conn)
                    .unwrap_or_default();
                *last = rows.iter().map(|r| r.rid).max().unwrap_or(*last);
                rows.into_iter().map(|r| r.id).collect()
            }
            #[cfg(feature = "postgres")]
            Watch::Notified(conn) => conn
                .notifications_iter()
                .map(|n| n.expect("notification").payload)
                .filter_map(|p| tendero::channels::relay::parse_payload(&p).map(|(_, id)| id.to_string()))
                .collect(),
        };
        let t = now_ms();
        for id in ids {
            seen.entry(id).or_insert(t);
        }
    }
}

/// Server CPU seconds (user + system) and peak RSS in MiB, from /proc.
fn proc_usage(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks: f64 = fields.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm_kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    // USER_HZ is 100 on every Linux this runs on.
    (ticks / 100.0, hwm_kib / 1024.0)
}

/// CPU seconds (user + system) of this machine's `postgres` processes, from /proc, including the children the
/// postmaster has reaped (connections that closed): the database server's share of the work on PostgreSQL.
fn postgres_cpu() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0.0 };
    let mut ticks = 0.0;
    for pid in entries.flatten().filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()) {
        if std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim() != "postgres" {
            continue;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if let Some((_, rest)) = stat.rsplit_once(')') {
            // utime, stime, cutime, cstime.
            ticks += rest.split_whitespace().skip(11).take(4).filter_map(|v| v.parse::<f64>().ok()).sum::<f64>();
        }
    }
    ticks / 100.0
}

struct Outcome {
    expected: usize,
    first_due: i64,
    /// (scheduled_for, fired_at, visible_at)
    rows: Vec<(i64, i64, i64)>,
    unfired: i64,
    failed: i64,
    margin_ms: i64,
    cpu_s: f64,
    /// PostgreSQL's CPU over the same span; none on SQLite, whose work is inside the server.
    db_cpu_s: Option<f64>,
    wall_s: f64,
    rss_mib: f64,
}

impl Outcome {
    /// "; PostgreSQL CPU N s" for the report, on PostgreSQL.
    fn db_cpu(&self) -> String {
        self.db_cpu_s.map(|s| format!("; PostgreSQL CPU {s:.1} s")).unwrap_or_default()
    }
}

/// Writes the promises, starts the server, watches until all have fired (or the time runs out), then reads the
/// prompts back.
async fn scenario(
    bin: &Path,
    root: &Path,
    server_url: Option<&str>,
    name: &str,
    offsets: Vec<i64>,
    settings: &Settings,
) -> Outcome {
    let agents = env_u64("FIRE_AGENTS", 20) as usize;
    let per_customer = env_u64("FIRE_PROMISES_PER_CUSTOMER", 2) as usize;
    // On PostgreSQL the shift, VACUUM and CHECKPOINT of 100,000 promises take over 10 s on a small machine.
    let lead_ms = env_u64("FIRE_LEAD", if server_url.is_some() { 30 } else { 10 }) as i64 * 1000;
    let poll = Duration::from_millis(env_u64("FIRE_POLL_MS", 10));
    let tolerances = settings.tolerances().expect("tolerances");
    let mut run = Run::new(bin, root, name, server_url);
    eprintln!("{name}: {} promises, database {}", offsets.len(), run.describe());
    let cast = cast(&mut run, agents).await;
    let base = now_ms() + 86_400_000;
    write_promises(&run, &cast, &offsets, base, (per_customer, 0), &tolerances);
    let span = offsets.iter().max().copied().unwrap_or(0);
    let first_due = now_ms() + lead_ms;
    shift(&run, first_due - base);
    let mut watch = Watch::new(&run);
    let server = run.start().await;
    let margin_ms = first_due - now_ms();
    eprintln!("  server up {:.1} s before the first due time", margin_ms as f64 / 1000.0);
    let last_due = first_due + span;
    let started_at = now_ms();
    let cpu_before = proc_usage(server.pid()).0;
    let db_cpu_before = matches!(run.store, Store::Postgres(_)).then(postgres_cpu);

    let expected = offsets.len();
    // Generous: two minutes after the last due time plus 2 ms per prompt.
    let give_up = last_due + 120_000 + 2 * expected as i64;
    let mut seen: HashMap<String, i64> = HashMap::with_capacity(expected);
    let mut last_print = Instant::now();
    loop {
        watch.poll(&mut seen);
        if seen.len() >= expected || now_ms() > give_up {
            break;
        }
        if last_print.elapsed() > Duration::from_secs(10) {
            eprintln!("  {} of {expected} fired", seen.len());
            last_print = Instant::now();
        }
        tokio::time::sleep(poll).await;
    }
    let (cpu_after, rss_mib) = proc_usage(server.pid());
    drop(server);
    let stopped_at = now_ms();
    let db_cpu_s = db_cpu_before.map(|before| postgres_cpu() - before);
    drop(watch);
    let mut conn = run.raw();
    let fired: Vec<Fired> = diesel::sql_query("SELECT id, scheduled_for, fired_at FROM prompts WHERE purpose = 'due'")
        .load(&mut conn)
        .expect("read prompts");
    let unfired = count(&mut conn, "SELECT count(*) AS n FROM timers WHERE purpose = 'due' AND status = 'pending'");
    let failed = count(&mut conn, "SELECT count(*) AS n FROM timers WHERE last_error LIKE 'failed:%'");
    // Committed after the last poll (only when the run timed out): the kill is the upper bound.
    let rows =
        fired.iter().map(|f| (f.scheduled_for, f.fired_at, seen.get(&f.id).copied().unwrap_or(stopped_at))).collect();
    Outcome {
        expected,
        first_due,
        rows,
        unfired,
        failed,
        margin_ms,
        cpu_s: cpu_after - cpu_before,
        db_cpu_s,
        wall_s: (stopped_at - started_at) as f64 / 1000.0,
        rss_mib,
    }
}

/// (c): restart with a large database of open promises; returns the report lines.
async fn restart(bin: &Path, root: &Path, server_url: Option<&str>, settings: &Settings) -> Vec<String> {
    let open = env_u64("RESTART_OPEN", 1_000_000) as i64;
    let due_now = env_u64("RESTART_DUE", 100) as i64;
    let reads = env_u64("RESTART_READS", 1_000) as usize;
    let tolerances = settings.tolerances().expect("tolerances");
    let mut run = Run::new(bin, root, "restart", server_url);
    eprintln!("restart: {open} open promises + {due_now} due at the start, database {}", run.describe());
    let cast = cast(&mut run, env_u64("RESTART_AGENTS", 200) as usize).await;
    // Offsets from `base`: the due-now ones at 0, the open ones spread over 30 days from a day later.
    let day = 86_400_000i64;
    let offsets: Vec<i64> =
        (0..due_now).map(|_| 0).chain((0..open).map(|i| day + i * (30 * day) / open.max(1))).collect();
    let base = now_ms() + day;
    let load_started = Instant::now();
    // DESIGN.md's scale: 1,000,000 open promises with 10,000,000 rows in the ledger.
    let history = env_u64("RESTART_EVENTS_PER_PROMISE", 10).saturating_sub(1) as usize;
    write_promises(&run, &cast, &offsets, base, (env_u64("RESTART_PER_CUSTOMER", 10) as usize, history), &tolerances);
    let load_s = load_started.elapsed().as_secs_f64();
    let db_mib = run.size_mib();
    let events = count(&mut run.raw(), "SELECT count(*) AS n FROM promise_events");
    let pending = count(&mut run.raw(), "SELECT count(*) AS n FROM timers WHERE status = 'pending'");
    // Let the OS write the load back, so the start is not measured against a flush of gigabytes.
    let _ = Command::new("sync").status();
    shift(&run, now_ms() - 2_000 - base);
    let spawned = Instant::now();
    let server = run.start().await;
    let serving = spawned.elapsed();
    let mut conn = run.raw();
    let give_up = Instant::now() + Duration::from_secs(120);
    while count(&mut conn, "SELECT count(*) AS n FROM prompts WHERE purpose = 'due'") < due_now
        && Instant::now() < give_up
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let firing = spawned.elapsed();
    let fired = count(&mut conn, "SELECT count(*) AS n FROM prompts WHERE purpose = 'due'");
    let rss_started = proc_usage(server.pid()).1;
    // A thousand (owner, customer) pairs of random promises: whose agenda and which brief to read.
    let ids: Vec<(String, String)> = {
        #[derive(QueryableByName)]
        struct Pair {
            #[diesel(sql_type = diesel::sql_types::Text)]
            a: String,
            #[diesel(sql_type = diesel::sql_types::Text)]
            c: String,
        }
        diesel::sql_query("SELECT owner_agent_id AS a, customer_id AS c FROM promises ORDER BY random() LIMIT 1000")
            .load::<Pair>(&mut conn)
            .expect("sample")
            .into_iter()
            .map(|p| (p.a, p.c))
            .collect()
    };
    drop(conn);
    let mut lines = vec![format!(
        "(c) restart: {open} open promises + {due_now} due 2 s before the start; {events} ledger rows, {pending} \
         pending deliveries, database {db_mib:.0} MiB, written in {load_s:.0} s"
    )];
    lines.push(format!(
        "serving (spawn to first /healthz 200): {} ms; firing (spawn to the last of the {due_now} due prompts \
         recorded, {fired} fired): {} ms; RSS after start {rss_started:.0} MiB",
        serving.as_millis(),
        firing.as_millis()
    ));
    for (label, paths) in [
        (
            "agenda (GET /agents/{id}/agenda)",
            ids.iter().map(|(a, _)| format!("/api/v1/agents/{a}/agenda")).collect::<Vec<_>>(),
        ),
        (
            "brief (GET /customers/{id}/brief)",
            ids.iter().map(|(_, c)| format!("/api/v1/customers/{c}/brief")).collect(),
        ),
    ] {
        let mut ms = Vec::new();
        for i in 0..reads {
            let path = &paths[i % paths.len()];
            let t = Instant::now();
            let r = run.http.get(format!("{}{path}", server.base)).bearer_auth(&run.admin).send().await.expect("GET");
            let status = r.status();
            let _ = r.bytes().await;
            assert!(status.is_success(), "GET {path}: {status}");
            ms.push(t.elapsed().as_micros() as i64);
        }
        ms.sort_unstable();
        lines.push(format!(
            "{label}: {} sequential GETs, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms.len(),
            percentile(&ms, 50.0) as f64 / 1000.0,
            percentile(&ms, 99.0) as f64 / 1000.0,
            ms.last().copied().unwrap_or(0) as f64 / 1000.0
        ));
    }
    lines.push(format!("server peak RSS {:.0} MiB", proc_usage(server.pid()).1));
    drop(server);
    lines
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn line(label: &str, mut values: Vec<i64>) -> String {
    values.sort_unstable();
    format!(
        "| {label:<28} | {:>7} | {:>6} | {:>6} | {:>6} | {:>7} |",
        values.len(),
        percentile(&values, 50.0),
        percentile(&values, 90.0),
        percentile(&values, 99.0),
        values.last().copied().unwrap_or(0),
    )
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("{cores} cores ({model}), {}", Utc::now().format("%Y-%m-%d %H:%M UTC"))
}

fn main() {
    // `cargo bench` builds the binary beside the bench and says where; TENDERO_BIN overrides it.
    let bin = std::env::var_os("TENDERO_BIN")
        .map(PathBuf::from)
        .or_else(|| option_env!("CARGO_BIN_EXE_tendero").map(PathBuf::from))
        .unwrap_or_else(|| manifest_dir().join("target/release/tendero"));
    if !bin.is_file() {
        eprintln!(
            "fire_lateness: no tendero binary at {}.\nBuild it first with `cargo build --release --bin tendero` \
             (or point TENDERO_BIN at one).",
            bin.display()
        );
        std::process::exit(2);
    }
    // The server runs in its own directory, so relative paths would point elsewhere.
    let bin = bin.canonicalize().expect("binary path");
    let rate = env_u64("FIRE_RATE", 1_000);
    let seconds = env_u64("FIRE_SECONDS", 60);
    let burst = env_u64("BURST", 100_000);
    let root =
        std::env::var_os("FIRE_DIR").map(PathBuf::from).unwrap_or_else(|| manifest_dir().join("target/fire-lateness"));
    std::fs::create_dir_all(&root).expect("FIRE_DIR");
    let root = root.canonicalize().expect("FIRE_DIR path");
    // A PostgreSQL URL selects PostgreSQL, as in http_load; the scenarios make their databases on that server.
    let server_url = std::env::var("BENCH_DATABASE_URL").ok().filter(|u| u.starts_with("postgres"));
    if server_url.is_some() && !cfg!(feature = "postgres") {
        eprintln!("fire_lateness: BENCH_DATABASE_URL names PostgreSQL; run with `--all-features`.");
        std::process::exit(2);
    }
    let server_url = server_url.as_deref();
    // Only the promise tolerances (grace, broken-after) are taken from the settings.
    let settings = Settings::load(None).expect("settings");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");

    let mut report = Vec::new();
    let backend = server_url.map_or("SQLite".to_string(), |url| format!("PostgreSQL ({url})"));
    report.push(format!("fire lateness on {backend}, {} ({})", bin.display(), machine()));
    if rate > 0 && seconds > 0 {
        let n = rate * seconds;
        // Evenly spread: promise i is due i/rate seconds after the first.
        let offsets: Vec<i64> = (0..n).map(|i| (i * 1000 / rate) as i64).collect();
        let o = runtime.block_on(scenario(&bin, &root, server_url, "sustained", offsets, &settings));
        report.push(String::new());
        report.push(format!(
            "(a) sustained: {rate}/s for {seconds} s = {n} promises due (server up {:.1} s before the first; \
             server CPU {:.1} s in {:.0} s from start to stop{}; peak RSS {:.0} MiB)",
            o.margin_ms as f64 / 1000.0,
            o.cpu_s,
            o.wall_s,
            o.db_cpu(),
            o.rss_mib,
        ));
        report.push(format!(
            "| {:<28} | {:>7} | {:>6} | {:>6} | {:>6} | {:>7} |",
            "lateness, ms", "count", "p50", "p90", "p99", "max"
        ));
        report.push(format!("|{:-<30}|{:-<9}|{:-<8}|{:-<8}|{:-<8}|{:-<9}|", "", "", "", "", "", ""));
        report.push(line("recorded (fired_at)", o.rows.iter().map(|r| r.1 - r.0).collect()));
        report.push(line("visible (committed, polled)", o.rows.iter().map(|r| r.2 - r.0).collect()));
        report.push(format!(
            "fired {} of {}; still pending {}; failed {}",
            o.rows.len(),
            o.expected,
            o.unfired,
            o.failed
        ));
    }
    if burst > 0 {
        let offsets = vec![0i64; burst as usize];
        let o = runtime.block_on(scenario(&bin, &root, server_url, "burst", offsets, &settings));
        let recorded = o.rows.iter().map(|r| r.1).max().map(|m| m - o.first_due).unwrap_or(0);
        let visible = o.rows.iter().map(|r| r.2).max().map(|m| m - o.first_due).unwrap_or(0);
        let first_visible = o.rows.iter().map(|r| r.2).min().map(|m| m - o.first_due).unwrap_or(0);
        report.push(String::new());
        report.push(format!(
            "(b) burst: {burst} promises due at one instant (server up {:.1} s before; server CPU {:.1} s in {:.0} s \
             from start to stop{}; peak RSS {:.0} MiB)",
            o.margin_ms as f64 / 1000.0,
            o.cpu_s,
            o.wall_s,
            o.db_cpu(),
            o.rss_mib
        ));
        report.push(format!(
            "drain time: {:.2} s by fired_at (max fired_at - due), {:.2} s until the last was visible \
             (first visible after {} ms); {:.0} prompts/s",
            recorded as f64 / 1000.0,
            visible as f64 / 1000.0,
            first_visible,
            o.rows.len() as f64 / (visible.max(1) as f64 / 1000.0)
        ));
        report.push(format!(
            "fired {} of {}; still pending {}; failed {}",
            o.rows.len(),
            o.expected,
            o.unfired,
            o.failed
        ));
    }
    if env_u64("RESTART_OPEN", 1_000_000) > 0 {
        report.push(String::new());
        report.extend(runtime.block_on(restart(&bin, &root, server_url, &settings)));
    }
    let text = report.join("\n");
    println!("\n{text}");
    let _ = std::io::stdout().flush();
}
