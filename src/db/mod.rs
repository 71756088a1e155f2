//! The database layer: one connection enum over the supported backends, the pools, the SQLite pragmas, the
//! embedded migrations and the `Db::read` / `Db::write` helpers every handler goes through.
//!
//! Handlers never see a backend: repo functions take `&mut DbConn`, which is a diesel `MultiConnection`, so a
//! second backend is one more enum variant and one more migrations folder.

pub mod schema;
pub mod tx;
pub mod wakes;

pub use tx::Tx;
pub use wakes::Wakes;

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::AppError;

/// A connection to whichever backend the database URL names.
#[cfg(feature = "postgres")]
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// The embedded default: one file, WAL, durable commits.
    Sqlite(diesel::SqliteConnection),
    /// Several instances on one server.
    Postgres(diesel::PgConnection),
}

/// A connection to whichever backend the database URL names (this build has SQLite only).
#[cfg(not(feature = "postgres"))]
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// The embedded default: one file, WAL, durable commits.
    Sqlite(diesel::SqliteConnection),
}

impl DbConn {
    /// The backend of this connection.
    pub fn backend(&self) -> Backend {
        match self {
            DbConn::Sqlite(_) => Backend::Sqlite,
            #[cfg(feature = "postgres")]
            DbConn::Postgres(_) => Backend::Postgres,
        }
    }
}

/// Which backend a URL selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://path/to/file.db`.
    Sqlite,
    /// `postgres://user@host/db`.
    Postgres,
}

impl Backend {
    /// A subquery listing the elements of a JSON array of strings bound as parameter `n` in a column `value`,
    /// for `x IN (...)` or a join in hand-written SQL: the statement stays short and its text does not depend on
    /// how many ids there are, where an `IN (?, ?, ...)` list grows with them. (diesel prepares `sql_query` text
    /// on every call, so this saves parsing, not preparing; statements run per request are typed instead.)
    pub fn json_text_array(self, n: usize) -> String {
        match self {
            Backend::Sqlite => "SELECT value FROM json_each(?)".to_string(),
            Backend::Postgres => format!("SELECT json_array_elements_text(${n}::json) AS value"),
        }
    }

    /// The bind marker of parameter `n` (1-based) in hand-written SQL: `?` for SQLite, `$n` for PostgreSQL.
    pub fn marker(self, n: usize) -> String {
        match self {
            Backend::Sqlite => "?".to_string(),
            Backend::Postgres => format!("${n}"),
        }
    }
}

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
#[cfg(feature = "postgres")]
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A parsed database URL.
#[derive(Clone, Debug)]
pub struct DatabaseUrl {
    /// The backend the scheme selects.
    pub backend: Backend,
    /// What the backend's driver is given (for SQLite, the file path).
    pub target: String,
}

impl DatabaseUrl {
    /// Parses `sqlite://PATH` or `postgres://...` (`postgresql://...`). Anything else is refused with the list of
    /// supported schemes.
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("database.url `sqlite://` needs a file path, e.g. sqlite://data/tendero.db".into());
            }
            return Ok(Self { backend: Backend::Sqlite, target: path.to_string() });
        }
        if url == "sqlite::memory:" {
            // Readers and the writer use separate connections, and each in-memory database is private to one.
            return Err("database.url: an in-memory SQLite database is not supported; use sqlite://PATH".into());
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            if cfg!(feature = "postgres") {
                return Ok(Self { backend: Backend::Postgres, target: without_loopback_tls(url) });
            }
            return Err(
                "database.url: this binary was built without PostgreSQL; build with `--features postgres`".into()
            );
        }
        Err(format!("database.url `{url}` has an unknown scheme; expected sqlite://PATH or postgres://..."))
    }
}

