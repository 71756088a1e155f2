//! The test application: a real server on port 0 over a fresh database, a manual clock, and an HTTP client.
//!
//! The database is a new SQLite file per test, or, when `TEST_DATABASE_URL` names a PostgreSQL server
//! (`postgres://127.0.0.1/test`), a new database on it per test, dropped afterwards: the whole suite runs on both
//! backends.

use std::net::TcpListener;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tempfile::TempDir;

use tendero::clock::Clock;
use tendero::db::{Db, PoolOptions};
use tendero::settings::Settings;
use tendero::startup::Application;

/// A running Tendero for one test.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// Move time with this instead of sleeping.
    pub clock: Clock,
    /// Direct database access for set-up and assertions.
    pub db: Db,
    /// An admin's token.
    pub admin: String,
    /// HTTP client.
    pub client: reqwest::Client,
    /// The scheduler, run by hand with `run_scheduler()` (its loop is off in tests).
    pub scheduler: tendero::scheduler::Scheduler,
    /// The message sender, run by hand with `send_messages()`.
    pub sender: tendero::channels::sender::Sender,
    settings: Settings,
    _dir: TempDir,
    _database: Option<crate::support::ScratchDatabase>,
}

/// Creates a fresh database, dropped with the value, on the server `TEST_DATABASE_URL` points at, if it is set.
pub fn postgres_from_env() -> Option<crate::support::ScratchDatabase> {
    let server = std::env::var("TEST_DATABASE_URL").ok().filter(|u| u.starts_with("postgres"))?;
    let name = format!("tendero_test_{}", tendero::clock::new_id("db").to_lowercase().replace('-', "_"));
    Some(
        crate::support::ScratchDatabase::create(&server, &name)
            .unwrap_or_else(|e| panic!("TEST_DATABASE_URL is set but the test database could not be made: {e}")),
    )
}

/// Whether this run uses PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"))
}

/// An HTTP answer: status, headers and the body as JSON (Null when empty or not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    /// The `errors[].field` and `errors[].code` pairs of a problem answer.
    pub fn error_fields(&self) -> Vec<(String, String)> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| {
                        (e["field"].as_str().unwrap_or("").to_string(), e["code"].as_str().unwrap_or("").to_string())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Asserts a problem+json answer with this status.
    pub fn assert_problem(&self, status: u16) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        let content_type = self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert_eq!(content_type, "application/problem+json", "body: {}", self.body);
        assert_eq!(self.body["status"], json!(status));
        assert!(self.body["type"].as_str().is_some_and(|t| t.starts_with("/problems/")));
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
    }
}

/// Starts Tendero at `now` with an admin and returns the handle.
pub async fn spawn_app_at(now: DateTime<Utc>) -> TestApp {
    spawn_app_with(now, |_| {}).await
}

