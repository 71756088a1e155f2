//! Crash under load (DESIGN.md sections 6, 11 and 13): the real `tendero` binary serves a SQLite file while
//! several concurrent clients create promises over HTTP without pause, and it is killed with SIGKILL again and
//! again at random-ish moments, restarted each time on the same file. Every create carries an `Idempotency-Key`
//! and is retried with the same key and the same body until it gets an answer, so each key ends with exactly one
//! answer: acknowledged (2xx) or refused (4xx; a retry of a promise due a few seconds ahead can be refused as
//! "in the past" after an outage).
//!
//! After a last kill and restart the file must hold, for every acknowledged key, exactly one promise with its
//! `created` ledger event and its outbox rows; nothing for a refused key; no promise with two `created` events.
//! A third of the promises fall due a few seconds after they are made, so the scheduler fires while the kills
//! land: no delivery may yield two `prompted` events or two prompts, and every one of them that fell due is
//! prompted exactly once.
//!
//! The promises are spread over 100 customers: a prompt's card lists the customer's other open promises, all of
//! them, so thousands on one customer make every prompt that customer's whole list (see the report of this test).
//!
//! The kill schedule is drawn from a seed printed at the start; `CRASH_LOAD_SEED=<n>` replays it.
//! `CRASH_LOAD_LOG=info` raises the servers' log level; `CRASH_LOAD_KEEP=1` keeps the directory with the database
//! and the servers' logs; `CRASH_LOAD_CUSTOMERS=<n>` changes the number of customers.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DurationRound, TimeDelta, Utc};
use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, RunQueryDsl};
use serde_json::{json, Value};
use tempfile::TempDir;

use tendero::db::{Db, PoolOptions};

#[path = "support/mod.rs"]
mod support;

use support::{Server, Tendero};

/// Kills while the load runs (each followed by a restart); one more comes after the load stops.
const KILLS: usize = 5;
/// Concurrent clients creating promises.
const WRITERS: usize = 6;
/// Every third promise falls due this many seconds after it is made (the others a day later).
const NEAR_DUE_S: i64 = 3;
/// Customers the promises are spread over.
const CUSTOMERS: usize = 100;

/// A temporary directory holding one SQLite database, the server's settings, and the admin token printed by
/// `tendero admin create`.
struct Fixture {
    tendero: Tendero,
    dir: TempDir,
    url: String,
    admin: String,
    client: reqwest::Client,
}

/// The warnings and errors a server logged (JSON lines), counted by level, message and error; and whether any
/// line reports a panic.
fn log_summary(path: &Path) -> (BTreeMap<String, usize>, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut counts = BTreeMap::new();
    let mut panics = Vec::new();
    for line in text.lines() {
        if line.contains("panicked") {
            panics.push(line.to_string());
        }
        let Ok(entry) = serde_json::from_str::<Value>(line) else { continue };
        let fields = &entry["fields"];
        let key = format!(
            "{} {}: {}",
            entry["level"].as_str().unwrap_or("?"),
            fields["message"].as_str().unwrap_or(""),
            fields["error"].as_str().unwrap_or("")
        );
        *counts.entry(key).or_default() += 1;
    }
    (counts, panics)
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("tendero.db").display());
        let tendero = Tendero::new(env!("CARGO_BIN_EXE_tendero"), dir.path(), &url)
            .env("TENDERO__TELEMETRY__LEVEL", std::env::var("CRASH_LOAD_LOG").unwrap_or_else(|_| "warn".into()))
            .env("TENDERO__TELEMETRY__FORMAT", "json")
            .env("TENDERO__SERVER__WORKERS", "2")
            .ready_at("/readyz", Duration::from_secs(30));
        let admin = tendero.create_admin("boss@load.test", "Boss");
        Self { tendero, dir, url, admin, client: reqwest::Client::new() }
    }

    /// Starts `tendero serve` and waits (bounded) until `/readyz` answers.
    async fn start(&self) -> Server {
        self.tendero.start(&[]).await
    }

    /// Direct read access to the same file (WAL: reads do not disturb the server).
    fn db(&self) -> Db {
        Db::connect(&self.url, &PoolOptions { max_connections: 1, busy_timeout: Duration::from_secs(5) }).expect("db")
    }

    async fn post(&self, server: &Server, path: &str, token: &str, body: Value) -> Value {
        let response = self
            .client
            .post(format!("{}/api/v1{path}", server.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "POST {path} answered {status}: {body}");
        body
    }
}

