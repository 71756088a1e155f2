//! Several instances on one PostgreSQL database (DESIGN.md sections 6 and 11): three real `tendero serve`
//! processes share 20,000 callbacks falling due within one minute, and one of them is killed with SIGKILL while
//! they fire. The two survivors must finish the work: every (promise, occurrence, purpose) gets exactly one
//! `prompted` event and one prompt, and every `promise.due` webhook reaches a real HTTP receiver (which verifies
//! the Standard Webhooks signature) at least once, repeats carrying the same body.
//!
//! The fixture (team, agents, customers, promises with their `created` events and outbox rows) is written with the
//! library the way `POST /promises` writes it (as `benches/fire_lateness.rs` does), an hour ahead; once the three
//! instances answer, one statement moves every due time so the first falls due 45 s later, the last 60 s after
//! that, in whole seconds like the API's `due_local` (the `created` events keep the first due time in their data;
//! nothing here reads it).
//!
//! On PostgreSQL a scheduler claims its deliveries and fires them in one transaction, so a killed instance's
//! claims are never committed without their prompts: its open batch is rolled back when its connections drop and
//! the others take the rows at once. The webhook sender commits its claim (a 60 s lease) before sending, so the
//! killed instance's in-flight messages stay leased until the lease runs out; the test records which messages the
//! victim held when it died and checks that another instance sent them after the lease ended.
//!
//! Runs only when `TEST_DATABASE_URL` names a PostgreSQL server (`postgres://root@127.0.0.1:5432/test`) and the
//! build has the `postgres` feature; the test database is made on that server and dropped afterwards.
//! Timings are printed, never asserted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use chrono::Utc;
use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{QueryableByName, RunQueryDsl};
use serde_json::{json, Value};
use tempfile::TempDir;

use tendero::clock::new_id;
use tendero::db::{Db, PoolOptions};
use tendero::repo::agents::{self, Agent};
use tendero::repo::customers::{self, Customer};
use tendero::repo::promises::{self, Promise};
use tendero::repo::teams::{self, Team};
use tendero::settings::{Settings, Tolerances};

#[path = "support/mod.rs"]
mod support;

use support::{ScratchDatabase, Server, Tendero};

/// Promises falling due.
const PROMISES: usize = 20_000;
/// Seconds over which they fall due (whole seconds, so several share each instant).
const DUE_SPREAD_S: i64 = 60;
/// From the moment all instances answer to the first due time.
const FIRST_DUE_AFTER_S: i64 = 45;
const AGENTS: usize = 20;
const PROMISES_PER_CUSTOMER: usize = 2;
const INSTANCES: usize = 3;
/// The scheduler's lease (scheduler.lease).
const LEASE: &str = "PT5S";
/// How long the survivors get to finish everything once the first promise is due.
const FINISH_WITHIN: Duration = Duration::from_secs(600);

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Whether a lease owner name (`<pid>-node_...`) is this instance's.
fn owns(instance: &Server, claimed_by: &str) -> bool {
    claimed_by.split_once('-').is_some_and(|(pid, _)| pid == instance.pid().to_string())
}