/// Starts Tendero at `now` after adjusting its settings.
pub async fn spawn_app_with(now: DateTime<Utc>, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::load(None).expect("settings");
    // Tests drive time by hand: the loops stay off and `run_scheduler()` fires what is due.
    settings.scheduler.enabled = false;
    adjust(&mut settings);
    let database = postgres_from_env();
    settings.database.url = match &database {
        Some(database) => database.url().to_string(),
        None => format!("sqlite://{}", dir.path().join("tendero.db").display()),
    };
    settings.server.bind = "127.0.0.1:0".into();
    settings.server.workers = 2;
    if std::env::var("TEST_LOG").is_ok() {
        tendero::telemetry::init("pretty", "info");
    }
    let db = Db::connect(
        &settings.database.url,
        &PoolOptions { max_connections: 4, busy_timeout: std::time::Duration::from_secs(5) },
    )
    .expect("database");
    db.migrate().expect("migrations");
    let clock = Clock::manual(now);
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let app = Application::build_with(&settings, db.clone(), clock.clone(), listener).expect("app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let (scheduler, sender) = (app.scheduler(), app.sender());
    actix_web::rt::spawn(app.run_until_stopped());
    let admin = db
        .write_blocking(|conn| {
            let now = now.timestamp_millis();
            let agent = tendero::repo::agents::Agent {
                id: tendero::clock::new_id("agt"),
                name: "Admin Tendero".into(),
                email: "admin@tendero.test".into(),
                role: "admin".into(),
                team_id: None,
                time_zone: "Europe/Madrid".into(),
                shift: "always".into(),
                locale: "en".into(),
                active: true,
                password_hash: None,
                created_at: now,
                updated_at: now,
            };
            tendero::repo::agents::insert(conn, &agent)?;
            Ok(tendero::repo::tokens::create(conn, &agent.id, "test", now)?.1)
        })
        .expect("admin");
    TestApp {
        address,
        clock,
        db,
        admin,
        client: reqwest::Client::new(),
        scheduler,
        sender,
        settings,
        _dir: dir,
        _database: database,
    }
}

impl TestApp {
    /// A second instance on the same database (PostgreSQL only: SQLite serves one instance), with its own port
    /// and its scheduler off; returns its address.
    pub async fn second_instance(&self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
        let app = Application::build_with(&self.settings, self.db.clone(), self.clock.clone(), listener)
            .expect("second instance");
        let address = format!("http://127.0.0.1:{}", app.port());
        actix_web::rt::spawn(app.run_until_stopped());
        address
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn send(&self, method: reqwest::Method, path: &str, token: Option<&str>, body: Option<&Value>) -> Answer {
        let mut request = self.client.request(method, format!("{}{}", self.address, path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        read(request.send().await.expect("request")).await
    }

    /// GET with a token.
    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.send(reqwest::Method::GET, path, Some(token), None).await
    }

    /// POST JSON with a token.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.send(reqwest::Method::POST, path, Some(token), Some(&body)).await
    }

    /// PATCH JSON with a token.
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Answer {
        self.send(reqwest::Method::PATCH, path, Some(token), Some(&body)).await
    }

    /// POST and insist on a 2xx; returns the body.
    pub async fn created(&self, path: &str, token: &str, body: Value) -> Value {
        let answer = self.post(path, token, body).await;
        assert!(answer.status.is_success(), "POST {path} answered {}: {}", answer.status, answer.body);
        answer.body
    }

    /// Creates a team and returns its id.
    pub async fn team(&self, name: &str) -> String {
        self.created("/api/v1/teams", &self.admin, json!({ "name": name })).await["id"].as_str().unwrap().to_string()
    }

    /// Creates an agent with an API token.
    pub async fn agent(&self, name: &str, role: &str, team: Option<&str>, zone: &str, shift: &str) -> Agent {
        let email = format!("{}@tendero.test", name.to_lowercase().replace(' ', "."));
        let agent = self
            .created(
                "/api/v1/agents",
                &self.admin,
                json!({ "name": name, "email": email, "role": role, "team_id": team, "time_zone": zone, "shift": shift, "locale": "es-ES" }),
            )
            .await;
        let id = agent["id"].as_str().unwrap().to_string();
        let token = self.created(&format!("/api/v1/agents/{id}/tokens"), &self.admin, json!({ "name": "test" })).await;
        Agent { id, token: token["token"].as_str().unwrap().to_string(), name: name.to_string() }
    }
}

async fn read(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer { status, headers, body }
}

/// An agent as the tests meet them: who they are and the token they call the API with.
#[derive(Clone, Debug)]
pub struct Agent {
    pub id: String,
    pub token: String,
    pub name: String,
}

/// A customer made over the API, with the zone their wall clock is in.
#[derive(Clone, Debug)]
pub struct Customer {
    pub id: String,
    pub name: String,
    pub zone: String,
}

/// Whatever carries a bearer token: a bare token, or an actor.
pub trait Bearer {
    fn token(&self) -> &str;
}

impl Bearer for str {
    fn token(&self) -> &str {
        self
    }
}

impl Bearer for String {
    fn token(&self) -> &str {
        self
    }
}

impl Bearer for Agent {
    fn token(&self) -> &str {
        &self.token
    }
}

/// The Zaragoza team as in the seed stories: a manager, two agents in Madrid, one in the Canaries, and a second
/// team with one agent (for "other team" checks).
pub struct Zaragoza {
    pub manager: Agent,
    pub marta: Agent,
    pub jorge: Agent,
    pub ayoze: Agent,
    pub outsider: Agent,
}

/// Creates the Zaragoza team.
pub async fn zaragoza(app: &TestApp) -> Zaragoza {
    let team = app.team("Zaragoza").await;
    let other = app.team("Valencia").await;
    let shift = "mon-sat 08:00-21:00";
    Zaragoza {
        manager: app.agent("Lucia Ferrer", "manager", Some(&team), "Europe/Madrid", shift).await,
        marta: app.agent("Marta Gil", "agent", Some(&team), "Europe/Madrid", shift).await,
        jorge: app.agent("Jorge Sanz", "agent", Some(&team), "Europe/Madrid", shift).await,
        ayoze: app.agent("Ayoze Medina", "agent", Some(&team), "Atlantic/Canary", "mon-fri 08:00-17:00").await,
        outsider: app.agent("Vicente Soler", "agent", Some(&other), "Europe/Madrid", shift).await,
    }
}

/// Creates a customer as `by` (an agent, or a bare token).
pub async fn customer(app: &TestApp, by: &(impl Bearer + ?Sized), name: &str, zone: &str) -> Customer {
    let made = app
        .created(
            "/api/v1/customers",
            by.token(),
            json!({ "name": name, "time_zone": zone, "locale": "es-ES", "phone": "+34 976 555 000", "region": "ES" }),
        )
        .await;
    Customer { id: made["id"].as_str().unwrap().to_string(), name: name.to_string(), zone: zone.to_string() }
}

/// Parses an RFC 3339 instant.
pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("instant").with_timezone(&Utc)
}

impl TestApp {
    /// The promise tolerances in force.
    pub fn tolerances(&self) -> tendero::settings::Tolerances {
        self.settings.tolerances().expect("tolerances")
    }

    /// The embedded text templates.
    pub fn views(&self) -> std::sync::Arc<tendero::views::Views> {
        std::sync::Arc::new(tendero::views::Views::new(None).expect("templates"))
    }

    /// Fires everything due at the clock's now; returns how many prompts were created.
    pub async fn run_scheduler(&self) -> usize {
        self.scheduler.run_once().await.expect("scheduler pass").prompts
    }

    /// Moves the clock to `at` and fires what is due.
    pub async fn at(&self, at: &str) -> usize {
        self.clock.set(self::at(at));
        self.run_scheduler().await
    }

    /// Rows in the promise ledger, counted in the database itself.
    pub fn ledger_rows(&self) -> i64 {
        use diesel::prelude::*;
        use tendero::db::schema::promise_events;
        self.db.read_blocking(|conn| Ok(promise_events::table.count().get_result::<i64>(conn)?)).expect("count")
    }
}

/// Parses a wall time (`YYYY-MM-DD HH:MM`, or with `:SS`) in the IANA zone `zone`; panics when that wall time
/// does not happen there (the clocks jump over it) or happens twice (they fall back over it), since a test that
/// names it has a mistake in its story.
pub fn local(zone: &str, wall: &str) -> DateTime<Utc> {
    use chrono::{LocalResult, NaiveDateTime, TimeZone};
    let tz: chrono_tz::Tz = zone.parse().unwrap_or_else(|_| panic!("`{zone}` is not an IANA time zone"));
    let naive = NaiveDateTime::parse_from_str(wall, "%Y-%m-%d %H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(wall, "%Y-%m-%d %H:%M:%S"))
        .unwrap_or_else(|_| panic!("`{wall}` is not a wall time like 2026-03-17 10:50"));
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(instant) => instant.with_timezone(&Utc),
        LocalResult::None => panic!("{wall} does not exist in {zone}: the clocks jump over it"),
        LocalResult::Ambiguous(first, second) => {
            panic!("{wall} happens twice in {zone} ({first} and {second}): name the instant with app.at(rfc3339)")
        }
    }
}

impl TestApp {
    /// Moves the clock to `wall` in `zone` (see [`local`]) and fires what is due; returns how many prompts were
    /// created.
    pub async fn at_local(&self, zone: &str, wall: &str) -> usize {
        self.set_local(zone, wall);
        self.run_scheduler().await
    }

    /// Moves the clock to `wall` in `zone` without firing anything.
    pub fn set_local(&self, zone: &str, wall: &str) {
        self.clock.set(local(zone, wall));
    }
}

/// What names a promise in a request: its id, or the promise as an answer carried it.
pub trait PromiseRef {
    fn promise_id(&self) -> String;
}

impl PromiseRef for str {
    fn promise_id(&self) -> String {
        self.to_string()
    }
}

impl PromiseRef for String {
    fn promise_id(&self) -> String {
        self.clone()
    }
}

impl PromiseRef for Value {
    fn promise_id(&self) -> String {
        self["id"].as_str().unwrap_or_else(|| panic!("not a promise: {self}")).to_string()
    }
}

/// One request an actor makes. Awaited, it insists on a 2xx and gives the body; `.answer()` gives the whole
/// answer, for the refusals a story expects; `.with(fields)` adds or replaces fields of the body.
#[must_use = "a request does nothing until it is awaited"]
pub struct Request<'a> {
    app: &'a TestApp,
    token: String,
    method: reqwest::Method,
    path: String,
    body: Option<Value>,
}