/// A PostgreSQL URL to a server on this machine (`localhost`, `127.0.0.1`, `[::1]`) that does not choose an
/// `sslmode` gets `sslmode=disable`.
///
/// libpq's default (`prefer`) encrypts when the server offers TLS, and Debian's server does. Over the loopback
/// interface the bytes never leave the kernel, so TLS protects nothing there, and it cost a fifth of the creation
/// throughput in `benches/http_load.rs` (786/s against 968/s). A URL that names an `sslmode` keeps it.
fn without_loopback_tls(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let (authority, query) = match rest.split_once('?') {
        Some((before, query)) => (before.split('/').next().unwrap_or(""), Some(query)),
        None => (rest.split('/').next().unwrap_or(""), None),
    };
    if query.is_some_and(|q| q.split('&').any(|pair| pair.starts_with("sslmode="))) {
        return url.to_string();
    }
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    if !matches!(host, "localhost" | "127.0.0.1" | "::1") {
        return url.to_string();
    }
    let separator = if query.is_some() { '&' } else { '?' };
    format!("{url}{separator}sslmode=disable")
}

/// Pool tuning taken from settings.
#[derive(Clone, Debug)]
pub struct PoolOptions {
    /// Connections for readers (writers always get their own single-connection pool on SQLite).
    pub max_connections: u32,
    /// How long SQLite waits on a lock held by another process before failing.
    pub busy_timeout: Duration,
}

#[derive(Debug)]
struct SqlitePragmas {
    busy_timeout_ms: u64,
}

