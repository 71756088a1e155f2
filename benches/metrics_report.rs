//! The metrics report at scale (DESIGN.md section 11: "dashboard metrics for 90 days <= 300 ms", with 1,000,000
//! promises and 10,000,000 rows in the ledger): how long a 90-day report takes, in the library and over HTTP.
//!
//! 1. Builds a SQLite file under target/bench (or reuses it when its manifest and row counts match): BENCH_TEAMS
//!    teams, BENCH_AGENTS agents (plus one admin), BENCH_CUSTOMERS customers (Europe/Madrid 60%, Atlantic/Canary
//!    20%, America/New_York 20%), BENCH_PROMISES promises (callback 60%, deadline 25%, update 15%) whose due dates
//!    are spread evenly over BENCH_DAYS days ending BENCH_FUTURE_DAYS days after the build, and exactly
//!    BENCH_EVENTS_PER_PROMISE ledger events per promise. Each promise lives a simulated life written the way
//!    `tendero::repo::ledger::save` writes it (version, accountable agent, `late_since`, the `obligation` annotation of
//!    kept / missed / rescheduled / handed_over events): created; earlier weekly occurrences of updates kept or
//!    missed; rescheduled at the customer's request (12%); handed over before due (5%); then kept on time (75%),
//!    kept late (10%: missed first, and for 40% of those rescheduled by the agent after due), never attempted
//!    (8%: missed, sometimes handed over after due, broken 24 h or 7 days later), cancelled without the
//!    customer's agreement (2%, broken) or with it (5%). Whatever would happen after the build instant does not,
//!    so recent promises are missed and future ones open. The rest of each promise's events are the effect-free
//!    ones the scheduler and the agents write (reminded, prompted, acknowledged, escalated), placed in its life.
//!    Every keep by contact has its outbound interaction (BENCH_INTERACTIONS=0 leaves them out), so continuity is
//!    measured too. Events are written in time order across promises, as a real ledger grows.
//!    Rows go in with multi-row INSERTs (at most 32,000 bind variables each) in large transactions, journal and
//!    foreign keys off, the secondary indexes of promises, promise_events and interactions dropped and made again
//!    from their own SQL at the end; the file is switched to WAL afterwards. Up to 100,000 promises (or with
//!    BENCH_FK_CHECK=1) `PRAGMA foreign_key_check` then proves every reference holds. The rollups are then built by the library
//!    (`repo::metrics::ensure_current`, which is `rebuild` plus recording the rollups' version so `serve` does
//!    not rebuild them again at start), timed. BENCH_REBUILD=1 times `rebuild` again on a reused file.
//! 2. Times the report for the BENCH_PERIOD_DAYS (90) days before the build day with the library
//!    (`routes::api::metrics::plan` + `run` on a read connection, as an admin) for several groupings, BENCH_RUNS
//!    (30) times each after 2 warm-ups, and `repo::metrics::report` alone (one read; `run` folds the totals from it).
//! 3. Times the same over HTTP against the release binary (`serve`, scheduler off) with an admin token, and
//!    `GET /metrics` (Prometheus), which sums the rollups over all days. BENCH_HTTP=0 skips this. The dashboard
//!    page runs the agent, team and week reports from one read (`run_many`); it is timed both ways too (over
//!    HTTP with a web session).
//!
//! On PostgreSQL (BENCH_DATABASE_URL=postgres://..., with `--all-features`): the SQLite file is built or reused as in
//! 1, then copied row for row into a database `metrics_<promises>p_<events>e` on that server (kept and reused while
//! it holds the same build; see `postgres_copy`), and 2 and 3 run against it, the server started with that URL.
//!
//! Run with `cargo bench --bench metrics_report` (which also builds the release binary). A quick smoke run:
//! `BENCH_PROMISES=20000 BENCH_CUSTOMERS=5000 cargo bench --bench metrics_report`.
//!
//! Env: BENCH_PROMISES (1000000), BENCH_EVENTS_PER_PROMISE (10, at least 4), BENCH_CUSTOMERS (100000),
//! BENCH_AGENTS (500), BENCH_TEAMS (10), BENCH_DAYS (365), BENCH_FUTURE_DAYS (30), BENCH_INTERACTIONS (1),
//! BENCH_SEED (7), BENCH_DB (default target/bench/metrics-<promises>p-<events>e.db), BENCH_FRESH=1 (build anew),
//! BENCH_REBUILD=1, BENCH_PERIOD_DAYS (90), BENCH_RUNS (30), BENCH_HTTP (1), BENCH_DATABASE_URL, TENDERO_BIN (default: the binary
//! `cargo bench` built, else `cargo build --release --bin tendero`).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text};
use diesel::sqlite::Sqlite;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use tendero::auth::Caller;
use tendero::clock::from_ms;
use tendero::db::{Db, DbConn, PoolOptions};
use tendero::domain::metrics::{annotate, date_of, day_number};
use tendero::domain::time::{resolve_local, tzdata_version, Disambiguation, Tz};
use tendero::domain::vocab::Role;
use tendero::repo::agents::{self, Agent};
use tendero::repo::customers::{self, Customer};
use tendero::repo::interactions::Interaction;
use tendero::repo::metrics::{self as rollups, facts, Grouping, Selection};
use tendero::repo::promises::Promise;
use tendero::repo::teams::{self, Team};
use tendero::repo::{service_state, sessions, tokens};
use tendero::routes::api::instant;
use tendero::routes::api::metrics::{plan, run, run_many, MetricsQuery};
use tendero::settings::{Settings, Tolerances};

#[path = "../tests/support/mod.rs"]
mod support;

use support::Tendero;

/// Bumped whenever the generated data changes, so an old file is not reused.
const GENERATOR: u32 = 2;
const MIN_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
/// SQLite's default limit is 32,766 bind variables per statement.
const MAX_BINDS: usize = 32_000;
/// The groupings measured, as `group_by` values.
const GROUPINGS: [&str; 5] = ["", "agent", "team", "week", "agent,kind,week"];

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| panic!("{name}=`{v}` is not a whole number")),
        Err(_) => default,
    }
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(option_env!("CARGO_MANIFEST_DIR").unwrap_or("."))
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Sizes {
    generator: u32,
    promises: u64,
    events_per_promise: u64,
    customers: u64,
    agents: u64,
    teams: u64,
    days: u64,
    future_days: u64,
    interactions: bool,
    seed: u64,
}

impl Sizes {
    fn from_env() -> Sizes {
        let s = Sizes {
            generator: GENERATOR,
            promises: env_u64("BENCH_PROMISES", 1_000_000),
            events_per_promise: env_u64("BENCH_EVENTS_PER_PROMISE", 10),
            customers: env_u64("BENCH_CUSTOMERS", 100_000),
            agents: env_u64("BENCH_AGENTS", 500),
            teams: env_u64("BENCH_TEAMS", 10),
            days: env_u64("BENCH_DAYS", 365),
            future_days: env_u64("BENCH_FUTURE_DAYS", 30),
            interactions: env_u64("BENCH_INTERACTIONS", 1) != 0,
            seed: env_u64("BENCH_SEED", 7),
        };
        assert!(s.events_per_promise >= 4, "BENCH_EVENTS_PER_PROMISE must be at least 4 (created + an outcome)");
        assert!(s.teams >= 1 && s.agents >= 2 * s.teams, "BENCH_AGENTS must be at least twice BENCH_TEAMS");
        assert!(s.customers >= 1 && s.promises >= 1 && s.days > s.future_days, "sizes must be positive");
        s
    }
}

/// What is written beside the database once it is complete.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Manifest {
    sizes: Sizes,
    /// The build instant: the simulated "now", ms.
    now_ms: i64,
    load_s: f64,
    rebuild_s: f64,
    /// CPU seconds of the loading and rebuilding thread, which other processes on the machine do not inflate.
    #[serde(default)]
    load_cpu_s: f64,
    #[serde(default)]
    rebuild_cpu_s: f64,
    events: i64,
    interactions: i64,
}

// ---------------------------------------------------------------------------------------------------------------
// The simulated world.

struct Cust {
    id: Rc<str>,
    zone: Tz,
    zone_name: &'static str,
    team: usize,
    owner: usize,
}

struct World {
    now: i64,
    first_day: i32,
    sizes: Sizes,
    team_ids: Vec<Rc<str>>,
    agent_ids: Vec<Rc<str>>,
    /// Agent indexes per team.
    team_agents: Vec<Vec<usize>>,
    customers: Vec<Cust>,
    grace_s: i64,
    callback_lead_ms: i64,
    deadline_lead_ms: i64,
    callback_broken_ms: i64,
    deadline_broken_ms: i64,
}

impl World {
    fn colleague(&self, team: usize, not: usize, rng: &mut StdRng) -> usize {
        let members = &self.team_agents[team];
        loop {
            let a = members[rng.gen_range(0..members.len())];
            if a != not || members.len() == 1 {
                return a;
            }
        }
    }
}

fn ulid_id(prefix: &str, ms: i64, rng: &mut StdRng) -> String {
    format!("{prefix}_{}", ulid::Ulid::from_parts(ms.max(0) as u64, rng.gen()).to_string().to_lowercase())
}