/// The warnings and errors an instance logged (JSON lines), counted by level, message and error.
fn log_summary(path: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for line in text.lines() {
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
    let mut out: Vec<(usize, String)> = counts.into_iter().map(|(k, n)| (n, k)).collect();
    out.sort_by(|a, b| b.cmp(a));
    out
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// CPU seconds (user + system) a process has used, from /proc (USER_HZ = 100).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// How the instances run in `dir`: their scheduler on with a short lease, one worker and four connections each
/// (three share two cores), JSON logs; ready once `/readyz` answers.
fn instances_in(dir: &Path, url: &str) -> Tendero {
    Tendero::new(env!("CARGO_BIN_EXE_tendero"), dir, url)
        .env("TENDERO__SCHEDULER__ENABLED", "true")
        .env("TENDERO__SCHEDULER__LEASE", LEASE)
        .env("TENDERO__TELEMETRY__FORMAT", "json")
        .env("TENDERO__SERVER__WORKERS", "1")
        .env("TENDERO__DATABASE__MAX_CONNECTIONS", "4")
        .ready_at("/readyz", Duration::from_secs(120))
}

/// What the webhook receiver saw.
#[derive(Default)]
struct Seen {
    /// webhook-id -> the bodies received under it (one per delivery attempt that reached us).
    bodies: HashMap<String, Vec<String>>,
    /// Requests whose signature did not verify, with why.
    unverified: Vec<String>,
    requests: u64,
}

#[derive(Clone)]
struct Receiver {
    seen: Arc<Mutex<Seen>>,
    secret: Arc<OnceLock<String>>,
}

async fn receive(req: HttpRequest, body: web::Bytes, state: web::Data<Receiver>) -> HttpResponse {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let id = header("webhook-id");
    let verified = match state.secret.get() {
        Some(secret) => tendero::channels::webhook::verify(
            secret,
            &id,
            &header("webhook-timestamp"),
            &header("webhook-signature"),
            &body,
            Utc::now().timestamp(),
            300,
        )
        .map_err(|e| e.to_string()),
        None => Err("no secret yet".to_string()),
    };
    let mut seen = state.seen.lock().unwrap();
    seen.requests += 1;
    if let Err(why) = verified {
        seen.unverified.push(format!("{id}: {why}"));
    }
    seen.bodies.entry(id).or_default().push(String::from_utf8_lossy(&body).into_owned());
    HttpResponse::Ok().finish()
}

/// A real HTTP receiver on its own thread and actix system; returns it, its URL and a handle to stop it.
fn start_receiver() -> (Receiver, String, actix_web::dev::ServerHandle) {
    let receiver = Receiver { seen: Arc::default(), secret: Arc::default() };
    let data = web::Data::new(receiver.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server =
                HttpServer::new(move || App::new().app_data(data.clone()).route("/hook", web::post().to(receive)))
                    .workers(2)
                    .bind("127.0.0.1:0")
                    .expect("bind the receiver");
            let addr = server.addrs()[0];
            let server = server.run();
            tx.send((addr, server.handle())).expect("hand over the receiver");
            let _ = server.await;
        });
    });
    let (addr, handle) = rx.recv_timeout(Duration::from_secs(30)).expect("receiver started");
    (receiver, format!("http://{addr}/hook"), handle)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Group {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Lease {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Nullable<Text>)]
    claimed_by: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    claimed_until: Option<i64>,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    delivered_at: Option<i64>,
}

#[derive(QueryableByName)]
struct Pair {
    #[diesel(sql_type = BigInt)]
    a: i64,
    #[diesel(sql_type = BigInt)]
    b: i64,
}

fn count(db: &Db, sql: &str) -> i64 {
    let sql = sql.to_string();
    db.read_blocking(move |c| Ok(diesel::sql_query(sql).get_result::<Count>(c)?.n)).expect("count")
}

fn groups(db: &Db, sql: &str) -> Vec<(String, i64)> {
    let sql = sql.to_string();
    db.read_blocking(move |c| Ok(diesel::sql_query(sql).load::<Group>(c)?))
        .expect("group query")
        .into_iter()
        .map(|g| (g.key, g.n))
        .collect()
}

fn leases(db: &Db, sql: &str) -> Vec<Lease> {
    let sql = sql.to_string();
    db.read_blocking(move |c| Ok(diesel::sql_query(sql).load::<Lease>(c)?)).expect("lease query")
}