impl CustomizeConnection<DbConn, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut DbConn) -> Result<(), diesel::r2d2::Error> {
        // WAL lets readers run beside the writer; synchronous=FULL makes every acknowledged commit durable,
        // which is what "a promise is never lost once the API answered 2xx" needs.
        conn.batch_execute(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
             PRAGMA busy_timeout = {}; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -20000;",
            self.busy_timeout_ms
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

type DbPool = Pool<ConnectionManager<DbConn>>;

/// Pooled access to the database. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    read: DbPool,
    write: DbPool,
    backend: Backend,
    /// The queue of the group-commit writers (see [`spawn_writers`]).
    writer: std::sync::mpsc::Sender<Job>,
    /// The background loops woken by what the writes add.
    wakes: std::sync::Arc<Wakes>,
}

/// What a write job tells the writer: whether its work stands, and how to answer once the group's commit is
/// known (`Err` carries why the commit failed).
type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
type Run = Box<dyn FnOnce(&mut DbConn, &mut tx::Group) -> (bool, Completion) + Send>;

/// A queued write: `run` does the work and returns whether it stands and how to answer; `abort` answers a job
/// that never got to run (no connection, no transaction).
struct Job {
    run: Run,
    abort: Box<dyn FnOnce(String) + Send>,
}

/// Most write jobs committed together on SQLite; more would delay the first one's answer for little gain.
const MAX_GROUP_SQLITE: usize = 256;

/// Most write jobs committed together on PostgreSQL: each job is a subtransaction (and the group's rollups one
/// more), and a transaction with more than 64 of them overflows the backend's cache of subtransaction ids, after
/// which every other session's snapshot checks look them up on disk.
const MAX_GROUP_POSTGRES: usize = 63;

/// PostgreSQL's writers per instance. Each runs its group's statements one round trip at a time, so one writer
/// would leave the server idle between them; a few keep it busy while their commits wait on the WAL flush. More
/// than a few only lengthen the queues on the rows they share.
const POSTGRES_WRITERS: usize = 4;

/// The group-commit writers: `count` threads, each taking the write jobs queued meanwhile (up to
/// [`MAX_GROUP_SQLITE`] or [`MAX_GROUP_POSTGRES`]) and committing them in one transaction, each job inside its
/// own savepoint. A durable commit costs a flush of the log (an fsync on SQLite with `synchronous=FULL`, the WAL
/// flush on PostgreSQL); sharing it between concurrent requests is what lets the writers keep up. A job's answer
/// is sent only after the commit, so a 2xx still means "on disk"; a job that fails rolls back to its savepoint
/// without touching the others. SQLite has one writer (it has one write lock); PostgreSQL has
/// [`POSTGRES_WRITERS`].
fn spawn_writers(
    pool: DbPool,
    backend: Backend,
    count: usize,
    flush: Flush,
) -> std::io::Result<std::sync::mpsc::Sender<Job>> {
    let (sender, receiver) = std::sync::mpsc::channel::<Job>();
    // The writers share the queue: whichever is free takes the next group.
    let receiver = std::sync::Arc::new(std::sync::Mutex::new(receiver));
    let max_group = match backend {
        Backend::Sqlite => MAX_GROUP_SQLITE,
        Backend::Postgres => MAX_GROUP_POSTGRES,
    };
    for n in 0..count {
        let (pool, receiver) = (pool.clone(), receiver.clone());
        std::thread::Builder::new().name(format!("db-writer-{n}")).spawn(move || loop {
            let jobs = {
                let queue = receiver.lock().unwrap_or_else(|p| p.into_inner());
                let Ok(first) = queue.recv() else { return };
                let mut jobs = vec![first];
                while jobs.len() < max_group {
                    match queue.try_recv() {
                        Ok(job) => jobs.push(job),
                        Err(_) => break,
                    }
                }
                jobs
            };
            run_group(&pool, backend, jobs, flush);
        })?;
    }
    Ok(sender)
}

fn run_group(pool: &DbPool, backend: Backend, jobs: Vec<Job>, flush: Flush) {
    let mut conn = match pool.get() {
        Ok(conn) => conn,
        Err(e) => {
            let why = format!("database connection: {e}");
            for job in jobs {
                fail_job(job, &why);
            }
            return;
        }
    };
    // One savepoint, reused: a job that stands is released and the savepoint opened again for the next one in the
    // same round trip; one that fails is rolled back to it, which leaves it open. (On PostgreSQL every statement
    // is a round trip, and the writers' time is mostly round trips.)
    if let Err(e) = conn.batch_execute(&format!("{}; SAVEPOINT job", begin_statement(backend))) {
        let _ = conn.batch_execute("ROLLBACK");
        let why = e.to_string();
        for job in jobs {
            fail_job(job, &why);
        }
        return;
    }
    // The group's rollup changes are held back and written once, summed, by `flush` before the commit; what the
    // repositories read once per group is kept on the group's state.
    let mut group = tx::Group::holding();
    let mut completions: Vec<Completion> = Vec::with_capacity(jobs.len());
    for job in jobs {
        let mark = group.rollups.as_ref().map_or(0, Vec::len);
        let (ok, done) = (job.run)(&mut conn, &mut group);
        completions.push(done);
        let next = if ok {
            "RELEASE job; SAVEPOINT job"
        } else {
            // The job's rows are rolled back with its savepoint; what it held goes with them, and it may have
            // changed the subscriptions before failing.
            if let Some(held) = group.rollups.as_mut() {
                held.truncate(mark);
            }
            group.memo = None;
            "ROLLBACK TO job"
        };
        if let Err(e) = conn.batch_execute(next) {
            return give_up(&mut conn, e.to_string(), completions);
        }
    }
    if let Err(e) = flush(&mut conn, group.rollups.take().unwrap_or_default()) {
        return give_up(&mut conn, format!("metric rollups: {e}"), completions);
    }
    // COMMIT releases the savepoint left open.
    let commit = conn.batch_execute("COMMIT").map_err(|e| e.to_string());
    if commit.is_err() {
        let _ = conn.batch_execute("ROLLBACK");
    }
    for done in completions {
        done(commit.clone());
    }
}

/// Gives up on a group whose transaction is in an unknown state: rolls it back and tells every job why.
fn give_up(conn: &mut DbConn, why: String, completions: Vec<Completion>) {
    let _ = conn.batch_execute("ROLLBACK");
    for done in completions {
        done(Err(why.clone()));
    }
}

/// Answers a job that never ran.
fn fail_job(job: Job, why: &str) {
    (job.abort)(why.to_string());
}

/// Wraps a write closure as a job that answers through `reply` once the commit is known.
fn job_of<T, F>(f: F, reply: impl FnOnce(Result<T, AppError>) + Send + 'static) -> Job
where
    F: FnOnce(&mut Tx<'_>) -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    type Reply<T> = Box<dyn FnOnce(Result<T, AppError>) + Send>;
    // Either `run` or `abort` answers; they share the one reply.
    let slot: std::sync::Arc<std::sync::Mutex<Option<Reply<T>>>> =
        std::sync::Arc::new(std::sync::Mutex::new(Some(Box::new(reply))));
    let for_abort = slot.clone();
    let span = tracing::Span::current();
    let run: Run = Box::new(move |conn: &mut DbConn, group: &mut tx::Group| {
        let outcome = span.in_scope(|| catch_unwind(AssertUnwindSafe(|| f(&mut Tx::new(conn, group)))));
        let ok = matches!(outcome, Ok(Ok(_)));
        let done: Completion = Box::new(move |commit: Result<(), String>| {
            let answer = match (outcome, commit) {
                (Err(_), _) => Err(AppError::Internal(anyhow::anyhow!("a write panicked; it was rolled back"))),
                (Ok(Err(e)), _) => Err(e),
                (Ok(Ok(_)), Err(why)) => Err(AppError::Unavailable(format!("the database did not commit: {why}"))),
                (Ok(Ok(value)), Ok(())) => Ok(value),
            };
            if let Some(reply) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
                reply(answer);
            }
        });
        (ok, done)
    });
    let abort = Box::new(move |why: String| {
        if let Some(reply) = for_abort.lock().unwrap_or_else(|p| p.into_inner()).take() {
            reply(Err(AppError::Unavailable(format!("the database is unavailable: {why}"))));
        }
    });
    Job { run, abort }
}

/// Writes the rollup changes a writer's group held back, just before the group commits. The rollup tables are the
/// repository's (`repo::metrics::write_held`); the writer is given the function rather than importing it, so this
/// layer depends on nothing above it.
pub type Flush = fn(&mut DbConn, Vec<crate::domain::metrics::RollupChange>) -> diesel::QueryResult<()>;

impl Db {
    /// Opens the pools for `url`, creating the SQLite file's directory when it is missing; `flush` writes a
    /// writer group's held rollups (`Db::connect` passes the repository's).
    pub fn open(url: &str, options: &PoolOptions, flush: Flush) -> anyhow::Result<Self> {
        let parsed = DatabaseUrl::parse(url).map_err(anyhow::Error::msg)?;
        match parsed.backend {
            Backend::Sqlite => {
                if let Some(dir) = std::path::Path::new(&parsed.target).parent() {
                    if !dir.as_os_str().is_empty() {
                        std::fs::create_dir_all(dir)?;
                    }
                }
                let build = |size: u32| {
                    Pool::builder()
                        .max_size(size)
                        .connection_timeout(Duration::from_secs(30))
                        .connection_customizer(Box::new(SqlitePragmas {
                            busy_timeout_ms: options.busy_timeout.as_millis() as u64,
                        }))
                        .build(ConnectionManager::<DbConn>::new(parsed.target.clone()))
                };
                // SQLite has one writer at a time; a single write connection turns lock contention into a
                // queue inside the process instead of SQLITE_BUSY errors.
                let write = build(1)?;
                let read = build(options.max_connections.max(1))?;
                let writer = spawn_writers(write.clone(), Backend::Sqlite, 1, flush)?;
                Ok(Self { read, write, backend: Backend::Sqlite, writer, wakes: Default::default() })
            }
            Backend::Postgres => {
                prepare_postgres_client();
                // PostgreSQL takes concurrent writers: row locks, `version` checks and SKIP LOCKED claims keep
                // them apart, so several writers (and several instances) write at once.
                let build = |size: u32| {
                    Pool::builder()
                        .max_size(size)
                        .connection_timeout(Duration::from_secs(30))
                        .build(ConnectionManager::<DbConn>::new(parsed.target.clone()))
                };
                // The writers hold one connection each while they run a group; the rest serve `write_blocking`.
                let write = build(options.max_connections.clamp(POSTGRES_WRITERS as u32 + 1, 16))?;
                let read = build(options.max_connections.max(1))?;
                let writer = spawn_writers(write.clone(), Backend::Postgres, POSTGRES_WRITERS, flush)?;
                Ok(Self { read, write, backend: Backend::Postgres, writer, wakes: Default::default() })
            }
        }
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The scheduler's and the sender's alarm clocks, rung by the writes made through this database's handles.
    pub fn wakes(&self) -> &Wakes {
        &self.wakes
    }

    /// Runs the embedded migrations that have not run yet; returns their names.
    pub fn migrate(&self) -> anyhow::Result<Vec<String>> {
        let mut conn = self.write.get()?;
        let applied = match &mut *conn {
            DbConn::Sqlite(c) => c
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?
                .iter()
                .map(|m| m.to_string())
                .collect(),
            #[cfg(feature = "postgres")]
            DbConn::Postgres(c) => {
                // Several instances may start at once: an advisory lock lets one migrate while the others wait.
                c.batch_execute("SELECT pg_advisory_lock(7256385)")?;
                let result = c
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(|done| done.iter().map(|m| m.to_string()).collect::<Vec<_>>())
                    .map_err(|e| anyhow::anyhow!("migration failed: {e}"));
                c.batch_execute("SELECT pg_advisory_unlock(7256385)")?;
                result?
            }
        };
        Ok(applied)
    }

    /// Runs `f` on a pooled read connection on the blocking thread pool.
    pub async fn read<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.read.clone();
        run_blocking(move || {
            let mut conn = get(&pool)?;
            f(&mut conn)
        })
        .await
    }