/// How one key ended.
#[derive(Clone, Debug)]
enum Answer {
    /// 2xx with the promise id; `replayed` when the server answered from the stored first answer.
    Acked { id: String, replayed: bool },
    /// 4xx with the error code.
    Refused { status: u16, code: String },
}

#[derive(Clone, Debug)]
struct Outcome {
    key: String,
    near: bool,
    due_ms: i64,
    attempts: u32,
    /// From the first attempt to the answer, ms (outages included).
    took_ms: u64,
    answer: Answer,
}

/// Shared between the clients and the killer.
struct Load {
    base: RwLock<String>,
    stop: AtomicBool,
    outcomes: Mutex<Vec<Outcome>>,
    acked: AtomicU64,
    connection_errors: AtomicU64,
    server_errors: AtomicU64,
}

/// One client: creates promises one after another until told to stop; each key is retried (same key, same body)
/// until it gets a 2xx or a 4xx, whatever the kills do.
async fn client(n: usize, load: Arc<Load>, token: String, customers: Arc<Vec<String>>) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    let mut seq = 0u64;
    while !load.stop.load(Ordering::SeqCst) {
        seq += 1;
        let key = format!("load-{n}-{seq}");
        let customer = &customers[(seq as usize * WRITERS + n) % customers.len()];
        let near = seq.is_multiple_of(3);
        let ahead = if near { TimeDelta::seconds(NEAR_DUE_S) } else { TimeDelta::days(1) };
        let due = (Utc::now() + ahead + TimeDelta::seconds(1)).duration_trunc(TimeDelta::seconds(1)).expect("trunc");
        let body = json!({
            "customer_id": customer, "kind": "callback", "title": key, "customer_requested": true, "lead": [],
            "due_local": due.format("%Y-%m-%dT%H:%M:%S").to_string(),
        })
        .to_string();
        let started = Instant::now();
        let mut attempts = 0u32;
        let answer = loop {
            attempts += 1;
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "key {key}: no answer after {attempts} attempts in 60 s"
            );
            let url = format!("{}/api/v1/promises", load.base.read().unwrap());
            let sent = http
                .post(url)
                .bearer_auth(&token)
                .header("Idempotency-Key", &key)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await;
            let response = match sent {
                Ok(response) => response,
                Err(_) => {
                    load.connection_errors.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(25)).await;
                    continue;
                }
            };
            let status = response.status();
            let replayed = response.headers().get("Idempotent-Replayed").is_some_and(|v| v == "true");
            // The body can be cut off by a kill too: then the answer is unknown and the key is retried.
            let Ok(value) = response.json::<Value>().await else {
                load.connection_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(25)).await;
                continue;
            };
            if status.is_server_error() {
                load.server_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(25)).await;
                continue;
            }
            if status.is_success() {
                load.acked.fetch_add(1, Ordering::Relaxed);
                break Answer::Acked { id: value["id"].as_str().expect("promise id").to_string(), replayed };
            }
            let code = value["errors"][0]["code"].as_str().or(value["type"].as_str()).unwrap_or("").to_string();
            break Answer::Refused { status: status.as_u16(), code };
        };
        let took_ms = started.elapsed().as_millis() as u64;
        let due_ms = due.timestamp_millis();
        load.outcomes.lock().unwrap().push(Outcome { key, near, due_ms, attempts, took_ms, answer });
    }
}

/// A small deterministic generator for the kill schedule (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn between_ms(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(low + self.next() % (high - low))
    }
}