fn local_text(l: NaiveDateTime) -> String {
    l.format("%Y-%m-%dT%H:%M:%S").to_string()
}

fn parse_local(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").expect("local time")
}

/// Sets a promise's due time from a wall-clock time in its zone, as the API resolves it.
fn set_due(p: &mut Promise, zone: Tz, local: NaiveDateTime) {
    let r = resolve_local(local, zone, Disambiguation::Compatible).expect("resolvable local time");
    p.due_local = local_text(r.local);
    p.due_at = r.instant.timestamp_millis();
    p.due_offset_seconds = r.offset_seconds;
}

fn local_date(zone: Tz, ms: i64) -> String {
    from_ms(ms).with_timezone(&zone).format("%Y-%m-%d").to_string()
}

fn uniform(rng: &mut StdRng, lo: i64, hi: i64) -> i64 {
    if hi <= lo {
        lo
    } else {
        rng.gen_range(lo..hi)
    }
}

/// One ledger event, waiting to be written.
struct Ev {
    at: i64,
    seq: u64,
    promise_id: Rc<str>,
    customer_id: Rc<str>,
    kind: &'static str,
    actor: Option<Rc<str>>,
    data: String,
}

impl PartialEq for Ev {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Ev {}
impl PartialOrd for Ev {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ev {
    // Reversed: BinaryHeap is a max-heap and the earliest event must come out first.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    OnTime,
    Late,
    NotAttempted,
    AgentCancel,
    CustomerCancel,
}

/// A promise being lived: its row and what has been written about it so far.
struct Life<'w> {
    w: &'w World,
    cust: &'w Cust,
    row: Promise,
    /// The owner's agent index.
    owner: usize,
    /// (at, kind, actor agent index, data)
    events: Vec<(i64, &'static str, Option<usize>, Value)>,
    interactions: Vec<Interaction>,
    last: i64,
    stopped: bool,
    outcome: bool,
}

impl Life<'_> {
    fn agent(&self, a: usize) -> String {
        self.w.agent_ids[a].to_string()
    }

    /// Whether something at `at` can still happen (before the build instant); stops the life otherwise.
    fn can(&mut self, at: i64) -> bool {
        if self.stopped || at >= self.w.now {
            self.stopped = true;
            return false;
        }
        true
    }

    /// `ledger::append`: an event that leaves the row as it is.
    fn append(&mut self, at: i64, kind: &'static str, actor: Option<usize>, data: Value) {
        self.events.push((at, kind, actor, data));
    }

