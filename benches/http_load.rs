//! HTTP load on the real, release-built `tendero serve` (DESIGN.md section 11): promise creation (throughput with
//! many clients, and latency at a fixed 1,000/s), the agent agenda and the customer brief; the CPU each request
//! costs the server (and PostgreSQL); the server's RSS; and
//! the raw limit: the same rows (promise, `created` event, outbox rows, rollups) written by a bare client on one
//! connection with the same durability, one commit per promise, in the same run.
//!
//! `cargo bench --bench http_load` (SQLite). For PostgreSQL: build with `cargo build --release --all-features
//! --bin tendero` and run `BENCH_DATABASE_URL=postgres://root@127.0.0.1:5432/test cargo bench --all-features
//! --bench http_load`; a fresh database is made on that server and dropped afterwards.
//!
//! Env: TENDERO_BIN (default target/release/tendero), LOAD_SECONDS (15), LOAD_CLIENTS (32), LOAD_RATE (1000),
//! LOAD_CUSTOMERS (2000), LOAD_AGENTS (50), LOAD_READS (3000), BENCH_DATABASE_URL.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Duration as ChronoDuration, Utc};
use diesel::connection::SimpleConnection;
use serde_json::{json, Value};

#[path = "../tests/support/mod.rs"]
mod support;

use support::{ScratchDatabase, Server, Tendero};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// CPU time (user and system) of the server, and of each of PostgreSQL's processes on this machine, in
/// milliseconds: on a shared two-core machine the CPU a request costs is steadier than the throughput it allows.
struct Cpu {
    server_ms: f64,
    postgres_ms: std::collections::HashMap<String, f64>,
}

fn cpu_ms_of(stat: &str) -> Option<f64> {
    // Fields after the command name (which may hold spaces, so split after its closing parenthesis): utime and
    // stime are the 12th and 13th, in clock ticks (100 per second on Linux).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 10.0)
}