fn pairs(db: &Db, sql: &str) -> Vec<(i64, i64)> {
    let sql = sql.to_string();
    db.read_blocking(move |c| Ok(diesel::sql_query(sql).load::<Pair>(c)?))
        .expect("pair query")
        .into_iter()
        .map(|p| (p.a, p.b))
        .collect()
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(mut values: Vec<i64>) -> String {
    values.sort_unstable();
    format!(
        "n={} p50={} p90={} p99={} max={}",
        values.len(),
        percentile(&values, 50.0),
        percentile(&values, 90.0),
        percentile(&values, 99.0),
        values.last().copied().unwrap_or(0)
    )
}

/// The team, an admin (and its API token), agents who are always on shift, and their customers; then the
/// promises, as `POST /promises` writes them: the row, its `created` event (with the metric rollups) and its
/// outbox rows. Due an hour from now; `shift_due_times` moves them later. Returns the admin token.
fn write_fixture(db: &Db, tolerances: &Tolerances) -> String {
    let started = Instant::now();
    let now = now_ms();
    let team = Team { id: new_id("team"), name: "Multi".into(), created_at: now, updated_at: now };
    let agent = |i: usize, role: &str, team_id: Option<String>| Agent {
        id: new_id("agt"),
        name: format!("Agent {i}"),
        email: format!("agent{i}@multi.test"),
        role: role.into(),
        team_id,
        time_zone: "UTC".into(),
        shift: "always".into(),
        locale: "en".into(),
        active: true,
        password_hash: None,
        created_at: now,
        updated_at: now,
    };
    let admin = agent(0, "admin", None);
    let staff: Vec<Agent> = (1..=AGENTS).map(|i| agent(i, "agent", Some(team.id.clone()))).collect();
    let token = db
        .write_blocking(|conn| {
            teams::insert(conn, &team)?;
            agents::insert(conn, &admin)?;
            for a in &staff {
                agents::insert(conn, a)?;
            }
            Ok(tendero::repo::tokens::create(conn, &admin.id, "multi-instance", now)?.1)
        })
        .expect("team and agents");

    let n_customers = PROMISES.div_ceil(PROMISES_PER_CUSTOMER);
    let customer_rows: Vec<Customer> = (0..n_customers)
        .map(|i| Customer {
            id: new_id("cus"),
            name: format!("Customer {i}"),
            phone: Some(format!("+34 976 {:06}", i)),
            email: None,
            time_zone: "UTC".into(),
            locale: "en".into(),
            contact_window: "always".into(),
            preferred_channel: None,
            owner_agent_id: Some(staff[i % AGENTS].id.clone()),
            team_id: Some(team.id.clone()),
            notes: String::new(),
            facts: "[]".into(),
            external_ref: None,
            do_not_call: false,
            region: None,
            created_at: now,
            updated_at: now,
        })
        .collect();
    for chunk in customer_rows.chunks(2_000) {
        db.write_blocking(|conn| {
            for c in chunk {
                customers::insert(conn, c)?;
            }
            Ok(())
        })
        .expect("insert customers");
    }

    // Spread over DUE_SPREAD_S whole seconds from `base`.
    let base = (now / 1000 + 3600) * 1000;
    let mut written = 0usize;
    let indexes: Vec<usize> = (0..PROMISES).collect();
    for chunk in indexes.chunks(1_000) {
        let rows: Vec<Promise> = chunk
            .iter()
            .map(|&i| {
                let customer = &customer_rows[i % n_customers];
                let owner = customer.owner_agent_id.clone().expect("owner");
                let due_at = base + (i as i64 * DUE_SPREAD_S / PROMISES as i64) * 1000;
                Promise {
                    id: new_id("prm"),
                    customer_id: customer.id.clone(),
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
                    accountable_agent_id: owner,
                    team_id: customer.team_id.clone(),
                    late_since: None,
                }
            })
            .collect();
        db.write_blocking(|conn| {
            for p in &rows {
                promises::insert(conn, p)?;
                let created = tendero::service::promises::created_event_of(p)?;
                tendero::repo::ledger::append(conn, p, created, Some(&p.made_by_agent_id), now)?;
                tendero::service::timing::schedule(conn, p, tolerances, now)?;
            }
            Ok(())
        })
        .expect("insert promises");
        written += rows.len();
    }
    eprintln!(
        "fixture: 1 team, {} agents, {n_customers} customers, {written} promises written in {:.1} s",
        AGENTS + 1,
        started.elapsed().as_secs_f64()
    );
    token
}

/// Moves every due time (promises, and their deliveries) so the earliest is at `first_due_ms`, keeping `due_local`
/// in step (UTC, whole seconds), in one transaction. Returns the shift in ms.
fn shift_due_times(db: &Db, first_due_ms: i64) -> i64 {
    let earliest = count(db, "SELECT min(due_at) AS n FROM promises");
    let shift = first_due_ms - earliest;
    assert_eq!(shift % 1000, 0, "the shift keeps whole seconds");
    db.write_blocking(move |conn| {
        conn.batch_execute(&format!(
            "UPDATE promises SET due_at = due_at + {shift},
                 due_local = to_char(to_timestamp((due_at + {shift}) / 1000) AT TIME ZONE 'UTC',
                                      'YYYY-MM-DD\"T\"HH24:MI:SS');
             UPDATE timers SET next_attempt_at = next_attempt_at + {shift}, occurrence_at = occurrence_at + {shift};"
        ))?;
        Ok(())
    })
    .expect("shift due times");
    shift
}

/// How far along the run is.
struct Progress {
    prompts: i64,
    prompted_events: i64,
    due_pending: i64,
    webhooks_delivered: i64,
    webhooks: i64,
    received_ids: usize,
}

fn progress(db: &Db, receiver: &Receiver) -> Progress {
    Progress {
        prompts: count(db, "SELECT count(*) AS n FROM prompts WHERE purpose = 'due'"),
        prompted_events: count(db, "SELECT count(*) AS n FROM promise_events WHERE kind = 'prompted'"),
        due_pending: count(db, "SELECT count(*) AS n FROM timers WHERE purpose = 'due' AND status = 'pending'"),
        webhooks_delivered: count(
            db,
            "SELECT count(*) AS n FROM sends WHERE event_type = 'promise.due' AND status = 'delivered'",
        ),
        webhooks: count(db, "SELECT count(*) AS n FROM sends WHERE event_type = 'promise.due'"),
        received_ids: receiver.seen.lock().unwrap().bodies.len(),
    }
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "prompts {}, prompted events {}, due deliveries pending {}, promise.due webhooks {} queued / {} \
             delivered / {} distinct received",
            self.prompts,
            self.prompted_events,
            self.due_pending,
            self.webhooks,
            self.webhooks_delivered,
            self.received_ids
        )
    }
}