    /// `ledger::save`: the changed row with the next version, the accountable agent kept, and the events, the
    /// annotated ones carrying the obligation they acted on.
    fn save(
        &mut self,
        at: i64,
        actor: Option<usize>,
        entries: Vec<(&'static str, Value)>,
        change: impl FnOnce(&mut Promise),
    ) {
        let before = self.row.clone();
        let mut changed = before.clone();
        change(&mut changed);
        let moved = changed.due_local != before.due_local || changed.time_zone != before.time_zone;
        if moved || (changed.owner_agent_id != before.owner_agent_id && at <= before.due_at) {
            changed.accountable_agent_id = changed.owner_agent_id.clone();
        }
        changed.version = before.version + 1;
        changed.updated_at = at;
        let obligation = annotate(&facts(&before));
        for (kind, mut data) in entries {
            if matches!(kind, "kept" | "missed" | "rescheduled" | "handed_over") {
                data["obligation"] = serde_json::to_value(&obligation).expect("an obligation serialises");
            }
            self.events.push((at, kind, actor, data));
        }
        self.row = changed;
        self.last = at;
    }

    /// An outbound contact that keeps the promise (or its occurrence); returns its id.
    fn contact(&mut self, at: i64, agent: usize, channel: &str, rng: &mut StdRng) -> Option<String> {
        if !self.w.sizes.interactions {
            return None;
        }
        let id = ulid_id("int", at, rng);
        self.interactions.push(Interaction {
            id: id.clone(),
            customer_id: self.cust.id.to_string(),
            agent_id: Some(self.agent(agent)),
            channel: channel.into(),
            direction: "outbound".into(),
            outcome: "reached".into(),
            summary: format!("Contacto por {} ({})", self.row.title, channel),
            occurred_at: at,
            promise_id: Some(self.row.id.clone()),
            created_at: at,
            updated_at: at,
            owner_agent_id: Some(self.agent(self.cust.owner)),
            team_id: Some(self.w.team_ids[self.cust.team].to_string()),
            local_date: Some(local_date(self.cust.zone, at)),
        });
        Some(id)
    }

    /// Keeps the current obligation at `kept_at`: for an update that is not at its last occurrence, the
    /// occurrence, and the promise moves on a week.
    fn keep(&mut self, kept_at: i64, final_: bool, rng: &mut StdRng) {
        if !self.can(kept_at) {
            return;
        }
        let owner = self.owner;
        let stand_in = rng.gen_bool(0.07);
        let keeper = if stand_in { self.w.colleague(self.cust.team, owner, rng) } else { owner };
        let deadline = self.row.kind == "deadline";
        let interaction = if deadline && rng.gen_bool(0.5) {
            None
        } else {
            self.contact(kept_at, keeper, if deadline { "email" } else { "phone" }, rng)
        };
        let on_time = kept_at <= self.row.due_at + self.row.grace_seconds * 1000 && self.row.late_since.is_none();
        let timeliness = if on_time { "on_time" } else { "late" };
        let note = interaction.is_none().then(|| "Hecho, confirmado con el cliente".to_string());
        let mut data = json!({
            "timeliness": timeliness, "kept_at": instant(kept_at), "kept_at_ms": kept_at,
            "evidence_interaction_id": interaction, "note": note, "by_stand_in": stand_in, "final": final_,
        });
        if self.row.kind == "update" {
            data["occurrence"] = json!(instant(self.row.due_at));
        }
        let zone = self.cust.zone;
        self.save(kept_at, Some(keeper), vec![("kept", data)], |p| {
            if final_ {
                p.status = "kept".into();
                p.kept_at = Some(kept_at);
                p.kept_on_time = Some(on_time);
                p.resolution_interaction_id = interaction;
                p.resolution_note = note;
            } else {
                let next = parse_local(&p.due_local) + chrono::Duration::days(7);
                set_due(p, zone, next);
                p.status = "open".into();
                p.late_since = None;
            }
        });
        self.outcome = final_;
    }

    /// The scheduler's miss at due + grace: the promise (or, not final, the occurrence, which moves on a week).
    fn miss(&mut self, final_: bool) -> bool {
        let at = self.row.due_at + self.row.grace_seconds * 1000;
        if !self.can(at) {
            return false;
        }
        let data = if self.row.kind == "update" {
            json!({ "occurrence": instant(self.row.due_at), "final": final_ })
        } else {
            json!({ "occurrence": instant(self.row.due_at), "grace_seconds": self.row.grace_seconds })
        };
        let zone = self.cust.zone;
        self.save(at, None, vec![("missed", data)], |p| {
            if final_ {
                p.status = "missed".into();
            } else {
                let next = parse_local(&p.due_local) + chrono::Duration::days(7);
                set_due(p, zone, next);
                p.late_since = None;
            }
        });
        true
    }

    /// A moment between the last event and the due time (or now, if earlier).
    fn before_due(&self, rng: &mut StdRng) -> i64 {
        let hi = self.row.due_at.min(self.w.now);
        let span = (hi - self.last).max(0);
        self.last + span * rng.gen_range(30..90) / 100 + 1
    }

    fn reschedule(&mut self, at: i64, by_customer: bool, days: i64) {
        if !self.can(at) {
            return;
        }
        let after_due = at > self.row.due_at;
        let late = !by_customer && after_due;
        let zone = self.cust.zone;
        let old_local = parse_local(&self.row.due_local);
        let mut to = self.row.clone();
        set_due(&mut to, zone, old_local + chrono::Duration::days(days));
        let data = json!({
            "from": { "due_at": instant(self.row.due_at), "due_local": self.row.due_local, "time_zone": self.row.time_zone },
            "to": { "due_at": instant(to.due_at), "due_local": to.due_local, "time_zone": to.time_zone },
            "reason": if by_customer { "El cliente prefiere otro día" } else { "No pude llamar a la hora acordada" },
            "initiated_by": if by_customer { "customer" } else { "agent" },
            "after_due": after_due, "counts_as_late": late, "warnings": [],
        });
        let owner = self.owner;
        self.save(at, Some(owner), vec![("rescheduled", data)], |p| {
            p.due_local = to.due_local;
            p.due_at = to.due_at;
            p.due_offset_seconds = to.due_offset_seconds;
            p.status = "open".into();
            p.customer_requested = by_customer;
            p.reschedule_count += 1;
            p.late_since = match (late, by_customer) {
                (true, _) => Some(p.late_since.unwrap_or(p.due_at)),
                (false, true) => None,
                (false, false) => p.late_since,
            };
        });
    }

    fn hand_over(&mut self, at: i64, rng: &mut StdRng) {
        if !self.can(at) {
            return;
        }
        let from = self.owner;
        let to = self.w.colleague(self.cust.team, from, rng);
        let data = json!({ "from": self.agent(from), "to": self.agent(to), "note": "Me voy de vacaciones; el cliente espera la llamada" });
        let to_id = self.agent(to);
        self.save(at, Some(from), vec![("handed_over", data)], |p| p.owner_agent_id = to_id);
        self.owner = to;
    }

    fn cancel(&mut self, at: i64, by_customer: bool) {
        if !self.can(at) {
            return;
        }
        let reason = if by_customer { "El cliente ya no lo necesita" } else { "Ya no podemos hacerlo" };
        let mut entries = vec![(
            "cancelled",
            json!({ "reason": reason, "initiated_by": if by_customer { "customer" } else { "agent" } }),
        )];
        if !by_customer {
            entries.push(("broken", json!({ "reason": "cancelled_without_customer_agreement" })));
        }
        let owner = self.owner;
        self.save(at, Some(owner), entries, |p| {
            p.status = if by_customer { "cancelled" } else { "broken" }.into();
            p.resolution_note = Some(reason.into());
        });
        self.outcome = true;
    }

    fn expire(&mut self) {
        let after = if self.row.kind == "deadline" { self.w.deadline_broken_ms } else { self.w.callback_broken_ms };
        let at = self.row.due_at + after;
        if !self.can(at) {
            return;
        }
        let reason = if self.row.kind == "deadline" { "deadline_passed" } else { "never_attempted" };
        self.save(at, None, vec![("broken", json!({ "reason": reason }))], |p| p.status = "broken".into());
        self.outcome = true;
    }

    /// Effect-free events until there are `total`, in turn: a lead reminder shortly before due, the due prompt
    /// (again every 15 minutes while unacknowledged), its acknowledgement, an escalation to the team's manager.
    /// Whatever cannot have happened yet (or after the promise was settled) happens at another moment of the
    /// promise's life instead: a reminder before due, a prompt or an acknowledgement after.
    fn fill(&mut self, total: usize, rng: &mut StdRng) {
        let lo = self.row.created_at + 1_000;
        let hi = (if self.outcome { self.last } else { self.w.now - 1_000 }).max(lo);
        let due = self.row.due_at;
        let owner = self.owner;
        let manager = self.w.team_agents[self.cust.team][0];
        let occurrence = instant(due);
        let mut n = 0i64;
        while self.events.len() < total {
            let (kind, wanted) = match n % 4 {
                0 => ("reminded", due - uniform(rng, 5 * MIN_MS, 2 * DAY_MS)),
                1 => ("prompted", due + (n / 4) * 15 * MIN_MS),
                2 => ("acknowledged", due + (n / 4) * 15 * MIN_MS + uniform(rng, 30_000, 10 * MIN_MS)),
                _ => ("escalated", due + (n / 4) * 15 * MIN_MS + 10 * MIN_MS),
            };
            n += 1;
            let (kind, at) = if wanted >= lo && wanted <= hi {
                (kind, wanted)
            } else {
                let at = uniform(rng, lo, hi);
                (
                    if at < due {
                        "reminded"
                    } else if n % 2 == 0 {
                        "prompted"
                    } else {
                        "acknowledged"
                    },
                    at,
                )
            };
            let prompt_id = ulid_id("pmt", at, rng);
            let late_by_ms = rng.gen_range(0..400);
            let (actor, data) = match kind {
                "acknowledged" => {
                    (Some(owner), json!({ "prompt_id": prompt_id, "purpose": "due", "occurrence": occurrence }))
                }
                _ => {
                    let (purpose, recipient) = match kind {
                        "reminded" => ("lead", owner),
                        "prompted" => ("due", owner),
                        _ => ("escalation", manager),
                    };
                    let data = json!({ "purpose": purpose, "occurrence": occurrence, "timer_id": ulid_id("dlv", at, rng),
                                       "prompt_id": prompt_id, "recipient": self.agent(recipient), "late_by_ms": late_by_ms,
                                       "misfire": false });
                    (None, data)
                }
            };
            self.append(at, kind, actor, data);
        }
    }
}

/// Lives promise `i` (of `n`, in due-date order).
fn live<'w>(w: &'w World, i: u64, rng: &mut StdRng) -> Life<'w> {
    let s = &w.sizes;
    let budget = s.events_per_promise as usize;
    let kind = match rng.gen_range(0..100) {
        0..=59 => "callback",
        60..=84 => "deadline",
        _ => "update",
    };
    let cust = &w.customers[rng.gen_range(0..w.customers.len())];
    let owner = if rng.gen_bool(0.9) { cust.owner } else { w.colleague(cust.team, cust.owner, rng) };
    let day = w.first_day + (i * s.days / s.promises) as i32;
    let time = match kind {
        "callback" => NaiveTime::from_hms_opt(9, 0, 0).unwrap() + chrono::Duration::minutes(5 * rng.gen_range(0..=132)),
        "deadline" => NaiveTime::from_hms_opt(18, 0, 0).unwrap(),
        _ => NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
    };
    let final_local = date_of(day).and_time(time);
    let class = match rng.gen_range(0..100) {
        0..=74 => Class::OnTime,
        75..=84 => Class::Late,
        85..=92 => Class::NotAttempted,
        93..=94 => Class::AgentCancel,
        _ => Class::CustomerCancel,
    };
    let late_rescheduled = class == Class::Late && rng.gen_bool(0.4);
    let needed = 1 + match class {
        Class::OnTime | Class::CustomerCancel => 1,
        Class::Late if late_rescheduled => 3,
        _ => 2,
    };
    let mut spare = budget - needed;
    let prior = if kind == "update" { rng.gen_range(1..=2usize).min(spare) } else { 0 };
    spare -= prior;
    let first_local = final_local - chrono::Duration::days(7 * prior as i64);
    let (lead_ms, grace_s, lead_seconds) = match kind {
        "deadline" => (uniform(rng, DAY_MS, 10 * DAY_MS), 0, format!("[{}]", w.deadline_lead_ms / 1000)),
        "update" => (uniform(rng, HOUR_MS, 2 * DAY_MS), w.grace_s, "[]".to_string()),
        _ => (uniform(rng, 30 * MIN_MS, 3 * DAY_MS), w.grace_s, format!("[{}]", w.callback_lead_ms / 1000)),
    };
    let owner_id = w.agent_ids[owner].to_string();
    let mut row = Promise {
        id: String::new(),
        customer_id: cust.id.to_string(),
        owner_agent_id: owner_id.clone(),
        made_by_agent_id: owner_id.clone(),
        kind: kind.into(),
        title: match kind {
            "callback" => "Te llamo para confirmar la portabilidad".into(),
            "deadline" => "Te envío la factura rectificada".into(),
            _ => "Te informo cada semana del estado de la avería".into(),
        },
        details: String::new(),
        due_local: String::new(),
        time_zone: cust.zone_name.into(),
        disambiguation: "compatible".into(),
        due_at: 0,
        due_offset_seconds: 0,
        window_end_at: None,
        grace_seconds: grace_s,
        lead_seconds,
        recurrence_cron: None,
        recurrence_until: None,
        status: "open".into(),
        kept_at: None,
        kept_on_time: None,
        resolution_interaction_id: None,
        resolution_note: None,
        made_in_interaction_id: None,
        customer_requested: rng.gen_bool(0.6),
        reschedule_count: 0,
        version: 1,
        created_at: 0,
        updated_at: 0,
        accountable_agent_id: owner_id,
        team_id: Some(w.team_ids[cust.team].to_string()),
        late_since: None,
    };
    set_due(&mut row, cust.zone, first_local);
    if kind == "update" {
        let last = resolve_local(final_local, cust.zone, Disambiguation::Compatible).expect("local time");
        row.recurrence_cron = Some(format!("0 10 * * {}", final_local.format("%a").to_string().to_lowercase()));
        row.recurrence_until = Some(last.instant.timestamp_millis());
    }
    let created_at = (row.due_at - lead_ms).min(w.now - uniform(rng, HOUR_MS, 5 * DAY_MS));
    row.id = ulid_id("prm", created_at, rng);
    row.created_at = created_at;
    row.updated_at = created_at;
    let mut life = Life {
        w,
        cust,
        row,
        owner,
        events: Vec::new(),
        interactions: Vec::new(),
        last: created_at,
        stopped: false,
        outcome: false,
    };
    let created = json!({
        "kind": life.row.kind, "title": life.row.title, "due_at": instant(life.row.due_at),
        "due_local": life.row.due_local, "time_zone": life.row.time_zone,
        "customer_requested": life.row.customer_requested, "outside_contact_window": false,
        "owner_agent_id": life.row.owner_agent_id, "warnings": [],
    });
    life.append(created_at, "created", Some(owner), created);