impl Cpu {
    fn now(server: u32) -> Cpu {
        let server_ms =
            std::fs::read_to_string(format!("/proc/{server}/stat")).ok().and_then(|s| cpu_ms_of(&s)).unwrap_or(0.0);
        let postgres_ms = std::fs::read_dir("/proc")
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .filter_map(|e| {
                        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
                        let ms = stat.contains("(postgres)").then(|| cpu_ms_of(&stat))??;
                        Some((e.file_name().to_string_lossy().into_owned(), ms))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Cpu { server_ms, postgres_ms }
    }

    /// Prints the CPU spent since `self` per request, for `n` requests. A PostgreSQL process that ended meanwhile
    /// is left out (its time is lost with it); one that started counts whole.
    fn per_request(self, server: u32, n: usize, pg: bool) {
        let now = Cpu::now(server);
        let n = n.max(1) as f64;
        let mut line = format!("  server CPU {:.3} ms per request", (now.server_ms - self.server_ms) / n);
        if pg {
            let spent: f64 =
                now.postgres_ms.iter().map(|(pid, ms)| ms - self.postgres_ms.get(pid).copied().unwrap_or(0.0)).sum();
            line += &format!(", PostgreSQL CPU {:.3} ms", spent / n);
        }
        println!("{line}");
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn summary(label: &str, mut ms: Vec<f64>, wall: Duration) {
    ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{label:<34} n={:>6}  {:>8.0}/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        ms.len(),
        ms.len() as f64 / wall.as_secs_f64(),
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms.last().copied().unwrap_or(f64::NAN)
    );
}

struct Bench {
    url: String,
    tendero: Tendero,
    http: reqwest::Client,
    admin: String,
    pg: Option<ScratchDatabase>,
}

impl Bench {
    fn new() -> Bench {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let bin =
            std::env::var("TENDERO_BIN").map(PathBuf::from).unwrap_or_else(|_| root.join("target/release/tendero"));
        assert!(
            bin.exists(),
            "build the server first: cargo build --release --bin tendero ({} missing)",
            bin.display()
        );
        let dir = root.join("target/bench").join(format!("http-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (url, pg) = match std::env::var("BENCH_DATABASE_URL") {
            Ok(server) if server.starts_with("postgres") => {
                let name = format!("tendero_bench_{}", std::process::id());
                let pg = ScratchDatabase::create(&server, &name).expect("BENCH_DATABASE_URL answers");
                (pg.url().to_string(), Some(pg))
            }
            _ => (format!("sqlite://{}", dir.join("tendero.db").display()), None),
        };
        // The runner may tune the server with TENDERO__* variables, so they are passed on.
        let tendero = Tendero::new(bin, dir, &url).inheriting_settings().ready_at("/readyz", Duration::from_secs(60));
        let admin = tendero.create_admin("bench@tendero.test", "Bench");
        Bench { url, tendero, http: reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap(), admin, pg }
    }

    async fn start(&self) -> Server {
        self.tendero.start(&[]).await
    }

    async fn post(&self, server: &Server, path: &str, body: &Value) -> Value {
        let r = self
            .http
            .post(format!("{}/api/v1{path}", server.base))
            .bearer_auth(&self.admin)
            .json(body)
            .send()
            .await
            .expect("request");
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "POST {path}: {status} {body}");
        body
    }
}

/// A promise body for customer `i`, due a day or two ahead at a whole minute, owned by one of the agents.
fn promise_body(customers: &[String], agents: &[String], i: usize) -> Value {
    let due = (Utc::now() + ChronoDuration::days(1) + ChronoDuration::minutes((i % 2000) as i64))
        .format("%Y-%m-%dT%H:%M:00")
        .to_string();
    json!({ "customer_id": customers[i % customers.len()], "owner_agent_id": agents[i % agents.len()],
            "kind": "callback", "title": format!("Le llamo mañana ({i})"), "due_local": due })
}

/// The same rows a create writes, by a bare client: one connection, one durable commit per promise.
fn raw_limit(url: &str, template: &tendero::repo::promises::Promise, seconds: u64) -> f64 {
    let mut conn = tendero::db::establish(url).expect("raw connection");
    if url.starts_with("sqlite") {
        // The stopped server's file may still be settling (WAL checkpoint); wait on its lock like the server does.
        conn.batch_execute(
            "PRAGMA busy_timeout = 30000; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
             PRAGMA foreign_keys = ON;",
        )
        .unwrap();
    }
    let settings = tendero::settings::Settings::load(None).unwrap();
    let tolerances = settings.tolerances().unwrap();
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        let now = Utc::now().timestamp_millis();
        let mut p = template.clone();
        p.id = tendero::clock::new_id("prm");
        conn.batch_execute("BEGIN").unwrap();
        let (written, _) = tendero::db::Tx::scoped(&mut conn, |tx| {
            tendero::repo::promises::insert(tx, &p)?;
            let created = tendero::service::promises::created_event_of(&p)?;
            tendero::repo::ledger::append(tx, &p, created, Some(&p.made_by_agent_id), now)?;
            tendero::service::timing::schedule_new(tx, &p, &tolerances, now)
        });
        written.unwrap();
        conn.batch_execute("COMMIT").unwrap();
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds = env_u64("LOAD_SECONDS", 15);
    let clients = env_u64("LOAD_CLIENTS", 32) as usize;
    let rate = env_u64("LOAD_RATE", 1000);
    let n_customers = env_u64("LOAD_CUSTOMERS", 2000) as usize;
    let n_agents = env_u64("LOAD_AGENTS", 50) as usize;
    let reads = env_u64("LOAD_READS", 3000) as usize;
    let bench = Arc::new(Bench::new());
    println!("http_load on {} ({} s per phase, {clients} clients, {rate}/s fixed rate)", bench.url, seconds);
    println!("machine: {} cores, {}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), cpu_model());
    let server = bench.start().await;

    // The cast, over HTTP.
    let team = bench.post(&server, "/teams", &json!({ "name": "Bench" })).await["id"].as_str().unwrap().to_string();
    let mut agents = Vec::new();
    for i in 0..n_agents {
        let a = bench
            .post(
                &server,
                "/agents",
                &json!({ "name": format!("Agent {i}"), "email": format!("a{i}@bench.test"), "team_id": team,
                         "time_zone": "Europe/Madrid", "shift": "always", "locale": "es-ES" }),
            )
            .await;
        agents.push(a["id"].as_str().unwrap().to_string());
    }
    let mut customers = Vec::new();
    for i in 0..n_customers {
        let c = bench
            .post(
                &server,
                "/customers",
                &json!({ "name": format!("Cliente {i}"), "time_zone": "Europe/Madrid", "locale": "es-ES",
                         "contact_window": "always", "team_id": team, "owner_agent_id": agents[i % agents.len()] }),
            )
            .await;
        customers.push(c["id"].as_str().unwrap().to_string());
    }
    let customers = Arc::new(customers);
    let agents = Arc::new(agents);
    let counter = Arc::new(AtomicUsize::new(0));

    // 1. Throughput: many clients creating as fast as they can.
    let pid = server.pid();
    let pg = bench.pg.is_some();
    let cpu = Cpu::now(pid);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (bench, customers, agents, counter, base) =
            (bench.clone(), customers.clone(), agents.clone(), counter.clone(), server.base.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while started.elapsed() < Duration::from_secs(seconds) {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                let body = promise_body(&customers, &agents, i);
                let t = Instant::now();
                let r = bench
                    .http
                    .post(format!("{base}/api/v1/promises"))
                    .bearer_auth(&bench.admin)
                    .json(&body)
                    .send()
                    .await;
                let ok = r.is_ok_and(|r| r.status().as_u16() == 201);
                assert!(ok, "create failed");
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let n = lat.len();
    summary(&format!("create, {clients} clients flat out"), lat, started.elapsed());
    cpu.per_request(pid, n, pg);

    // 2. Latency at a fixed rate, measured from the intended send time (no coordinated omission).
    let total = (rate * seconds) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let cpu = Cpu::now(pid);
    let started = Instant::now();
    let mut handles = Vec::with_capacity(total);
    for k in 0..total {
        let intended = started + interval * k as u32;
        tokio::time::sleep_until(intended.into()).await;
        let (bench, customers, agents, counter, base) =
            (bench.clone(), customers.clone(), agents.clone(), counter.clone(), server.base.clone());
        handles.push(tokio::spawn(async move {
            let i = counter.fetch_add(1, Ordering::Relaxed);
            let body = promise_body(&customers, &agents, i);
            let r =
                bench.http.post(format!("{base}/api/v1/promises")).bearer_auth(&bench.admin).json(&body).send().await;
            assert!(r.is_ok_and(|r| r.status().as_u16() == 201), "create failed");
            intended.elapsed().as_secs_f64() * 1000.0
        }));
    }
    let mut lat = Vec::new();
    for h in handles {
        lat.push(h.await.unwrap());
    }
    let n = lat.len();
    summary(&format!("create at {rate}/s"), lat, started.elapsed());
    cpu.per_request(pid, n, pg);

    // 3. Reads: the agenda and the brief, 8 clients. On PostgreSQL the database is a minute old and autovacuum has
    // not analysed it yet, so the planner would guess at tables it believes empty; a live server analyses them
    // within a minute of such growth (autovacuum's default nap), which this does at once.
    if bench.pg.is_some() {
        let mut conn = tendero::db::establish(&bench.url).expect("bench database");
        conn.batch_execute("ANALYZE").expect("ANALYZE");
    }
    for (label, paths) in [
        (
            "agenda (GET /agents/{id}/agenda)",
            agents.iter().map(|a| format!("/api/v1/agents/{a}/agenda")).collect::<Vec<_>>(),
        ),
        (
            "brief (GET /customers/{id}/brief)",
            customers.iter().map(|c| format!("/api/v1/customers/{c}/brief")).collect(),
        ),
    ] {
        let paths = Arc::new(paths);
        let next = Arc::new(AtomicUsize::new(0));
        let cpu = Cpu::now(pid);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (bench, paths, next, base) = (bench.clone(), paths.clone(), next.clone(), server.base.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= reads {
                        return lat;
                    }
                    let t = Instant::now();
                    let r = bench
                        .http
                        .get(format!("{base}{}", paths[i % paths.len()]))
                        .bearer_auth(&bench.admin)
                        .send()
                        .await;
                    let r = r.expect("read");
                    assert!(r.status().is_success(), "{}", r.status());
                    let _ = r.bytes().await;
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }));
        }
        let mut lat = Vec::new();
        for t in tasks {
            lat.extend(t.await.unwrap());
        }
        let n = lat.len();
        summary(label, lat, started.elapsed());
        cpu.per_request(pid, n, pg);
    }
    let promises_made = counter.load(Ordering::Relaxed);
    println!("server RSS after {promises_made} promises: {:.0} MiB", rss_mib(server.pid()));
    drop(server);

    // 4. The raw limit: the same rows by a bare client, one durable commit each.
    let template = {
        let db = tendero::db::Db::connect(
            &bench.url,
            &tendero::db::PoolOptions { max_connections: 1, busy_timeout: Duration::from_secs(30) },
        )
        .unwrap();
        db.read_blocking(|conn| {
            use diesel::prelude::*;
            use tendero::db::schema::promises;
            Ok(promises::table.select(tendero::repo::promises::Promise::as_select()).first(conn)?)
        })
        .unwrap()
    };
    let raw = raw_limit(&bench.url, &template, seconds.min(10));
    println!("raw limit (bare client, one commit per promise): {raw:.0}/s");
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default()
}