#[derive(QueryableByName)]
struct Row3 {
    #[diesel(sql_type = Text)]
    a: String,
    #[diesel(sql_type = Text)]
    b: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn rows(db: &Db, sql: &str) -> Vec<(String, String, i64)> {
    let sql = sql.to_string();
    db.read_blocking(move |c| Ok(diesel::sql_query(sql).load::<Row3>(c)?))
        .expect("query")
        .into_iter()
        .map(|r| (r.a, r.b, r.n))
        .collect()
}

fn count(db: &Db, sql: &str) -> i64 {
    let sql = sql.to_string();
    db.read_blocking(move |c| Ok(diesel::sql_query(sql).get_result::<Count>(c)?.n)).expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promises_acknowledged_under_load_survive_repeated_kills_exactly_once() {
    let test_started = Instant::now();
    let seed = std::env::var("CRASH_LOAD_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| Utc::now().timestamp_nanos_opt().unwrap_or(1) as u64 | 1);
    eprintln!("kill schedule seed {seed} (CRASH_LOAD_SEED={seed} replays it)");
    let mut rng = Rng(seed);

    let fx = Fixture::new();
    let mut server = fx.start().await;
    let team =
        fx.post(&server, "/teams", &fx.admin, json!({ "name": "Load" })).await["id"].as_str().unwrap().to_string();
    let agent = fx
        .post(
            &server,
            "/agents",
            &fx.admin,
            json!({ "name": "Marta Gil", "email": "marta@load.test", "role": "agent", "team_id": team,
                    "time_zone": "UTC", "shift": "always", "locale": "en" }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = fx.post(&server, &format!("/agents/{agent}/tokens"), &fx.admin, json!({ "name": "load" })).await
        ["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut customers = Vec::new();
    let n_customers = std::env::var("CRASH_LOAD_CUSTOMERS").ok().and_then(|n| n.parse().ok()).unwrap_or(CUSTOMERS);
    for i in 0..n_customers {
        let body = json!({ "name": format!("Customer {i}"), "time_zone": "UTC", "locale": "en" });
        customers.push(fx.post(&server, "/customers", &token, body).await["id"].as_str().unwrap().to_string());
    }
    let customers = Arc::new(customers);

    let load = Arc::new(Load {
        base: RwLock::new(server.base.clone()),
        stop: AtomicBool::new(false),
        outcomes: Mutex::new(Vec::new()),
        acked: AtomicU64::new(0),
        connection_errors: AtomicU64::new(0),
        server_errors: AtomicU64::new(0),
    });
    let clients: Vec<_> =
        (0..WRITERS).map(|n| tokio::spawn(client(n, load.clone(), token.clone(), customers.clone()))).collect();
    let load_started = Instant::now();

    // Kill at random-ish moments, restarting at once on the same file; the clients follow the new address.
    for k in 1..=KILLS {
        let up = rng.between_ms(1_000, 4_000);
        tokio::time::sleep(up).await;
        for c in &clients {
            assert!(!c.is_finished(), "a client stopped early (see its panic above)");
        }
        let acked_before = load.acked.load(Ordering::Relaxed);
        server.kill9();
        let killed = Instant::now();
        server = fx.start().await;
        *load.base.write().unwrap() = server.base.clone();
        eprintln!(
            "kill {k}: after {:.1} s up, {acked_before} creates acknowledged so far; restarted in {:.2} s",
            up.as_secs_f64(),
            killed.elapsed().as_secs_f64()
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    load.stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.expect("a client panicked");
    }
    let load_seconds = load_started.elapsed().as_secs_f64();

    // One more kill with the load stopped, and a last restart: then everything due must fire exactly once.
    server.kill9();
    let server = fx.start().await;
    let outcomes = load.outcomes.lock().unwrap().clone();
    let last_near_due = outcomes.iter().filter(|o| o.near).map(|o| o.due_ms).max().unwrap_or(0);
    let db = fx.db();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = Utc::now().timestamp_millis();
        let due_pending = count(
            &db,
            &format!(
                "SELECT count(*) AS n FROM timers WHERE purpose = 'due' AND status = 'pending'
                 AND next_attempt_at <= {now}"
            ),
        );
        if now > last_near_due + 1_000 && due_pending == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{due_pending} due deliveries still pending 60 s after the last restart:\n{}",
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // What the clients were told.
    let acked: HashMap<&str, (&Outcome, &str)> = outcomes
        .iter()
        .filter_map(|o| match &o.answer {
            Answer::Acked { id, .. } => Some((o.key.as_str(), (o, id.as_str()))),
            Answer::Refused { .. } => None,
        })
        .collect();
    let refused: Vec<&Outcome> = outcomes.iter().filter(|o| matches!(o.answer, Answer::Refused { .. })).collect();
    for o in &refused {
        let Answer::Refused { status, code } = &o.answer else { unreachable!() };
        // An answer that came after the due time (a retry after an outage, or a slow first answer).
        assert!(
            *status == 422 && code == "in_the_past" && o.near,
            "only a promise due within seconds may be refused, as in the past by the time it was made: {o:?}"
        );
    }
    assert!(!acked.is_empty(), "nothing was acknowledged");

    // What the file holds: promises by title (the key), their created events and their outbox rows.
    let promises = rows(&db, "SELECT id AS a, title AS b, 1 AS n FROM promises");
    let mut by_title: HashMap<&str, Vec<&str>> = HashMap::new();
    for (id, title, _) in &promises {
        by_title.entry(title.as_str()).or_default().push(id.as_str());
    }
    let created = rows(
        &db,
        "SELECT promise_id AS a, '' AS b, count(*) AS n FROM promise_events WHERE kind = 'created' GROUP BY promise_id",
    );
    let created: HashMap<&str, i64> = created.iter().map(|(id, _, n)| (id.as_str(), *n)).collect();
    let doubled_created: Vec<(&&str, &i64)> = created.iter().filter(|(_, n)| **n != 1).collect();
    assert!(doubled_created.is_empty(), "promises with more than one created event: {doubled_created:?}");
    assert_eq!(created.len(), promises.len(), "every promise has its created event, and only promises have one");
    let outbox =
        rows(&db, "SELECT promise_id AS a, purpose AS b, count(*) AS n FROM timers GROUP BY promise_id, purpose");
    let mut purposes: HashMap<&str, HashSet<&str>> = HashMap::new();
    for (id, purpose, n) in &outbox {
        assert_eq!(*n, 1, "promise {id} has {n} `{purpose}` deliveries");
        purposes.entry(id.as_str()).or_default().insert(purpose.as_str());
    }

    let mut lost = Vec::new();
    for (key, (o, id)) in &acked {
        match by_title.get(key).map(Vec::as_slice) {
            Some([one]) if one == id => {}
            other => lost.push(format!("{key} acknowledged as {id}, stored as {other:?} ({o:?})")),
        }
        assert!(created.contains_key(id), "acknowledged promise {id} ({key}) has no created event");
        let p = purposes.get(id).cloned().unwrap_or_default();
        assert!(
            ["due", "overdue", "expiry"].iter().all(|purpose| p.contains(purpose)),
            "acknowledged promise {id} ({key}) lacks outbox rows: {p:?}"
        );
    }
    assert!(lost.is_empty(), "{} acknowledged creates lost or doubled: {:?}", lost.len(), &lost[..lost.len().min(10)]);
    let phantoms: Vec<&&str> = by_title.keys().filter(|title| !acked.contains_key(**title)).collect();
    assert!(phantoms.is_empty(), "promises stored for keys that were refused or never acknowledged: {phantoms:?}");
    assert_eq!(promises.len(), acked.len());

    // Prompts: never two for one delivery, and every promise that fell due prompted exactly once.
    let prompted = rows(
        &db,
        "SELECT promise_id AS a, json_extract(data, '$.timer_id') AS b, count(*) AS n FROM promise_events
         WHERE kind = 'prompted' GROUP BY promise_id, json_extract(data, '$.timer_id')",
    );
    let doubled: Vec<_> = prompted.iter().filter(|(_, _, n)| *n > 1).collect();
    assert!(doubled.is_empty(), "deliveries with two prompted events: {doubled:?}");
    let prompt_rows =
        rows(&db, "SELECT timer_id AS a, promise_id AS b, count(*) AS n FROM prompts GROUP BY timer_id, promise_id");
    let doubled: Vec<_> = prompt_rows.iter().filter(|(_, _, n)| *n > 1).collect();
    assert!(doubled.is_empty(), "deliveries with two prompts: {doubled:?}");
    let mut prompted_per_promise: HashMap<&str, i64> = HashMap::new();
    for (promise, _, n) in &prompted {
        *prompted_per_promise.entry(promise.as_str()).or_default() += n;
    }
    let now = Utc::now().timestamp_millis();
    let mut fell_due = 0;
    for (key, (o, id)) in &acked {
        let times = prompted_per_promise.get(id).copied().unwrap_or(0);
        if o.near && o.due_ms < now {
            fell_due += 1;
            assert_eq!(times, 1, "promise {id} ({key}, due {}) prompted {times} times", o.due_ms);
        } else {
            assert_eq!(times, 0, "promise {id} ({key}) is not due yet but was prompted {times} times");
        }
    }
    assert_eq!(prompt_rows.len(), fell_due, "one prompt per promise that fell due");
    let late = rows(&db, "SELECT id AS a, purpose AS b, late_by_ms AS n FROM prompts ORDER BY late_by_ms");
    let late_ms: Vec<i64> = late.iter().map(|(_, _, n)| *n).collect();
    let misfires = count(&db, "SELECT count(*) AS n FROM prompts WHERE json_extract(card, '$.misfire') = 1");

    // Nothing panicked in any of the runs.
    let mut logged: BTreeMap<String, usize> = BTreeMap::new();
    for start in 1..=fx.tendero.starts() {
        let (counts, panics) = log_summary(&fx.dir.path().join(format!("serve-{start}.log")));
        assert!(panics.is_empty(), "serve run {start} panicked: {panics:?}");
        for (what, n) in counts {
            *logged.entry(what).or_default() += n;
        }
    }

    let mut took: Vec<u64> = outcomes.iter().map(|o| o.took_ms).collect();
    took.sort_unstable();
    let first_try: Vec<u64> = {
        let mut t: Vec<u64> = outcomes.iter().filter(|o| o.attempts == 1).map(|o| o.took_ms).collect();
        t.sort_unstable();
        t
    };
    let replayed = acked.values().filter(|(o, _)| matches!(o.answer, Answer::Acked { replayed: true, .. })).count();
    let retried = outcomes.iter().filter(|o| o.attempts > 1).count();
    eprintln!(
        "\n== crash under load: {WRITERS} clients, {KILLS} kills under load + 1 after, {} starts",
        fx.tendero.starts()
    );
    eprintln!(
        "{} creates in {load_seconds:.1} s: {} acknowledged ({} due within {NEAR_DUE_S} s), {} refused as in the past \
         by the time they were answered",
        outcomes.len(),
        acked.len(),
        acked.values().filter(|(o, _)| o.near).count(),
        refused.len()
    );
    eprintln!(
        "{retried} keys needed a retry ({} connection errors or cut-off answers, {} 5xx); {replayed} acknowledgements \
         were replays: the first attempt had committed but its answer was lost in the kill",
        load.connection_errors.load(Ordering::Relaxed),
        load.server_errors.load(Ordering::Relaxed)
    );
    eprintln!(
        "all {} acknowledged promises stored once with their created event and outbox rows; {fell_due} fell due and \
         were prompted exactly once ({misfires} marked as misfires); lateness p50 {} ms, p99 {} ms, max {} ms",
        acked.len(),
        late_ms.get(late_ms.len() / 2).copied().unwrap_or(0),
        late_ms.get((late_ms.len() * 99).div_ceil(100).saturating_sub(1)).copied().unwrap_or(0),
        late_ms.last().copied().unwrap_or(0)
    );
    eprintln!(
        "create latency, answered at the first attempt: p50 {} ms, p99 {} ms, max {} ms; all keys (outages \
         included): p99 {} ms, max {} ms",
        first_try.get(first_try.len() / 2).copied().unwrap_or(0),
        first_try.get((first_try.len() * 99).div_ceil(100).saturating_sub(1)).copied().unwrap_or(0),
        first_try.last().copied().unwrap_or(0),
        took.get((took.len() * 99).div_ceil(100).saturating_sub(1)).copied().unwrap_or(0),
        took.last().copied().unwrap_or(0)
    );
    eprintln!("server warnings/errors over all runs: {logged:?}");
    eprintln!("total test time {:.1} s", test_started.elapsed().as_secs_f64());
    drop(server);
    if std::env::var_os("CRASH_LOAD_KEEP").is_some() {
        eprintln!("kept {}", fx.dir.keep().display());
    }
}
