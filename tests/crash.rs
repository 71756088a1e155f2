//! Crash tests (DESIGN.md section 13): the real `tendero` binary is killed with SIGKILL while prompts are due or
//! while the scheduler is firing them, then restarted on the same SQLite file. Every due prompt must reach the
//! ledger exactly once: none lost, none doubled; the ones that fire after the outage are marked as misfires.
//!
//! The server runs as a child process in a temporary directory (so no `config/local.toml` leaks in) with
//! `scheduler.misfire_after = PT1S`. Children are killed when a test ends, whether it passed or not.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use diesel::prelude::*;
use serde_json::{json, Value};
use tempfile::TempDir;

use tendero::db::schema::{prompts, timers};
use tendero::db::{Db, PoolOptions};

#[path = "support/mod.rs"]
mod support;

use support::{Server, Tendero};

/// A temporary directory holding one SQLite database, the server's settings, and the admin token printed by
/// `tendero admin create`.
struct Fixture {
    tendero: Tendero,
    _dir: TempDir,
    url: String,
    admin: String,
    client: reqwest::Client,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("tendero.db").display());
        let tendero = Tendero::new(env!("CARGO_BIN_EXE_tendero"), dir.path(), &url)
            .env("TENDERO__SCHEDULER__MISFIRE_AFTER", "PT1S")
            .env("TENDERO__SERVER__WORKERS", "2")
            .ready_at("/healthz", Duration::from_secs(30));
        let admin = tendero.create_admin("boss@crash.test", "Boss");
        Self { tendero, _dir: dir, url, admin, client: reqwest::Client::new() }
    }

    /// Starts `tendero serve` with these extra settings and waits (bounded) until `/healthz` answers.
    async fn start(&self, env: &[(&str, &str)]) -> Server {
        self.tendero.start(env).await
    }

    /// Direct read access to the same file (WAL: reads do not disturb the server).
    fn db(&self) -> Db {
        Db::connect(&self.url, &PoolOptions { max_connections: 1, busy_timeout: Duration::from_secs(5) }).expect("db")
    }

    async fn post(&self, server: &Server, path: &str, token: &str, body: Value) -> Value {
        let response = self
            .client
            .post(server.api(path))
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

    async fn get(&self, server: &Server, path: &str, token: &str) -> Value {
        let response = self
            .client
            .get(server.api(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "GET {path} answered {status}: {body}");
        body
    }
}

/// A team, an agent who is always on shift, that agent's token and a customer in UTC.
struct Desk {
    agent_token: String,
    customer: String,
}

async fn desk(fx: &Fixture, server: &Server) -> Desk {
    let team =
        fx.post(server, "/teams", &fx.admin, json!({ "name": "Crash" })).await["id"].as_str().unwrap().to_string();
    let agent = fx
        .post(
            server,
            "/agents",
            &fx.admin,
            json!({ "name": "Marta Gil", "email": "marta@crash.test", "role": "agent", "team_id": team,
                    "time_zone": "UTC", "shift": "always", "locale": "en" }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = fx.post(server, &format!("/agents/{agent}/tokens"), &fx.admin, json!({ "name": "crash" })).await
        ["token"]
        .as_str()
        .unwrap()
        .to_string();
    let customer = fx
        .post(
            server,
            "/customers",
            &token,
            json!({ "name": "Víctor Lanuza", "time_zone": "UTC", "locale": "en", "phone": "+34 976 555 014" }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    Desk { agent_token: token, customer }
}

/// Creates `n` callbacks due at `due` (whole seconds, UTC), `concurrency` requests at a time; returns their ids.
async fn promises_due(
    fx: &Fixture,
    server: &Server,
    desk: &Desk,
    n: usize,
    due: DateTime<Utc>,
    concurrency: usize,
) -> Vec<String> {
    use futures_util::StreamExt;
    let due_local = due.format("%Y-%m-%dT%H:%M:%S").to_string();
    let started = Instant::now();
    let ids: Vec<String> =
        futures_util::stream::iter(0..n)
            .map(|i| {
                let body = json!({
                    "customer_id": desk.customer, "kind": "callback", "title": format!("Callback {i}"),
                    "due_local": due_local, "customer_requested": true, "lead": [],
                });
                async move {
                    fx.post(server, "/promises", &desk.agent_token, body).await["id"].as_str().unwrap().to_string()
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), n);
    eprintln!("created {n} promises due at {due} in {:?}", started.elapsed());
    ids
}

/// The next whole second at least `ahead` from now.
fn whole_second_after(ahead: TimeDelta) -> DateTime<Utc> {
    (Utc::now() + ahead + TimeDelta::seconds(1)).duration_trunc(TimeDelta::seconds(1)).expect("truncate")
}

async fn sleep_until(at: DateTime<Utc>) {
    if let Ok(wait) = (at - Utc::now()).to_std() {
        tokio::time::sleep(wait).await;
    }
}

/// Due prompts stored so far (committed rows only).
fn due_prompt_rows(db: &Db) -> i64 {
    db.read_blocking(|conn| Ok(prompts::table.filter(prompts::purpose.eq("due")).count().get_result::<i64>(conn)?))
        .expect("count prompts")
}

/// Waits (bounded) until no `due` delivery is pending any more: the restarted scheduler has fired them all.
async fn wait_until_fired(db: &Db, server: &Server, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let pending = db
            .read_blocking(|conn| {
                Ok(timers::table
                    .filter(timers::purpose.eq("due"))
                    .filter(timers::status.eq("pending"))
                    .count()
                    .get_result::<i64>(conn)?)
            })
            .expect("count deliveries");
        if pending == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{pending} due deliveries still pending after {timeout:?}:\n{}",
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `prompted` ledger events of each promise, read over HTTP.
async fn prompted_events(fx: &Fixture, server: &Server, token: &str, ids: &[String]) -> HashMap<String, Vec<Value>> {
    use futures_util::StreamExt;
    futures_util::stream::iter(ids.iter().cloned())
        .map(|id| async move {
            let promise = fx.get(server, &format!("/promises/{id}"), token).await;
            let events: Vec<Value> = promise["ledger"]
                .as_array()
                .expect("ledger")
                .iter()
                .filter(|e| e["kind"] == "prompted")
                .map(|e| e["data"].clone())
                .collect();
            (id, events)
        })
        .buffer_unordered(8)
        .collect()
        .await
}

/// Asserts exactly one `prompted` event per promise, and per (promise, occurrence, purpose); returns them.
fn assert_exactly_once(events: &HashMap<String, Vec<Value>>) -> BTreeMap<String, Value> {
    let mut lost = Vec::new();
    let mut doubled = Vec::new();
    let mut once = BTreeMap::new();
    for (id, list) in events {
        let mut keys = HashSet::new();
        for data in list {
            let key = (data["occurrence"].to_string(), data["purpose"].to_string());
            assert!(keys.insert(key.clone()), "promise {id}: two prompted events for {key:?}: {list:?}");
        }
        match list.as_slice() {
            [] => lost.push(id.clone()),
            [one] => {
                assert_eq!(one["purpose"], "due", "promise {id}: {one}");
                once.insert(id.clone(), one.clone());
            }
            _ => doubled.push((id.clone(), list.clone())),
        }
    }
    assert!(lost.is_empty(), "{} promises never prompted: {lost:?}", lost.len());
    assert!(doubled.is_empty(), "{} promises prompted more than once: {doubled:?}", doubled.len());
    once
}

/// The agent's open inbox over HTTP: exactly one due prompt per promise, none for anything else.
async fn assert_inbox(fx: &Fixture, server: &Server, token: &str, ids: &[String]) -> Vec<Value> {
    let inbox = fx.get(server, "/agents/me/prompts?open=true&limit=500", token).await;
    let inbox = inbox.as_array().expect("prompt list").clone();
    let mut per_promise: HashMap<String, usize> = HashMap::new();
    for prompt in &inbox {
        assert_eq!(prompt["purpose"], "due", "{prompt}");
        *per_promise.entry(prompt["promise_id"].as_str().unwrap().to_string()).or_default() += 1;
    }
    let doubled: Vec<_> = per_promise.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "prompts doubled in the inbox: {doubled:?}");
    let expected: HashSet<&String> = ids.iter().collect();
    let got: HashSet<&String> = per_promise.keys().collect();
    assert_eq!(got, expected, "the inbox should hold exactly one prompt per promise");
    assert_eq!(inbox.len(), ids.len());
    inbox
}

/// Killed with prompts due soon; restarted once they are all more than 2 s overdue: each fires exactly once, late,
/// as a misfire.
#[tokio::test]
async fn prompts_due_while_the_server_is_killed_fire_once_marked_late() {
    const N: usize = 30;
    let fx = Fixture::new();
    let mut server = fx.start(&[]).await;
    let desk = desk(&fx, &server).await;
    let due = whole_second_after(TimeDelta::seconds(4));
    let ids = promises_due(&fx, &server, &desk, N, due, 4).await;
    assert!(
        Utc::now() + TimeDelta::milliseconds(500) < due,
        "creating {N} promises took too long: they fall due at {due} before the kill"
    );
    server.kill9();
    let db = fx.db();
    assert_eq!(due_prompt_rows(&db), 0, "nothing was due before the kill");

    sleep_until(due + TimeDelta::milliseconds(2_500)).await;
    let server = fx.start(&[]).await;
    wait_until_fired(&db, &server, Duration::from_secs(30)).await;

    let events = prompted_events(&fx, &server, &desk.agent_token, &ids).await;
    let once = assert_exactly_once(&events);
    let late: Vec<i64> = once.values().filter_map(|d| d["late_by_ms"].as_i64()).collect();
    eprintln!("late_by_ms after the restart: {:?}..{:?}", late.iter().min(), late.iter().max());
    for (id, data) in &once {
        assert_eq!(data["misfire"], true, "promise {id} should be marked as a misfire: {data}");
        let late = data["late_by_ms"].as_i64().expect("late_by_ms");
        assert!(late > 1_000, "promise {id} fired {late} ms late; expected more than the 1 s misfire limit");
    }
    for prompt in assert_inbox(&fx, &server, &desk.agent_token, &ids).await {
        assert!(prompt["late_by_ms"].as_i64().unwrap() > 1_000, "{prompt}");
        assert_eq!(prompt["card"]["misfire"], true, "the card says it fired late because of the outage: {prompt}");
        let scheduled = prompt["scheduled_for"].as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok());
        assert_eq!(scheduled.map(|s| s.with_timezone(&Utc)), Some(due), "{prompt}");
    }
    assert_eq!(due_prompt_rows(&db), N as i64);
}

/// Killed while the scheduler is part-way through a large batch due at the same second (small transactions, so
/// some are committed and some are not): after the restart every promise has exactly one `prompted` event.
#[tokio::test]
async fn a_kill_in_the_middle_of_firing_loses_and_doubles_nothing() {
    const N: usize = 300;
    // Ten deliveries per transaction: the 300 are fired in ~30 commits, so the kill lands between or inside them.
    let batch = [("TENDERO__SCHEDULER__BATCH_SIZE", "10")];
    let fx = Fixture::new();
    let mut server = fx.start(&batch).await;
    let desk = desk(&fx, &server).await;
    let due = whole_second_after(TimeDelta::seconds(8));
    let ids = promises_due(&fx, &server, &desk, N, due, 8).await;
    assert!(Utc::now() < due, "creating {N} promises took too long: they fell due at {due} before all were made");
    let db = fx.db();

    // Kill once about a third is visible: some batches committed, the next one under way.
    sleep_until(due).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while due_prompt_rows(&db) < N as i64 / 3 {
        assert!(Instant::now() < deadline, "a third had not fired within 30 s of due:\n{}", server.log_tail());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill9();
    let committed = due_prompt_rows(&db);
    assert!(
        committed > 0 && committed < N as i64,
        "the kill should land while the batch is being fired; {committed} of {N} were committed"
    );

    eprintln!("killed with {committed} of {N} due prompts committed");
    let server = fx.start(&batch).await;
    wait_until_fired(&db, &server, Duration::from_secs(60)).await;
    let events = prompted_events(&fx, &server, &desk.agent_token, &ids).await;
    let once = assert_exactly_once(&events);
    assert_eq!(once.len(), N);
    assert_inbox(&fx, &server, &desk.agent_token, &ids).await;
    assert_eq!(due_prompt_rows(&db), N as i64, "one prompt row per promise (killed with {committed} committed)");
}