impl<'a> Request<'a> {
    fn new(app: &'a TestApp, by: &Agent, method: reqwest::Method, path: String, body: Option<Value>) -> Self {
        Request { app, token: by.token.clone(), method, path, body }
    }

    /// Adds (or replaces) these fields of the JSON body.
    pub fn with(mut self, fields: Value) -> Self {
        let body = self.body.get_or_insert_with(|| json!({}));
        for (key, value) in fields.as_object().expect("fields as a JSON object") {
            body[key] = value.clone();
        }
        self
    }

    /// Sends it and returns the answer, whatever its status.
    pub async fn answer(self) -> Answer {
        self.app.send(self.method, &self.path, Some(&self.token), self.body.as_ref()).await
    }
}

impl<'a> std::future::IntoFuture for Request<'a> {
    type Output = Value;
    type IntoFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Value> + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let (method, path) = (self.method.clone(), self.path.clone());
            let answer = self.answer().await;
            assert!(answer.status.is_success(), "{method} {path} answered {}: {}", answer.status, answer.body);
            answer.body
        })
    }
}

/// Takes a wall time as the stories write it (`2026-03-17 10:00`) or as the API does (`2026-03-17T10:00`).
fn due_local(wall: &str) -> String {
    wall.replacen(' ', "T", 1)
}