    // Earlier weekly occurrences of an update: mostly kept on time, some missed.
    for _ in 0..prior {
        if rng.gen_bool(0.9) {
            let at = life.row.due_at + uniform(rng, -10 * MIN_MS, 14 * MIN_MS);
            life.keep(at.max(life.last + 1_000), false, rng);
        } else {
            life.miss(false);
        }
    }
    if spare > 0 && rng.gen_bool(0.12) {
        spare -= 1;
        let at = life.before_due(rng);
        life.reschedule(at, true, rng.gen_range(1..=4));
    }
    if spare > 0 && rng.gen_bool(0.05) {
        spare -= 1;
        let at = life.before_due(rng);
        life.hand_over(at, rng);
    }
    let grace_ms = life.row.grace_seconds * 1000;
    match class {
        Class::OnTime => {
            let at = if kind == "deadline" {
                life.row.due_at - uniform(rng, 0, 2 * DAY_MS)
            } else {
                life.row.due_at + uniform(rng, -10 * MIN_MS, 14 * MIN_MS)
            };
            life.keep(at.max(life.last + 1_000), true, rng);
        }
        Class::Late => {
            if life.miss(true) {
                if late_rescheduled {
                    let at = life.last + uniform(rng, 5 * MIN_MS, 4 * HOUR_MS);
                    life.reschedule(at, false, 1);
                    let at = life.row.due_at + uniform(rng, -10 * MIN_MS, 14 * MIN_MS);
                    life.keep(at.max(life.last + 1_000), true, rng);
                } else {
                    let at = life.last + uniform(rng, MIN_MS, 36 * HOUR_MS);
                    life.keep(at.max(life.row.due_at + grace_ms + 1_000), true, rng);
                }
            }
        }
        Class::NotAttempted => {
            if life.miss(true) {
                if spare > 0 && rng.gen_bool(0.2) {
                    let at = life.last + uniform(rng, 10 * MIN_MS, 12 * HOUR_MS);
                    life.hand_over(at, rng);
                }
                life.expire();
            }
        }
        Class::AgentCancel | Class::CustomerCancel => {
            let at = life.before_due(rng);
            life.cancel(at, class == Class::CustomerCancel);
        }
    }
    life.fill(budget, rng);
    life.events.sort_by_key(|e| e.0);
    life
}

// ---------------------------------------------------------------------------------------------------------------
// Writing.

type Q<'a> = BoxedSqlQuery<'a, Sqlite, SqlQuery>;

/// Multi-row INSERTs of `rows`, as many per statement as the bind limit allows.
fn insert_many<'a, T>(
    conn: &mut SqliteConnection,
    head: &str,
    columns: usize,
    rows: &'a [T],
    bind: impl Fn(Q<'a>, &'a T) -> Q<'a>,
) -> QueryResult<()> {
    let per = (MAX_BINDS / columns).max(1);
    let one = format!("({})", vec!["?"; columns].join(","));
    for chunk in rows.chunks(per) {
        let sql = format!("{head} VALUES {}", vec![one.as_str(); chunk.len()].join(","));
        let mut q: Q<'a> = diesel::sql_query(sql).into_boxed();
        for r in chunk {
            q = bind(q, r);
        }
        q.execute(conn)?;
    }
    Ok(())
}

fn insert_promises(conn: &mut SqliteConnection, rows: &[Promise]) -> QueryResult<()> {
    insert_many(
        conn,
        "INSERT INTO promises (id, customer_id, owner_agent_id, made_by_agent_id, kind, title, details, due_local, \
         time_zone, disambiguation, due_at, due_offset_seconds, window_end_at, grace_seconds, lead_seconds, \
         recurrence_cron, recurrence_until, status, kept_at, kept_on_time, resolution_interaction_id, \
         resolution_note, made_in_interaction_id, customer_requested, reschedule_count, version, created_at, \
         updated_at, accountable_agent_id, team_id, late_since)",
        31,
        rows,
        |q, p| {
            q.bind::<Text, _>(&p.id)
                .bind::<Text, _>(&p.customer_id)
                .bind::<Text, _>(&p.owner_agent_id)
                .bind::<Text, _>(&p.made_by_agent_id)
                .bind::<Text, _>(&p.kind)
                .bind::<Text, _>(&p.title)
                .bind::<Text, _>(&p.details)
                .bind::<Text, _>(&p.due_local)
                .bind::<Text, _>(&p.time_zone)
                .bind::<Text, _>(&p.disambiguation)
                .bind::<BigInt, _>(p.due_at)
                .bind::<Integer, _>(p.due_offset_seconds)
                .bind::<Nullable<BigInt>, _>(p.window_end_at)
                .bind::<BigInt, _>(p.grace_seconds)
                .bind::<Text, _>(&p.lead_seconds)
                .bind::<Nullable<Text>, _>(p.recurrence_cron.as_deref())
                .bind::<Nullable<BigInt>, _>(p.recurrence_until)
                .bind::<Text, _>(&p.status)
                .bind::<Nullable<BigInt>, _>(p.kept_at)
                .bind::<Nullable<Bool>, _>(p.kept_on_time)
                .bind::<Nullable<Text>, _>(p.resolution_interaction_id.as_deref())
                .bind::<Nullable<Text>, _>(p.resolution_note.as_deref())
                .bind::<Nullable<Text>, _>(p.made_in_interaction_id.as_deref())
                .bind::<Bool, _>(p.customer_requested)
                .bind::<Integer, _>(p.reschedule_count)
                .bind::<Integer, _>(p.version)
                .bind::<BigInt, _>(p.created_at)
                .bind::<BigInt, _>(p.updated_at)
                .bind::<Text, _>(&p.accountable_agent_id)
                .bind::<Nullable<Text>, _>(p.team_id.as_deref())
                .bind::<Nullable<BigInt>, _>(p.late_since)
        },
    )
}

fn insert_events(conn: &mut SqliteConnection, rows: &[Ev]) -> QueryResult<()> {
    insert_many(
        conn,
        "INSERT INTO promise_events (promise_id, customer_id, kind, actor_agent_id, occurred_at, data, created_at, \
         updated_at)",
        8,
        rows,
        |q, e| {
            q.bind::<Text, _>(&*e.promise_id)
                .bind::<Text, _>(&*e.customer_id)
                .bind::<Text, _>(e.kind)
                .bind::<Nullable<Text>, _>(e.actor.as_deref())
                .bind::<BigInt, _>(e.at)
                .bind::<Text, _>(&e.data)
                .bind::<BigInt, _>(e.at)
                .bind::<BigInt, _>(e.at)
        },
    )
}

fn insert_interactions(conn: &mut SqliteConnection, rows: &[Interaction]) -> QueryResult<()> {
    insert_many(
        conn,
        "INSERT INTO interactions (id, customer_id, agent_id, channel, direction, outcome, summary, occurred_at, \
         promise_id, created_at, updated_at, owner_agent_id, team_id, local_date)",
        14,
        rows,
        |q, i| {
            q.bind::<Text, _>(&i.id)
                .bind::<Text, _>(&i.customer_id)
                .bind::<Nullable<Text>, _>(i.agent_id.as_deref())
                .bind::<Text, _>(&i.channel)
                .bind::<Text, _>(&i.direction)
                .bind::<Text, _>(&i.outcome)
                .bind::<Text, _>(&i.summary)
                .bind::<BigInt, _>(i.occurred_at)
                .bind::<Nullable<Text>, _>(i.promise_id.as_deref())
                .bind::<BigInt, _>(i.created_at)
                .bind::<BigInt, _>(i.updated_at)
                .bind::<Nullable<Text>, _>(i.owner_agent_id.as_deref())
                .bind::<Nullable<Text>, _>(i.team_id.as_deref())
                .bind::<Nullable<Text>, _>(i.local_date.as_deref())
        },
    )
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

fn open_db(path: &Path, readers: u32) -> Db {
    open_url(&sqlite_url(path), readers)
}

fn open_url(url: &str, readers: u32) -> Db {
    Db::connect(url, &PoolOptions { max_connections: readers, busy_timeout: Duration::from_secs(60) })
        .expect("open database")
}

fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm", ".json"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

fn manifest_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".json");
    PathBuf::from(p)
}