/// Which instance (by index) a lease owner string belongs to.
fn owner_index(instances: &[Server], claimed_by: &str) -> Option<usize> {
    instances.iter().position(|i| owns(i, claimed_by))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_the_work_and_survive_one_killed_mid_firing() {
    // Where PostgreSQL is required (CI), a skipped run is a failure, not a pass.
    let required = std::env::var_os("TENDERO_REQUIRE_POSTGRES").is_some();
    let Some(server) = std::env::var("TEST_DATABASE_URL").ok().filter(|u| u.starts_with("postgres")) else {
        assert!(!required, "TENDERO_REQUIRE_POSTGRES is set but TEST_DATABASE_URL does not name a PostgreSQL server");
        eprintln!("skipped: TEST_DATABASE_URL not set");
        return;
    };
    if !cfg!(feature = "postgres") {
        assert!(!required, "TENDERO_REQUIRE_POSTGRES is set but the test was built without the `postgres` feature");
        eprintln!("skipped: built without the `postgres` feature (run with --all-features)");
        return;
    }
    let test_started = Instant::now();
    // Declared first, dropped last: the instances (below) are killed before the database is dropped.
    let name = format!("tendero_multi_{}", new_id("db").to_lowercase());
    let database = ScratchDatabase::create(&server, &name).expect("create the test database");
    let dir: TempDir = tempfile::tempdir().expect("temp dir");
    eprintln!("database {}; instance logs in {}", database.name(), dir.path().display());
    let db = Db::connect(database.url(), &PoolOptions { max_connections: 4, busy_timeout: Duration::from_secs(5) })
        .expect("connect");
    db.migrate().expect("migrate");
    let tolerances = Settings::load(None).expect("settings").tolerances().expect("tolerances");
    let admin = write_fixture(&db, &tolerances);

    let (receiver, hook_url, receiver_handle) = start_receiver();
    let client = reqwest::Client::new();
    let tendero = instances_in(dir.path(), database.url());
    let mut instances: Vec<Server> = (0..INSTANCES).map(|_| tendero.spawn(&[])).collect();
    let spawned = Instant::now();
    tendero.wait_all(&mut instances).await;
    eprintln!(
        "{INSTANCES} instances ready in {:.1} s (pids {:?}, scheduler.lease {LEASE})",
        spawned.elapsed().as_secs_f64(),
        instances.iter().map(|i| i.pid()).collect::<Vec<_>>()
    );

    let response = client
        .post(format!("{}/api/v1/webhooks", instances[0].base))
        .bearer_auth(&admin)
        .json(&json!({ "url": hook_url, "events": ["promise.due"] }))
        .send()
        .await
        .expect("register the webhook");
    let status = response.status();
    let subscription: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "POST /webhooks answered {status}: {subscription}");
    receiver.secret.set(subscription["secret"].as_str().expect("secret").to_string()).expect("secret set once");

    let first_due = (now_ms() / 1000 + FIRST_DUE_AFTER_S) * 1000;
    shift_due_times(&db, first_due);
    let last_due = count(&db, "SELECT max(due_at) AS n FROM promises");
    eprintln!(
        "{PROMISES} promises due from {} to {} ({} s after the instances were ready)",
        tendero::clock::from_ms(first_due).format("%H:%M:%S"),
        tendero::clock::from_ms(last_due).format("%H:%M:%S"),
        FIRST_DUE_AFTER_S
    );
    let cpu_at_start: Vec<f64> = instances.iter().map(|i| cpu_seconds(i.pid())).collect();

    // Kill one instance once a third of the prompts exist: prefer one holding webhook leases at that moment, so
    // the takeover of its messages can be followed; else the one that fired the most.
    let deadline = Instant::now() + Duration::from_secs(FIRST_DUE_AFTER_S as u64) + FINISH_WITHIN;
    let third = PROMISES as i64 / 3;
    let mut last_print = Instant::now();
    let load_at_start = loadavg();
    loop {
        // Cheap polls: the watcher must not load the server it is measuring.
        if count(&db, "SELECT count(*) AS n FROM prompts") >= third {
            break;
        }
        if last_print.elapsed() > Duration::from_secs(10) {
            eprintln!("  waiting for a third: {}", progress(&db, &receiver));
            last_print = Instant::now();
        }
        for instance in &mut instances {
            assert!(instance.alive(), "instance {} died:\n{}", instance.pid(), instance.log_tail());
        }
        assert!(Instant::now() < deadline, "a third never fired: {}", progress(&db, &receiver));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let victim_search = Instant::now();
    let victim = loop {
        let t = now_ms();
        let held = groups(
            &db,
            &format!(
                "SELECT claimed_by AS key, count(*) AS n FROM sends
                 WHERE status = 'pending' AND claimed_until > {t} AND claimed_by IS NOT NULL
                 GROUP BY claimed_by ORDER BY n DESC"
            ),
        );
        if let Some(index) = held.iter().find_map(|(owner, _)| owner_index(&instances, owner)) {
            break index;
        }
        if victim_search.elapsed() > Duration::from_secs(10) {
            let fired = groups(
                &db,
                "SELECT claimed_by AS key, count(*) AS n FROM timers
                 WHERE purpose = 'due' AND status = 'done' AND claimed_by IS NOT NULL
                 GROUP BY claimed_by ORDER BY n DESC",
            );
            break fired.iter().find_map(|(owner, _)| owner_index(&instances, owner)).unwrap_or(0);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let victim_pid = instances[victim].pid();
    let victim_cpu = cpu_seconds(victim_pid) - cpu_at_start[victim];
    instances[victim].kill9();
    let killed_at = now_ms();
    let at_kill = progress(&db, &receiver);
    let owner_like = format!("'{victim_pid}-%'");
    let victim_fired_before =
        count(&db, &format!("SELECT count(*) AS n FROM timers WHERE status = 'done' AND claimed_by LIKE {owner_like}"));
    let victim_deliveries_leased = count(
        &db,
        &format!("SELECT count(*) AS n FROM timers WHERE status = 'pending' AND claimed_by LIKE {owner_like}"),
    );
    let victim_messages = leases(
        &db,
        &format!(
            "SELECT id, claimed_by, claimed_until, status, delivered_at FROM sends
             WHERE status = 'pending' AND claimed_until > {killed_at} AND claimed_by LIKE {owner_like}"
        ),
    );
    let backlog_at_kill = count(
        &db,
        &format!(
            "SELECT count(*) AS n FROM timers WHERE purpose = 'due' AND status = 'pending'
             AND next_attempt_at <= {killed_at}"
        ),
    );
    eprintln!(
        "killed instance {victim} (pid {victim_pid}, {victim_cpu:.1} s CPU since the shift) at {:.1} s after the \
         first due time; then: {at_kill}",
        (killed_at - first_due) as f64 / 1000.0
    );
    eprintln!(
        "  the victim had fired {victim_fired_before} deliveries (committed), held {victim_deliveries_leased} \
         delivery leases and {} webhook leases; {backlog_at_kill} due deliveries were due and not yet fired",
        victim_messages.len()
    );

    // The survivors finish: every promise prompted, every promise.due webhook delivered and received.
    loop {
        let unfinished = count(
            &db,
            "SELECT (SELECT count(*) FROM timers WHERE status = 'pending' AND purpose = 'due')
                  + (SELECT count(*) FROM sends WHERE status = 'pending') AS n",
        );
        if unfinished == 0 {
            let p = progress(&db, &receiver);
            if p.prompts >= PROMISES as i64 && p.webhooks >= PROMISES as i64 && p.received_ids as i64 >= p.webhooks {
                eprintln!("done: {p}");
                break;
            }
        }
        if last_print.elapsed() > Duration::from_secs(10) {
            eprintln!("  {:.0} s after the kill: {}", (now_ms() - killed_at) as f64 / 1000.0, progress(&db, &receiver));
            last_print = Instant::now();
        }
        for (i, instance) in instances.iter_mut().enumerate() {
            if i != victim {
                assert!(instance.alive(), "survivor {} died:\n{}", instance.pid(), instance.log_tail());
            }
        }
        assert!(
            Instant::now() < deadline,
            "the survivors did not finish within {FINISH_WITHIN:?}: {}",
            progress(&db, &receiver)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let finished_at = now_ms();
    let load_at_end = loadavg();
    let survivor_cpu: Vec<(u32, f64)> = instances
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != victim)
        .map(|(i, instance)| (instance.pid(), cpu_seconds(instance.pid()) - cpu_at_start[i]))
        .collect();

    // Exactly once in the ledger: one prompted event per (promise, occurrence, purpose), for every promise.
    let doubled = groups(
        &db,
        "SELECT promise_id || ' ' || (data::json->>'occurrence') || ' ' || (data::json->>'purpose') AS key,
                count(*) AS n
         FROM promise_events WHERE kind = 'prompted' GROUP BY 1 HAVING count(*) > 1 ORDER BY 1 LIMIT 20",
    );
    assert!(doubled.is_empty(), "prompted twice for one (promise, occurrence, purpose): {doubled:?}");
    let prompted_promises = count(
        &db,
        "SELECT count(DISTINCT promise_id) AS n FROM promise_events WHERE kind = 'prompted' AND data::json->>'purpose' = 'due'",
    );
    assert_eq!(prompted_promises, PROMISES as i64, "every promise prompted");
    let prompted_events = count(&db, "SELECT count(*) AS n FROM promise_events WHERE kind = 'prompted'");
    assert_eq!(prompted_events, PROMISES as i64, "one prompted event per promise, nothing else prompted");
    let by_delivery = groups(
        &db,
        "SELECT data::json->>'timer_id' AS key, count(*) AS n FROM promise_events WHERE kind = 'prompted'
         GROUP BY 1 HAVING count(*) > 1 LIMIT 20",
    );
    assert!(by_delivery.is_empty(), "one delivery prompted twice: {by_delivery:?}");

    // One prompt row per delivery (the table's UNIQUE is per (delivery, agent); routing to one owner means one).
    let prompt_doubles = groups(
        &db,
        "SELECT timer_id AS key, count(*) AS n FROM prompts GROUP BY timer_id HAVING count(*) > 1 LIMIT 20",
    );
    assert!(prompt_doubles.is_empty(), "a delivery produced two prompts: {prompt_doubles:?}");
    assert_eq!(count(&db, "SELECT count(*) AS n FROM prompts"), PROMISES as i64);
    assert_eq!(count(&db, "SELECT count(DISTINCT promise_id) AS n FROM prompts"), PROMISES as i64);
    let failed = count(&db, "SELECT count(*) AS n FROM timers WHERE last_error LIKE 'failed:%'");
    assert_eq!(failed, 0, "deliveries set aside with an error");
    assert_eq!(
        count(&db, "SELECT count(*) AS n FROM timers WHERE purpose = 'due' AND status = 'done'"),
        PROMISES as i64
    );

    // One promise.due message per promise, every one delivered and received; repeats carry the same body.
    let webhooks_per_promise = groups(
        &db,
        "SELECT payload::json->'data'->'promise'->>'id' AS key, count(*) AS n FROM sends
         WHERE event_type = 'promise.due' GROUP BY 1 HAVING count(*) <> 1 LIMIT 20",
    );
    assert!(webhooks_per_promise.is_empty(), "promise.due queued more than once: {webhooks_per_promise:?}");
    let message_ids: HashSet<String> =
        groups(&db, "SELECT id AS key, attempts::bigint AS n FROM sends WHERE event_type = 'promise.due'")
            .into_iter()
            .map(|(id, _)| id)
            .collect();
    assert_eq!(message_ids.len(), PROMISES);
    let seen = std::mem::take(&mut *receiver.seen.lock().unwrap());
    receiver_handle.stop(false).await;
    assert!(
        seen.unverified.is_empty(),
        "signatures that did not verify: {:?}",
        &seen.unverified[..5.min(seen.unverified.len())]
    );
    let received: HashSet<&String> = seen.bodies.keys().collect();
    let missing: Vec<&String> = message_ids.iter().filter(|id| !received.contains(id)).take(10).collect();
    assert!(missing.is_empty(), "promise.due webhooks never received: {missing:?}");
    let unknown: Vec<&&String> = received.iter().filter(|id| !message_ids.contains(**id)).take(10).collect();
    assert!(unknown.is_empty(), "received webhook ids that are not promise.due messages: {unknown:?}");
    let mut repeated = 0usize;
    let mut promise_ids = HashSet::new();
    for (id, bodies) in &seen.bodies {
        assert!(bodies.iter().all(|b| b == &bodies[0]), "webhook {id} repeated with a different body: {bodies:?}");
        repeated += bodies.len() - 1;
        let body: Value = serde_json::from_str(&bodies[0]).expect("JSON body");
        assert_eq!(body["id"], json!(id), "the body carries the webhook-id");
        assert_eq!(body["type"], "promise.due");
        promise_ids.insert(body["data"]["promise"]["id"].as_str().expect("promise id").to_string());
    }
    assert_eq!(promise_ids.len(), PROMISES, "one promise.due webhook per promise reached the receiver");

    // The killed instance: nothing of it committed after its death, and the webhooks it held were sent by a
    // survivor once its lease had run out.
    let victim_done_after = count(
        &db,
        &format!("SELECT count(*) AS n FROM timers WHERE claimed_by LIKE {owner_like} AND fired_at > {killed_at}"),
    );
    assert_eq!(victim_done_after, 0, "the dead instance cannot have fired after it was killed");
    assert_eq!(
        count(
            &db,
            &format!("SELECT count(*) AS n FROM timers WHERE status = 'pending' AND claimed_by LIKE {owner_like} AND purpose = 'due'")
        ),
        0,
        "due deliveries left leased to the dead instance"
    );
    let taken_over: HashMap<String, Lease> = if victim_messages.is_empty() {
        HashMap::new()
    } else {
        let ids: Vec<String> = victim_messages.iter().map(|m| format!("'{}'", m.id)).collect();
        leases(
            &db,
            &format!(
                "SELECT id, claimed_by, claimed_until, status, delivered_at FROM sends
                 WHERE id IN ({})",
                ids.join(", ")
            ),
        )
        .into_iter()
        .map(|m| (m.id.clone(), m))
        .collect()
    };
    let mut sent_twice = 0;
    for held in &victim_messages {
        let now = &taken_over[&held.id];
        let lease_end = held.claimed_until.expect("leased");
        assert_eq!(now.status, "delivered", "message {} held by the dead instance", held.id);
        let owner = now.claimed_by.as_deref().unwrap_or("");
        assert!(
            !owns(&instances[victim], owner) && owner_index(&instances, owner).is_some(),
            "message {} should have been re-claimed by a survivor, is claimed by {owner}",
            held.id
        );
        assert!(
            now.delivered_at.is_some_and(|at| at >= lease_end),
            "message {} was sent again before the dead instance's lease ended ({lease_end}): {:?}",
            held.id,
            now.delivered_at
        );
        sent_twice += usize::from(seen.bodies.get(&held.id).is_some_and(|b| b.len() > 1));
    }

    // What happened, per instance and in time.
    let fired_by = groups(
        &db,
        "SELECT coalesce(claimed_by, '') AS key, count(*) AS n FROM timers WHERE purpose = 'due' AND status = 'done'
         GROUP BY claimed_by ORDER BY claimed_by",
    );
    let sent_by = groups(
        &db,
        "SELECT coalesce(claimed_by, '') AS key, count(*) AS n FROM sends WHERE event_type = 'promise.due'
         GROUP BY claimed_by ORDER BY claimed_by",
    );
    let fired_after_kill = groups(
        &db,
        &format!(
            "SELECT coalesce(claimed_by, '') AS key, count(*) AS n FROM timers WHERE purpose = 'due' AND status = 'done'
             AND fired_at > {killed_at} GROUP BY claimed_by ORDER BY claimed_by"
        ),
    );
    let label = |owner: &str| match owner_index(&instances, owner) {
        Some(i) if i == victim => format!("instance {i} (killed)"),
        Some(i) => format!("instance {i}"),
        None => format!("unknown owner {owner}"),
    };
    let per_instance = |rows: &[(String, i64)]| -> BTreeMap<String, i64> {
        rows.iter().map(|(owner, n)| (label(owner), *n)).collect()
    };
    for (owner, n) in &fired_after_kill {
        assert!(!owns(&instances[victim], owner), "{n} fired by the dead instance after the kill");
    }
    let lateness = pairs(&db, "SELECT late_by_ms AS a, fired_at AS b FROM prompts WHERE purpose = 'due'");
    let before: Vec<i64> = lateness.iter().filter(|(_, f)| *f < killed_at).map(|(l, _)| *l).collect();
    let after: Vec<i64> = lateness.iter().filter(|(_, f)| *f >= killed_at).map(|(l, _)| *l).collect();
    let all: Vec<i64> = lateness.iter().map(|(l, _)| *l).collect();
    let last_fired = lateness.iter().map(|(_, f)| *f).max().unwrap_or(0);
    let webhook_lag = pairs(
        &db,
        "SELECT delivered_at - created_at AS a, attempts::bigint AS b FROM sends WHERE event_type = 'promise.due'",
    );
    let retried = webhook_lag.iter().filter(|(_, attempts)| *attempts > 1).count();
    let last_webhook = count(&db, "SELECT max(delivered_at) AS n FROM sends WHERE event_type = 'promise.due'");

    eprintln!(
        "\n== multi-instance run: {PROMISES} promises due over {DUE_SPREAD_S} s, {INSTANCES} instances, one killed"
    );
    eprintln!("due deliveries fired per instance: {:?}", per_instance(&fired_by));
    eprintln!("  of which after the kill:          {:?}", per_instance(&fired_after_kill));
    eprintln!("promise.due webhooks sent per instance (last claim): {:?}", per_instance(&sent_by));
    eprintln!(
        "the killed instance held {} webhook leases (until up to {:.1} s after the kill); all were re-claimed by \
         survivors and delivered after the lease ended ({} of them had also reached the receiver before the kill)",
        victim_messages.len(),
        victim_messages
            .iter()
            .filter_map(|m| m.claimed_until)
            .max()
            .map(|u| (u - killed_at) as f64 / 1000.0)
            .unwrap_or(0.0),
        sent_twice
    );
    eprintln!(
        "receiver: {} requests, {} distinct webhook-ids, {repeated} repeats (identical bodies), all signatures valid",
        seen.requests,
        seen.bodies.len()
    );
    eprintln!("fire lateness (prompts.late_by_ms), all:           {}", summary(all));
    eprintln!("fire lateness, fired before the kill:              {}", summary(before));
    eprintln!("fire lateness, fired after the kill:               {}", summary(after));
    eprintln!(
        "webhook delivered_at - queued, ms:                 {} ({retried} needed more than one attempt)",
        summary(webhook_lag.iter().map(|(lag, _)| *lag).collect())
    );
    eprintln!(
        "last prompt fired {:.1} s after the last due time; last webhook delivered {:.1} s after it; all done {:.1} s \
         after the first due time",
        (last_fired - last_due) as f64 / 1000.0,
        (last_webhook - last_due) as f64 / 1000.0,
        (finished_at - first_due) as f64 / 1000.0
    );
    eprintln!(
        "CPU since the shift: killed instance {victim_cpu:.1} s (until the kill); survivors {:?}",
        survivor_cpu.iter().map(|(pid, s)| format!("pid {pid}: {s:.1} s")).collect::<Vec<_>>()
    );
    eprintln!(
        "throughput: {PROMISES} prompts fired in {:.1} s from the first due time ({:.0}/s; {:.0}/s are due)",
        (last_fired - first_due) as f64 / 1000.0,
        PROMISES as f64 / ((last_fired - first_due).max(1) as f64 / 1000.0),
        PROMISES as f64 / DUE_SPREAD_S as f64
    );
    eprintln!("load average at the first due time {load_at_start}, at the end {load_at_end} (2 cores)");
    for (i, instance) in instances.iter().enumerate() {
        let logged = log_summary(&instance.log);
        let shown: Vec<String> = logged.iter().take(6).map(|(n, what)| format!("{n} x {what}")).collect();
        eprintln!("instance {i} logged {} warnings/errors: {shown:?}", logged.iter().map(|(n, _)| n).sum::<usize>());
    }
    eprintln!("total test time {:.1} s", test_started.elapsed().as_secs_f64());
    drop(instances);
    drop(db);
    drop(database);
}