/// The requests of the seed stories, named after what the agent does.
impl Agent {
    /// GET as this agent.
    pub fn get<'a>(&self, app: &'a TestApp, path: &str) -> Request<'a> {
        Request::new(app, self, reqwest::Method::GET, path.to_string(), None)
    }

    /// POST JSON as this agent.
    pub fn post<'a>(&self, app: &'a TestApp, path: &str, body: Value) -> Request<'a> {
        Request::new(app, self, reqwest::Method::POST, path.to_string(), Some(body))
    }

    /// "I'll call you back at `due`" (the customer's wall time).
    pub fn promises_callback<'a>(&self, app: &'a TestApp, to: &Customer, title: &str, due: &str) -> Request<'a> {
        let body = json!({ "customer_id": to.id, "kind": "callback", "title": title, "due_local": due_local(due) });
        self.post(app, "/api/v1/promises", body)
    }

    /// "It will be done within `within`" (an ISO 8601 duration such as `P15D`).
    pub fn promises_deadline<'a>(&self, app: &'a TestApp, to: &Customer, title: &str, within: &str) -> Request<'a> {
        let body = json!({ "customer_id": to.id, "kind": "deadline", "title": title, "within": within });
        self.post(app, "/api/v1/promises", body)
    }

    /// "I'll update you every ..." on the cron schedule `cron`, in the customer's zone.
    pub fn promises_updates<'a>(&self, app: &'a TestApp, to: &Customer, title: &str, cron: &str) -> Request<'a> {
        let body = json!({ "customer_id": to.id, "kind": "update", "title": title, "recurrence": { "cron": cron } });
        self.post(app, "/api/v1/promises", body)
    }

    /// Marks the promise kept, with a note.
    pub fn keeps<'a>(&self, app: &'a TestApp, promise: &(impl PromiseRef + ?Sized), note: &str) -> Request<'a> {
        let path = format!("/api/v1/promises/{}/keep", promise.promise_id());
        self.post(app, &path, json!({ "note": note }))
    }

    /// Moves the promise to `to` (the customer's wall time); `initiated_by` is `customer` or `agent`.
    pub fn reschedules<'a>(
        &self,
        app: &'a TestApp,
        promise: &(impl PromiseRef + ?Sized),
        to: &str,
        initiated_by: &str,
        reason: &str,
    ) -> Request<'a> {
        let path = format!("/api/v1/promises/{}/reschedule", promise.promise_id());
        self.post(app, &path, json!({ "due_local": due_local(to), "reason": reason, "initiated_by": initiated_by }))
    }

    /// Cancels the promise; `initiated_by` is `customer` or `agent` (who cancels alone breaks it).
    pub fn cancels<'a>(
        &self,
        app: &'a TestApp,
        promise: &(impl PromiseRef + ?Sized),
        initiated_by: &str,
        reason: &str,
    ) -> Request<'a> {
        let path = format!("/api/v1/promises/{}/cancel", promise.promise_id());
        self.post(app, &path, json!({ "reason": reason, "initiated_by": initiated_by }))
    }

    /// Hands the promise over to a colleague, with a note for them.
    pub fn hands_over<'a>(
        &self,
        app: &'a TestApp,
        promise: &(impl PromiseRef + ?Sized),
        to: &Agent,
        note: &str,
    ) -> Request<'a> {
        let path = format!("/api/v1/promises/{}/handover", promise.promise_id());
        self.post(app, &path, json!({ "to_agent_id": to.id, "note": note }))
    }

    /// Logs a phone call this agent made to the customer; `outcome` is `reached`, `no_answer`, ...
    pub fn logs_call<'a>(&self, app: &'a TestApp, to: &Customer, outcome: &str, summary: &str) -> Request<'a> {
        let body = json!({ "channel": "phone", "direction": "outbound", "outcome": outcome, "summary": summary });
        self.post(app, &format!("/api/v1/customers/{}/interactions", to.id), body)
    }

    /// Logs a contact the customer started on `channel`: a call answered (`reached`), or a written message.
    pub fn hears_from<'a>(&self, app: &'a TestApp, from: &Customer, channel: &str, summary: &str) -> Request<'a> {
        let outcome = if channel == "phone" { "reached" } else { "other" };
        let body = json!({ "channel": channel, "direction": "inbound", "outcome": outcome, "summary": summary });
        self.post(app, &format!("/api/v1/customers/{}/interactions", from.id), body)
    }

    /// The promise with its ledger.
    pub fn reads_promise<'a>(&self, app: &'a TestApp, promise: &(impl PromiseRef + ?Sized)) -> Request<'a> {
        self.get(app, &format!("/api/v1/promises/{}", promise.promise_id()))
    }

    /// The brief to read before calling the customer.
    pub fn brief<'a>(&self, app: &'a TestApp, about: &Customer) -> Request<'a> {
        self.get(app, &format!("/api/v1/customers/{}/brief", about.id))
    }

    /// This agent's agenda for today (in their zone).
    pub fn agenda<'a>(&self, app: &'a TestApp) -> Request<'a> {
        self.get(app, "/api/v1/agents/me/agenda")
    }
}