#[derive(QueryableByName)]
struct SchemaIndex {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    sql: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(conn: &mut DbConn, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Count>(conn).map(|r| r.n).unwrap_or(-1)
}

fn file_size(path: &Path) -> u64 {
    ["", "-wal"]
        .iter()
        .map(|s| {
            let mut p = path.as_os_str().to_owned();
            p.push(s);
            std::fs::metadata(PathBuf::from(p)).map(|m| m.len()).unwrap_or(0)
        })
        .sum()
}

fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// Teams, agents (the first two of each team are managers) and customers, through the library.
fn cast(db: &Db, sizes: &Sizes, now: i64, tolerances: &Tolerances, rng: &mut StdRng) -> World {
    let team_ids: Vec<Rc<str>> = (0..sizes.teams).map(|t| Rc::from(ulid_id("team", now + t as i64, rng))).collect();
    let agent_ids: Vec<Rc<str>> = (0..sizes.agents).map(|a| Rc::from(ulid_id("agt", now + a as i64, rng))).collect();
    let mut team_agents = vec![Vec::new(); sizes.teams as usize];
    for a in 0..sizes.agents as usize {
        team_agents[a % sizes.teams as usize].push(a);
    }
    let zones: [(&'static str, Tz); 5] = [
        ("Europe/Madrid", chrono_tz::Europe::Madrid),
        ("Europe/Madrid", chrono_tz::Europe::Madrid),
        ("Europe/Madrid", chrono_tz::Europe::Madrid),
        ("Atlantic/Canary", chrono_tz::Atlantic::Canary),
        ("America/New_York", chrono_tz::America::New_York),
    ];
    let customers: Vec<Cust> = (0..sizes.customers as usize)
        .map(|c| {
            let team = c % sizes.teams as usize;
            let members = &team_agents[team];
            let (zone_name, zone) = zones[c % zones.len()];
            Cust {
                id: Rc::from(ulid_id("cus", now + c as i64, rng)),
                zone,
                zone_name,
                team,
                owner: members[(c / sizes.teams as usize) % members.len()],
            }
        })
        .collect();
    let shift = tolerances.default_shift.to_text();
    let window = tolerances.default_contact_window.to_text();
    db.write_blocking(|conn| {
        for (t, id) in team_ids.iter().enumerate() {
            teams::insert(
                conn,
                &Team { id: id.to_string(), name: format!("Equipo {t}"), created_at: now, updated_at: now },
            )?;
        }
        for (a, id) in agent_ids.iter().enumerate() {
            let team = a % sizes.teams as usize;
            let role =
                if team_agents[team].iter().position(|x| *x == a).unwrap_or(9) < 2 { "manager" } else { "agent" };
            agents::insert(
                conn,
                &Agent {
                    id: id.to_string(),
                    name: format!("Agente {a}"),
                    email: format!("agent{a}@bench.test"),
                    role: role.into(),
                    team_id: Some(team_ids[team].to_string()),
                    time_zone: if a % 4 == 3 { "Atlantic/Canary" } else { "Europe/Madrid" }.into(),
                    shift: shift.clone(),
                    locale: "es".into(),
                    active: true,
                    password_hash: None,
                    created_at: now,
                    updated_at: now,
                },
            )?;
        }
        for (c, cust) in customers.iter().enumerate() {
            customers::insert(
                conn,
                &Customer {
                    id: cust.id.to_string(),
                    name: format!("Cliente {c}"),
                    phone: Some(format!("+34 600 {:03} {:03}", c / 1000 % 1000, c % 1000)),
                    email: Some(format!("cliente{c}@example.com")),
                    time_zone: cust.zone_name.into(),
                    locale: if cust.zone_name == "America/New_York" { "en" } else { "es" }.into(),
                    contact_window: window.clone(),
                    preferred_channel: Some("phone".into()),
                    owner_agent_id: Some(agent_ids[cust.owner].to_string()),
                    team_id: Some(team_ids[cust.team].to_string()),
                    notes: String::new(),
                    facts: "[]".into(),
                    external_ref: Some(format!("CRM-{c}")),
                    do_not_call: false,
                    region: None,
                    created_at: now,
                    updated_at: now,
                },
            )?;
        }
        // `serve` re-derives due times when the recorded tzdata differs; these were derived with this binary's.
        service_state::set(conn, "tzdata_version", tzdata_version(), now)?;
        Ok(())
    })
    .expect("insert teams, agents, customers");
    let anchor = from_ms(now).date_naive();
    World {
        now,
        first_day: day_number(anchor) + sizes.future_days as i32 - sizes.days as i32,
        sizes: sizes.clone(),
        team_ids,
        agent_ids,
        team_agents,
        customers,
        grace_s: tolerances.callback_grace.num_seconds(),
        callback_lead_ms: tolerances.callback_lead.first().map(|d| d.num_milliseconds()).unwrap_or(10 * MIN_MS),
        deadline_lead_ms: tolerances.deadline_lead.first().map(|d| d.num_milliseconds()).unwrap_or(2 * DAY_MS),
        callback_broken_ms: tolerances.callback_broken_after.num_milliseconds(),
        deadline_broken_ms: tolerances.deadline_broken_after.num_milliseconds(),
    }
}

/// Builds the database; returns (load seconds, events, interactions).
fn build(path: &Path, sizes: &Sizes, now: i64, tolerances: &Tolerances) -> (f64, i64, i64) {
    remove_db(path);
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(sizes.seed);
    let db = open_db(path, 1);
    db.migrate().expect("migrate");
    let world = cast(&db, sizes, now, tolerances, &mut rng);
    drop(db);
    eprintln!(
        "  {} teams, {} agents, {} customers in {:.1} s",
        sizes.teams,
        sizes.agents,
        sizes.customers,
        started.elapsed().as_secs_f64()
    );

    let mut conn = SqliteConnection::establish(path.to_str().expect("utf-8 path")).expect("sqlite");
    // Bulk load: no journal, no fsync, a large page cache. The file goes back to WAL at the end. Leaving WAL needs
    // the pool's connections closed; its writer thread may still be letting go of its own.
    conn.batch_execute("PRAGMA busy_timeout = 60000;").expect("busy timeout");
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Err(e) = conn.batch_execute("PRAGMA journal_mode = DELETE;") {
        assert!(Instant::now() < deadline, "cannot leave WAL mode: {e}");
        std::thread::sleep(Duration::from_millis(50));
    }
    conn.batch_execute(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA locking_mode = EXCLUSIVE; \
         PRAGMA cache_size = -2000000; PRAGMA temp_store = MEMORY; PRAGMA foreign_keys = OFF;",
    )
    .expect("bulk pragmas");
    // The secondary indexes of the big tables are dropped and made again from their own SQL afterwards (a sort
    // instead of millions of random B-tree inserts); the schema ends up as the migrations left it.
    let indexes: Vec<SchemaIndex> = diesel::sql_query(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
         AND tbl_name IN ('promises', 'promise_events', 'interactions')",
    )
    .load(&mut conn)
    .expect("indexes");
    for index in &indexes {
        conn.batch_execute(&format!("DROP INDEX {}", index.name)).expect("drop index");
    }
    let n = sizes.promises;
    let agent_rc = world.agent_ids.clone();
    let mut heap: BinaryHeap<Ev> = BinaryHeap::new();
    let mut seq = 0u64;
    let (mut events_written, mut interactions_written) = (0i64, 0i64);
    let mut last_print = Instant::now();
    let chunk = 1_000u64;
    let per_tx = 50_000u64;
    let mut i = 0u64;
    while i < n {
        conn.batch_execute("BEGIN").expect("begin");
        let tx_end = (i + per_tx).min(n);
        while i < tx_end {
            let end = (i + chunk).min(tx_end);
            let mut rows = Vec::with_capacity((end - i) as usize);
            let mut contacts = Vec::new();
            for k in i..end {
                let life = live(&world, k, &mut rng);
                let pid: Rc<str> = Rc::from(life.row.id.as_str());
                let cid = life.cust.id.clone();
                for (at, kind, actor, data) in life.events {
                    seq += 1;
                    heap.push(Ev {
                        at,
                        seq,
                        promise_id: pid.clone(),
                        customer_id: cid.clone(),
                        kind,
                        actor: actor.map(|a| agent_rc[a].clone()),
                        data: data.to_string(),
                    });
                }
                contacts.extend(life.interactions);
                rows.push(life.row);
            }
            insert_interactions(&mut conn, &contacts).expect("insert interactions");
            insert_promises(&mut conn, &rows).expect("insert promises");
            interactions_written += contacts.len() as i64;
            i = end;
            // Nothing generated from promise `i` on happens before this: created at most 24 days before its
            // due date (two earlier weekly occurrences and a 10-day lead), or at most 5 days before now.
            let watermark = if i < n {
                let next_day = world.first_day as i64 + (i * sizes.days / n) as i64;
                ((next_day - 26) * DAY_MS).min(now - 6 * DAY_MS)
            } else {
                i64::MAX
            };
            let mut ready = Vec::new();
            while heap.peek().is_some_and(|e| e.at < watermark) {
                ready.push(heap.pop().expect("peeked"));
                if ready.len() == 40_000 {
                    insert_events(&mut conn, &ready).expect("insert events");
                    events_written += ready.len() as i64;
                    ready.clear();
                }
            }
            insert_events(&mut conn, &ready).expect("insert events");
            events_written += ready.len() as i64;
        }
        conn.batch_execute("COMMIT").expect("commit");
        if last_print.elapsed() > Duration::from_secs(10) || i == n {
            let s = started.elapsed().as_secs_f64();
            eprintln!(
                "  {i} promises, {events_written} events, {interactions_written} interactions written in {s:.0} s \
                 ({:.0} events/s; {} events waiting)",
                events_written as f64 / s,
                heap.len()
            );
            last_print = Instant::now();
        }
    }
    assert!(heap.is_empty());
    let t = Instant::now();
    for index in &indexes {
        conn.batch_execute(&index.sql).expect("create index");
    }
    eprintln!("  {} indexes made again in {:.1} s", indexes.len(), t.elapsed().as_secs_f64());
    if n <= 100_000 || std::env::var("BENCH_FK_CHECK").is_ok_and(|v| v != "0") {
        #[derive(QueryableByName)]
        struct Violation {
            #[diesel(sql_type = Text)]
            table: String,
        }
        let bad: Vec<Violation> = diesel::sql_query("PRAGMA foreign_key_check").load(&mut conn).expect("fk check");
        assert!(bad.is_empty(), "foreign key violations, e.g. in {}", bad[0].table);
        eprintln!("  foreign keys checked");
    }
    conn.batch_execute("PRAGMA locking_mode = NORMAL; PRAGMA journal_mode = WAL;").expect("back to WAL");
    drop(conn);
    (started.elapsed().as_secs_f64(), events_written, interactions_written)
}

/// Reuses the database when its manifest matches the sizes and its row counts are complete.
fn reusable(path: &Path, sizes: &Sizes) -> Option<Manifest> {
    if std::env::var("BENCH_FRESH").is_ok_and(|v| v != "0") || !path.is_file() {
        return None;
    }
    let text = std::fs::read_to_string(manifest_path(path)).ok()?;
    let manifest: Manifest = serde_json::from_str(&text).ok()?;
    if manifest.sizes != *sizes {
        eprintln!("  {} was built with other sizes; building anew", path.display());
        return None;
    }
    let db = open_db(path, 1);
    let (promises, events) = db
        .read_blocking(|c| {
            Ok((count(c, "SELECT count(*) AS n FROM promises"), count(c, "SELECT count(*) AS n FROM promise_events")))
        })
        .ok()?;
    let expected = (sizes.promises * sizes.events_per_promise) as i64;
    if promises != sizes.promises as i64 || events != expected {
        eprintln!("  {} has {promises} promises and {events} events, not the expected; building anew", path.display());
        return None;
    }
    Some(manifest)
}

// ---------------------------------------------------------------------------------------------------------------
// The same rows on PostgreSQL.

#[cfg(feature = "postgres")]
#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[cfg(feature = "postgres")]
#[derive(QueryableByName)]
struct JsonRow {
    #[diesel(sql_type = Text)]
    r: String,
}

#[cfg(feature = "postgres")]
/// A JSON value read from SQLite as a PostgreSQL literal. Quoted literals are untyped, so PostgreSQL casts them to
/// the column's type (`'1'` to a boolean, `'42'` to a bigint); standard_conforming_strings leaves backslashes alone.
fn sql_literal(v: &Value, out: &mut String) {
    let text = match v {
        Value::Null => return out.push_str("NULL"),
        Value::String(s) => s.replace('\'', "''"),
        other => other.to_string(),
    };
    out.push('\'');
    out.push_str(&text);
    out.push('\'');
}

/// Copies the SQLite dataset into the PostgreSQL database `metrics_<promises>p_<events>e` on the BENCH_DATABASE_URL
/// server (made anew unless it already holds this build, or BENCH_FRESH=1), and returns its URL and the copy's
/// seconds (0 when reused). The schema comes from the PostgreSQL migrations; every table's rows are read from SQLite
/// as JSON arrays and written as multi-row INSERTs of 1,000 rows, with the foreign-key triggers off
/// (`session_replication_role = replica`, which needs a superuser) and the secondary indexes made afterwards; then
/// `VACUUM ANALYZE`, as a service's database would have statistics and a visibility map.
#[cfg(feature = "postgres")]
fn postgres_copy(path: &Path, server: &str, manifest: &Manifest) -> (String, f64) {
    use diesel::pg::PgConnection;
    let name = format!("metrics_{}p_{}e", manifest.sizes.promises, manifest.sizes.events_per_promise);
    let url = tendero::db::database_on(server, &name).expect("BENCH_DATABASE_URL ends with /DATABASE");
    let stamp = format!("{GENERATOR}:{}:{}", manifest.now_ms, serde_json::to_string(&manifest.sizes).unwrap());
    let fresh = std::env::var("BENCH_FRESH").is_ok_and(|v| v != "0");
    if !fresh {
        if let Ok(mut c) = tendero::db::establish(&url) {
            if service_state::get(&mut c, "bench_source").ok().flatten().as_deref() == Some(stamp.as_str()) {
                eprintln!("  reusing the PostgreSQL copy {url}");
                return (url, 0.0);
            }
        }
    }
    eprintln!("  copying into {url}");
    let started = Instant::now();
    // Kept: later runs reuse it.
    support::ScratchDatabase::create(server, &name).expect("BENCH_DATABASE_URL answers").keep();
    let db = open_url(&url, 1);
    db.migrate().expect("migrate");
    drop(db);
    let mut pg = PgConnection::establish(&url).expect("copy connection");
    let mut lite = SqliteConnection::establish(path.to_str().expect("utf-8 path")).expect("sqlite");
    let tables: Vec<String> = diesel::sql_query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name <> '__diesel_schema_migrations' ORDER BY name",
    )
    .load::<Name>(&mut lite)
    .expect("tables")
    .into_iter()
    .map(|t| t.name)
    .collect();
    // Indexes that back no constraint are dropped for the load and made again from their own definition.
    let indexes: Vec<SchemaIndex> = diesel::sql_query(
        "SELECT i.relname AS name, pg_get_indexdef(i.oid) AS sql FROM pg_index x \
         JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = current_schema() AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)",
    )
    .load(&mut pg)
    .expect("indexes");
    for index in &indexes {
        pg.batch_execute(&format!("DROP INDEX {}", index.name)).expect("drop index");
    }
    let quoted: Vec<String> = tables.iter().map(|t| format!("\"{t}\"")).collect();
    pg.batch_execute(&format!("SET session_replication_role = replica; TRUNCATE {}", quoted.join(", ")))
        .expect("replica role (needs a superuser) and empty tables");
    for table in &tables {
        let t = Instant::now();
        let columns: Vec<String> =
            diesel::sql_query(format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"))
                .load::<Name>(&mut lite)
                .expect("columns")
                .into_iter()
                .map(|c| c.name)
                .collect();
        let list = columns.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ");
        let head = format!("INSERT INTO \"{table}\" ({list}) VALUES ");
        let select = format!("SELECT json_array({list}) AS r FROM \"{table}\"");
        let mut statement = head.clone();
        let mut rows = 0u64;
        pg.batch_execute("BEGIN").expect("begin");
        let flush = |statement: &mut String, pg: &mut PgConnection, rows: u64| {
            pg.batch_execute(statement).unwrap_or_else(|e| panic!("copy into {table}: {e}"));
            statement.truncate(head.len());
            if rows.is_multiple_of(200_000) {
                pg.batch_execute("COMMIT; BEGIN").expect("commit");
            }
        };
        for row in diesel::sql_query(select)
            .load_iter::<JsonRow, diesel::connection::DefaultLoadingMode>(&mut lite)
            .expect("read")
        {
            let values: Vec<Value> = serde_json::from_str(&row.expect("row").r).expect("json row");
            if statement.len() > head.len() {
                statement.push(',');
            }
            statement.push('(');
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    statement.push(',');
                }
                sql_literal(v, &mut statement);
            }
            statement.push(')');
            rows += 1;
            if rows.is_multiple_of(1_000) {
                flush(&mut statement, &mut pg, rows);
            }
        }
        if statement.len() > head.len() {
            flush(&mut statement, &mut pg, rows);
        }
        pg.batch_execute("COMMIT").expect("commit");
        eprintln!("    {table}: {rows} rows in {:.1} s", t.elapsed().as_secs_f64());
    }
    pg.batch_execute("SET session_replication_role = DEFAULT").expect("role");
    let t = Instant::now();
    for index in &indexes {
        pg.batch_execute(&index.sql).unwrap_or_else(|e| panic!("{}: {e}", index.sql));
    }
    eprintln!("    {} indexes in {:.1} s", indexes.len(), t.elapsed().as_secs_f64());
    pg.batch_execute("VACUUM ANALYZE").expect("vacuum analyze");
    let mut conn = DbConn::Postgres(pg);
    service_state::set(&mut conn, "bench_source", &stamp, Utc::now().timestamp_millis()).expect("stamp");
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("  copied in {seconds:.1} s");
    (url, seconds)
}