    /// Runs `f` as a job of the group-commit writers (see [`spawn_writers`]): inside one transaction with the
    /// other jobs of its group, in a savepoint of its own. Its changes stand when it returns `Ok` and the group
    /// commits; they are rolled back on `Err` or panic.
    pub async fn write<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let recorded = move |tx: &mut Tx<'_>| f(tx).map(|value| (value, tx.added()));
        let job = job_of(recorded, move |answer| {
            let _ = reply.send(answer);
        });
        self.writer.send(job).map_err(|_| AppError::Unavailable("the database writer has stopped".into()))?;
        let (value, added) =
            rx.await.map_err(|_| AppError::Unavailable("the database writer dropped a write".into()))??;
        self.wakes.added(added);
        Ok(value)
    }

    /// Synchronous variant of [`Db::write`] for the CLI, start-up code and tests, in a transaction of its own. On
    /// SQLite it takes the single write connection between the writer's groups (the pool has one), so writes stay
    /// one at a time.
    pub fn write_blocking<T>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T, AppError>) -> Result<T, AppError> {
        let mut conn = get(&self.write)?;
        let mut added = wakes::Added::default();
        let value = in_write_transaction(&mut conn, |conn| {
            let (value, recorded) = Tx::scoped(conn, f);
            added = recorded;
            value
        })?;
        self.wakes.added(added);
        Ok(value)
    }

    /// Synchronous variant of [`Db::read`] for the CLI and start-up code.
    pub fn read_blocking<T>(&self, f: impl FnOnce(&mut DbConn) -> Result<T, AppError>) -> Result<T, AppError> {
        let mut conn = get(&self.read)?;
        f(&mut conn)
    }
}