#[cfg(not(feature = "postgres"))]
fn postgres_copy(_: &Path, _: &str, _: &Manifest) -> (String, f64) {
    panic!("BENCH_DATABASE_URL names PostgreSQL: run with --all-features");
}

// ---------------------------------------------------------------------------------------------------------------
// Measuring.

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

struct Timing {
    label: String,
    rows: usize,
    ms: Vec<f64>,
    /// Mean CPU time per run, ms: of the measuring thread (library) or of the server process (HTTP). Unlike the
    /// wall-clock figures it does not count the time other processes held the cores.
    cpu_ms: f64,
}

impl Timing {
    fn line(&self) -> String {
        let mut v = self.ms.clone();
        v.sort_by(f64::total_cmp);
        format!(
            "| {:<34} | {:>6} | {:>4} | {:>8.1} | {:>8.1} | {:>8.1} | {:>8.1} |",
            self.label,
            self.rows,
            v.len(),
            percentile(&v, 50.0),
            percentile(&v, 99.0),
            v.last().copied().unwrap_or(0.0),
            self.cpu_ms
        )
    }
}

fn table_head() -> [String; 2] {
    [
        format!(
            "| {:<34} | {:>6} | {:>4} | {:>8} | {:>8} | {:>8} | {:>8} |",
            "ms", "rows", "runs", "p50", "p99", "max", "CPU/run"
        ),
        format!("|{:-<36}|{:-<8}|{:-<6}|{:-<10}|{:-<10}|{:-<10}|{:-<10}|", "", "", "", "", "", "", ""),
    ]
}