fn get(pool: &DbPool) -> Result<PooledConnection<ConnectionManager<DbConn>>, AppError> {
    pool.get().map_err(|e| AppError::Unavailable(format!("database connection: {e}")))
}

/// `BEGIN IMMEDIATE` on SQLite takes the write lock up front, so a transaction that reads and then writes cannot
/// fail half-way with SQLITE_BUSY when another process wrote in between. On PostgreSQL a plain transaction (read
/// committed) is enough: every change is guarded by a row's `version` or a row lock.
fn begin_statement(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "BEGIN IMMEDIATE",
        Backend::Postgres => "BEGIN",
    }
}

/// Runs `f` in one transaction: committed when it returns `Ok`, rolled back on `Err` or panic.
fn in_write_transaction<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, AppError>,
) -> Result<T, AppError> {
    conn.batch_execute(begin_statement(conn.backend()))?;
    match catch_unwind(AssertUnwindSafe(|| f(conn))) {
        Ok(Ok(value)) => {
            if let Err(e) = conn.batch_execute("COMMIT") {
                let _ = conn.batch_execute("ROLLBACK");
                return Err(e.into());
            }
            Ok(value)
        }
        Ok(Err(e)) => {
            let _ = conn.batch_execute("ROLLBACK");
            Err(e)
        }
        Err(panic) => {
            let _ = conn.batch_execute("ROLLBACK");
            resume_unwind(panic)
        }
    }
}

/// Runs blocking database work off the async workers, keeping the caller's tracing span.
async fn run_blocking<T, F>(f: F) -> Result<T, AppError>
where
    F: FnOnce() -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    let span = tracing::Span::current();
    match actix_web::rt::task::spawn_blocking(move || span.in_scope(f)).await {
        Ok(result) => result,
        Err(join) => match join.try_into_panic() {
            Ok(panic) => resume_unwind(panic),
            Err(e) => Err(AppError::Internal(anyhow::anyhow!("blocking task cancelled: {e}"))),
        },
    }
}

/// Checks that the database answers (for `/readyz` and `tendero check`).
pub fn ping(conn: &mut DbConn) -> Result<(), AppError> {
    conn.batch_execute("SELECT 1")?;
    Ok(())
}

/// Establishes a single, unpooled connection (used by `tendero check`).
pub fn establish(url: &str) -> anyhow::Result<DbConn> {
    let parsed = DatabaseUrl::parse(url).map_err(anyhow::Error::msg)?;
    if parsed.backend == Backend::Postgres {
        prepare_postgres_client();
    }
    Ok(match parsed.backend {
        Backend::Sqlite => DbConn::Sqlite(diesel::SqliteConnection::establish(&parsed.target)?),
        #[cfg(feature = "postgres")]
        Backend::Postgres => DbConn::Postgres(diesel::PgConnection::establish(&parsed.target)?),
        #[cfg(not(feature = "postgres"))]
        Backend::Postgres => anyhow::bail!("this binary was built without PostgreSQL"),
    })
}

/// The URL of database `name` on the PostgreSQL server `server_url` points at (which ends in `/DATABASE`).
pub fn database_on(server_url: &str, name: &str) -> anyhow::Result<String> {
    let (base, _) = server_url
        .rsplit_once('/')
        .filter(|(base, _)| base.contains("://"))
        .ok_or_else(|| anyhow::anyhow!("{server_url} does not end in /DATABASE"))?;
    Ok(format!("{base}/{name}"))
}

/// Initialises OpenSSL, which libpq uses for TLS, before the first connection, without its exit-time clean-up.
///
/// By default OpenSSL frees its global state in an `atexit` handler. Threads that are still inside libpq when the
/// process exits (a pool opening or closing a connection, the prompt relay reconnecting) then use freed state and
/// the process dies of SIGSEGV after its work is done (diesel-rs/diesel#3441). `openssl_sys::init` registers
/// OpenSSL with `OPENSSL_INIT_NO_ATEXIT`, which wins because OpenSSL initialises once; the memory is the
/// operating system's to reclaim at exit anyway.
pub fn prepare_postgres_client() {
    #[cfg(feature = "postgres")]
    openssl_sys::init();
}

#[cfg(test)]
mod url_tests {
    use super::without_loopback_tls as local;

    #[test]
    fn a_server_on_this_machine_is_reached_without_tls_unless_the_url_says_otherwise() {
        assert_eq!(local("postgres://root@127.0.0.1:5432/test"), "postgres://root@127.0.0.1:5432/test?sslmode=disable");
        assert_eq!(
            local("postgresql://localhost/db?application_name=t"),
            "postgresql://localhost/db?application_name=t&sslmode=disable"
        );
        assert_eq!(local("postgres://u:p@[::1]:5433/db"), "postgres://u:p@[::1]:5433/db?sslmode=disable");
        assert_eq!(
            local("postgres://root@127.0.0.1/test?sslmode=require"),
            "postgres://root@127.0.0.1/test?sslmode=require"
        );
        assert_eq!(local("postgres://root@db.example.com:5432/test"), "postgres://root@db.example.com:5432/test");
        assert_eq!(local("postgres://root@127.0.0.10/test"), "postgres://root@127.0.0.10/test");
    }
}