fn label(group_by: &str) -> String {
    if group_by.is_empty() {
        "none".into()
    } else {
        group_by.into()
    }
}

/// CPU time of the calling thread, ms.
fn thread_cpu_ms() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec for the call to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 * 1000.0 + t.tv_nsec as f64 / 1e6
}

/// CPU time (user + system) of a process, ms, from /proc (USER_HZ is 100 on every Linux this runs on).
fn process_cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |n: usize| fields.get(n).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) * 10.0
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `f` twice to warm up, then `runs` times: wall-clock ms of each run, mean thread CPU ms, last result.
fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Vec<f64>, f64, T) {
    f();
    let mut out = f();
    let mut ms = Vec::with_capacity(runs);
    let cpu = thread_cpu_ms();
    for _ in 0..runs {
        let t = Instant::now();
        out = f();
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    (ms, (thread_cpu_ms() - cpu) / runs.max(1) as f64, out)
}

fn query(from: NaiveDate, to: NaiveDate, group_by: &str) -> MetricsQuery {
    MetricsQuery {
        from: Some(from.to_string()),
        to: Some(to.to_string()),
        group_by: (!group_by.is_empty()).then(|| group_by.to_string()),
        ..Default::default()
    }
}

fn grouping_of(group_by: &str) -> Grouping {
    let mut g = Grouping::default();
    for part in group_by.split(',') {
        match part {
            "agent" => g.agent = true,
            "team" => g.team = true,
            "kind" => g.kind = true,
            "week" => g.week = true,
            _ => {}
        }
    }
    g
}

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = Text)]
    detail: String,
}

fn library(db: &Db, admin: &Caller, from: NaiveDate, to: NaiveDate, runs: usize, report: &mut Vec<String>) {
    let now = Utc::now();
    let sel =
        Selection { from_day: day_number(from), to_day: day_number(to), team_id: None, agent_id: None, kind: None };
    let load_before = loadavg();
    let mut whole = Vec::new();
    let mut parts = Vec::new();
    for g in GROUPINGS {
        let q = query(from, to, g);
        let (ms, cpu_ms, rows) = time(runs, || {
            db.read_blocking(|conn| {
                let p = plan(admin, &q, now)?;
                run(conn, &p)
            })
            .expect("report")
            .rows
            .len()
        });
        whole.push(Timing { label: label(g), rows, ms, cpu_ms });
        let by = grouping_of(g);
        let (ms, cpu_ms, rows) =
            time(runs, || db.read_blocking(|conn| Ok(rollups::report(conn, by, &sel)?)).expect("report").len());
        parts.push(Timing { label: format!("report({})", label(g)), rows, ms, cpu_ms });
    }
    // What the dashboard page runs: the agent, team and week reports, on one read connection.
    let dashboard: Vec<MetricsQuery> = ["agent", "team", "week"].iter().map(|g| query(from, to, g)).collect();
    let (ms, cpu_ms, rows) = time(runs, || {
        db.read_blocking(|conn| {
            let plans = dashboard.iter().map(|q| plan(admin, q, now)).collect::<Result<Vec<_>, _>>()?;
            Ok(run_many(conn, &plans)?.iter().map(|r| r.rows.len()).sum::<usize>())
        })
        .expect("dashboard reports")
    });
    whole.push(Timing { label: "dashboard: agent + team + week".into(), rows, ms, cpu_ms });
    report.push(format!(
        "library: routes::api::metrics::plan + run, admin, {from} .. {to} (to exclusive); load average before {}, \
         after {}",
        load_before,
        loadavg()
    ));
    report.extend(table_head());
    report.extend(whole.iter().map(Timing::line));
    report.push(String::new());
    report.push("of which repo::metrics::report (the grouping alone; run folds the totals from the same read):".into());
    report.extend(table_head());
    report.extend(parts.iter().map(Timing::line));
    let plan_lines: Vec<PlanLine> = db
        .read_blocking(|conn| {
            Ok(diesel::sql_query(
                "EXPLAIN QUERY PLAN SELECT agent_id, SUM(kept_on_time) FROM metric_days \
                 WHERE day >= ? AND day < ? AND ('' = '' OR team_id = '') GROUP BY agent_id",
            )
            .bind::<Integer, _>(sel.from_day)
            .bind::<Integer, _>(sel.to_day)
            .load(conn)?)
        })
        .unwrap_or_default();
    report.push(format!(
        "query plan of the per-agent metric_days query: {}",
        plan_lines.iter().map(|l| l.detail.as_str()).collect::<Vec<_>>().join("; ")
    ));
}

fn tendero_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("TENDERO_BIN") {
        return PathBuf::from(bin);
    }
    // `cargo bench` builds the binary beside the bench, so it is as fresh as the bench itself.
    if let Some(bin) = option_env!("CARGO_BIN_EXE_tendero").map(PathBuf::from).filter(|b| b.is_file()) {
        return bin;
    }
    eprintln!("building the release binary: cargo build --release --bin tendero");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(manifest_dir())
        .args(["build", "--release", "--bin", "tendero"])
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build --release --bin tendero failed");
    manifest_dir().join("target/release/tendero")
}

/// Peak RSS of a process in MiB, from /proc.
fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// `runs` GETs of a page after 2 warm-ups; the server's CPU per request.
async fn get_many(
    client: &reqwest::Client,
    pid: u32,
    name: &str,
    url: &str,
    cookie: Option<&str>,
    runs: usize,
) -> String {
    let mut ms = Vec::new();
    let mut size = 0;
    let mut cpu = 0.0;
    for n in 0..runs + 2 {
        if n == 2 {
            cpu = process_cpu_ms(pid);
        }
        let t = Instant::now();
        let mut request = client.get(url);
        if let Some(cookie) = cookie {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        let r = request.send().await.expect("request");
        let status = r.status();
        size = r.bytes().await.expect("body").len();
        assert_eq!(status, reqwest::StatusCode::OK, "GET {url}");
        if n >= 2 {
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let cpu_ms = (process_cpu_ms(pid) - cpu) / runs.max(1) as f64;
    Timing { label: format!("{name} ({} KiB)", size / 1024), rows: 0, ms, cpu_ms }.line()
}

async fn http(
    bin: &Path,
    path: &Path,
    url: &str,
    (token, session): (&str, &str),
    from: NaiveDate,
    to: NaiveDate,
    runs: usize,
) -> Vec<String> {
    let dir = path.parent().expect("database directory");
    let started = Instant::now();
    let tendero = Tendero::new(bin, dir, url)
        .env("TENDERO__SCHEDULER__ENABLED", "false")
        .ready_at("/healthz", Duration::from_secs(300));
    let server = tendero.start(&[]).await;
    // A redirect (to the login form) must fail the run, not be followed.
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let startup = started.elapsed().as_secs_f64();
    let load_before = loadavg();
    let pid = server.pid();
    let mut lines = Vec::new();
    for g in GROUPINGS {
        let mut url = format!("{}/api/v1/metrics/promises?from={from}&to={to}", server.base);
        if !g.is_empty() {
            url.push_str(&format!("&group_by={g}"));
        }
        let mut ms = Vec::new();
        let mut body = Vec::new();
        let mut cpu = 0.0;
        for n in 0..runs + 2 {
            if n == 2 {
                cpu = process_cpu_ms(pid);
            }
            let t = Instant::now();
            let r = client.get(&url).bearer_auth(token).send().await.expect("request");
            let status = r.status();
            body = r.bytes().await.expect("body").to_vec();
            let elapsed = t.elapsed().as_secs_f64() * 1000.0;
            assert!(status.is_success(), "GET {url}: {status} {}", String::from_utf8_lossy(&body));
            if n >= 2 {
                ms.push(elapsed);
            }
        }
        let v: Value = serde_json::from_slice(&body).expect("json");
        let rows = v["rows"].as_array().map(Vec::len).unwrap_or(0);
        let cpu_ms = (process_cpu_ms(pid) - cpu) / runs.max(1) as f64;
        lines.push(Timing { label: format!("{} ({} KiB)", label(g), body.len() / 1024), rows, ms, cpu_ms }.line());
    }
    // The dashboard page (a web session): the agent, team and week reports of the period, and the overdue and
    // broken lists.
    let dashboard = format!("{}/dashboard?from={from}&to={to}", server.base);
    let cookie = format!("{}={session}", tendero::auth::SESSION_COOKIE);
    lines.push(get_many(&client, pid, "GET /dashboard", &dashboard, Some(&cookie), runs).await);
    // Prometheus: sums the rollups of all days on every scrape.
    lines.push(get_many(&client, pid, "GET /metrics", &format!("{}/metrics", server.base), None, 10).await);
    let mut out = vec![format!(
        "HTTP: {} serve (scheduler off), {} sequential GETs per grouping after 2 warm-ups, timed until the whole \
         body is read (CPU: the server's); up after {startup:.2} s; load average before {load_before}, after {}",
        bin.display(),
        runs,
        loadavg()
    )];
    out.extend(table_head());
    out.extend(lines);
    out.push(format!("server peak RSS {:.0} MiB", peak_rss_mib(pid)));
    drop(server);
    out
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
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map(|kib| format!(", {:.0} GiB RAM", kib / 1024.0 / 1024.0))
        .unwrap_or_default();
    format!("{cores} cores ({model}){mem}, {}", Utc::now().format("%Y-%m-%d %H:%M UTC"))
}

fn main() {
    let sizes = Sizes::from_env();
    let runs = env_u64("BENCH_RUNS", 30) as usize;
    let period = env_u64("BENCH_PERIOD_DAYS", 90) as i64;
    let path = std::env::var_os("BENCH_DB").map(PathBuf::from).unwrap_or_else(|| {
        manifest_dir()
            .join("target/bench")
            .join(format!("metrics-{}p-{}e.db", sizes.promises, sizes.events_per_promise))
    });
    std::fs::create_dir_all(path.parent().expect("directory")).expect("bench directory");
    let path = path.parent().unwrap().canonicalize().expect("bench directory").join(path.file_name().unwrap());
    // Only the promise tolerances (grace, broken-after, leads) and default windows are taken from the settings.
    let settings = Settings::load(None).expect("settings");
    let tolerances = settings.tolerances().expect("tolerances");
    let server = std::env::var("BENCH_DATABASE_URL").ok().filter(|u| u.starts_with("postgres"));
    let backend = if server.is_some() { "PostgreSQL" } else { "SQLite" };
    let mut report = vec![format!("metrics report on {backend}, {}", machine())];
    eprintln!("metrics_report: database {}", path.display());

    let mut manifest = match reusable(&path, &sizes) {
        Some(m) => {
            eprintln!("  reusing it (built {})", from_ms(m.now_ms).format("%Y-%m-%d %H:%M UTC"));
            m
        }
        None => {
            let now = Utc::now().timestamp_millis();
            eprintln!(
                "  building: {} promises x {} events, {} customers, {} agents, {} teams",
                sizes.promises, sizes.events_per_promise, sizes.customers, sizes.agents, sizes.teams
            );
            let cpu = thread_cpu_ms();
            let (load_s, events, interactions) = build(&path, &sizes, now, &tolerances);
            let load_cpu_s = (thread_cpu_ms() - cpu) / 1000.0;
            eprintln!("  loaded in {load_s:.1} s ({load_cpu_s:.1} s CPU); building the rollups");
            let db = open_db(&path, 1);
            let t = Instant::now();
            let cpu = thread_cpu_ms();
            db.write_blocking(|conn| Ok(rollups::ensure_current(conn, now)?)).expect("rebuild");
            let rebuild_cpu_s = (thread_cpu_ms() - cpu) / 1000.0;
            let rebuild_s = t.elapsed().as_secs_f64();
            let m = Manifest {
                sizes: sizes.clone(),
                now_ms: now,
                load_s,
                rebuild_s,
                load_cpu_s,
                rebuild_cpu_s,
                events,
                interactions,
            };
            std::fs::write(manifest_path(&path), serde_json::to_string_pretty(&m).unwrap()).expect("manifest");
            m
        }
    };
    let (url, copy_s) = match &server {
        Some(server) => postgres_copy(&path, server, &manifest),
        None => (sqlite_url(&path), 0.0),
    };
    let db = open_url(&url, 2);
    if std::env::var("BENCH_REBUILD").is_ok_and(|v| v != "0") {
        let t = Instant::now();
        let cpu = thread_cpu_ms();
        db.write_blocking(|conn| Ok(rollups::rebuild(conn)?)).expect("rebuild");
        manifest.rebuild_cpu_s = (thread_cpu_ms() - cpu) / 1000.0;
        manifest.rebuild_s = t.elapsed().as_secs_f64();
        eprintln!("  rebuild took {:.1} s", manifest.rebuild_s);
    }
    // `serve` must not rebuild at start (it would if the version were missing).
    db.write_blocking(|conn| Ok(rollups::ensure_current(conn, Utc::now().timestamp_millis())?)).expect("rollups");
    let to = from_ms(manifest.now_ms).date_naive();
    let from = to - chrono::Duration::days(period);
    let counts = db
        .read_blocking(|c| {
            let f = day_number(from);
            let t = day_number(to);
            let within = |table: &str| format!("SELECT count(*) AS n FROM {table} WHERE day >= {f} AND day < {t}");
            Ok([
                count(c, "SELECT count(*) AS n FROM promises"),
                count(c, "SELECT count(*) AS n FROM promise_events"),
                count(c, "SELECT count(*) AS n FROM interactions"),
                count(c, "SELECT count(*) AS n FROM metric_days"),
                count(c, &within("metric_days")),
                count(c, "SELECT count(*) AS n FROM metric_lateness"),
                count(c, &within("metric_lateness")),
                count(c, "SELECT count(*) AS n FROM metric_contacts"),
                count(c, &within("metric_contacts")),
            ])
        })
        .expect("counts");
    report.push(format!(
        "data: {} promises, {} ledger rows, {} interactions, {} customers, {} agents + 1 admin, {} teams; due dates \
         over {} days ending {} days after the build ({})",
        counts[0],
        counts[1],
        counts[2],
        sizes.customers,
        sizes.agents,
        sizes.teams,
        sizes.days,
        sizes.future_days,
        from_ms(manifest.now_ms).format("%Y-%m-%d %H:%M UTC"),
    ));
    report.push(format!(
        "load {:.1} s ({:.1} s CPU), rollups (ensure_current = rebuild) {:.1} s ({:.1} s CPU), database {} ({})",
        manifest.load_s,
        manifest.load_cpu_s,
        manifest.rebuild_s,
        manifest.rebuild_cpu_s,
        gib(file_size(&path)),
        path.display()
    ));
    if server.is_some() {
        let copied = if copy_s > 0.0 { format!("copied in {copy_s:.1} s") } else { "an earlier copy".into() };
        let size = db
            .read_blocking(|c| Ok(count(c, "SELECT pg_database_size(current_database()) AS n")))
            .expect("database size");
        report.push(format!("PostgreSQL: {url}, {copied}, {}", gib(size.max(0) as u64)));
    }
    report.push(format!(
        "rollup rows (all / in the {period}-day period): metric_days {} / {}, metric_lateness {} / {}, \
         metric_contacts {} / {}",
        counts[3], counts[4], counts[5], counts[6], counts[7], counts[8]
    ));

    let (admin, token, session) = db
        .write_blocking(|conn| {
            let now = Utc::now().timestamp_millis();
            let admin = match agents::find_by_email(conn, "bench-admin@bench.test")? {
                Some(a) => a,
                None => {
                    let a = Agent {
                        id: tendero::clock::new_id("agt"),
                        name: "Bench admin".into(),
                        email: "bench-admin@bench.test".into(),
                        role: "admin".into(),
                        team_id: None,
                        time_zone: "Europe/Madrid".into(),
                        shift: "mon-fri 09:00-17:00".into(),
                        locale: "es".into(),
                        active: true,
                        password_hash: None,
                        created_at: now,
                        updated_at: now,
                    };
                    agents::insert(conn, &a)?;
                    a
                }
            };
            let (_, secret) = tokens::create(conn, &admin.id, "metrics bench", now)?;
            let (_, session) = sessions::open(conn, &admin.id, now, 6 * 3_600_000)?;
            Ok((admin, secret, session))
        })
        .expect("admin and token");
    let caller = Caller { agent_id: admin.id, role: Role::Admin, team_id: None, name: admin.name };
    let totals = db
        .read_blocking(|conn| {
            let p = plan(&caller, &query(from, to, ""), Utc::now())?;
            run(conn, &p)
        })
        .expect("report")
        .totals;
    report.push(format!(
        "the period's totals: due {}, pending {}, kept on time {}, kept late {}, missed open {}, broken {}, \
         cancelled {}, renegotiated {} / {}, hand-overs {}, keep rate {:.3}, lateness p50/p90 {:?}/{:?} min, \
         continuity {:.3}",
        totals.due,
        totals.pending,
        totals.kept_on_time,
        totals.kept_late,
        totals.missed_open,
        totals.broken,
        totals.cancelled,
        totals.renegotiated_by_customer,
        totals.renegotiated_by_agent,
        totals.handovers,
        totals.keep_rate.unwrap_or(0.0),
        totals.lateness_p50_minutes,
        totals.lateness_p90_minutes,
        totals.continuity.unwrap_or(0.0),
    ));
    report.push(String::new());
    library(&db, &caller, from, to, runs, &mut report);
    drop(db);

    if env_u64("BENCH_HTTP", 1) != 0 {
        let bin = tendero_bin().canonicalize().expect("tendero binary");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        report.push(String::new());
        report.extend(runtime.block_on(http(&bin, &path, &url, (&token, &session), from, to, runs)));
    }
    println!("\n{}", report.join("\n"));
    let _ = std::io::stdout().flush();
}
