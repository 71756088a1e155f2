//! The demo dataset, built from the five stories Tendero comes from (names are fictional): a team in Zaragoza,
//! agents in Madrid and Canary time, customers in Spain, the Canaries and the USA, with the callback, the
//! number-porting and the 15-day invoice stories as interactions and promises. Times are relative to `now`, so
//! the agenda always has something today.

use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, NaiveTime, Utc};
use serde_json::json;

use crate::auth::hash_password;
use crate::clock::{from_ms, new_id, to_ms};
use crate::db::{Db, Tx};
use crate::domain::promise::judging::Contact;
use crate::domain::promise::lifecycle::{self, Keep};
use crate::domain::time::{parse_zone, resolve_local, within_days, Disambiguation, Tz, WeeklyWindow};
use crate::error::AppError;
use crate::repo::agents::{self, Agent};
use crate::repo::customers::{self, Customer};
use crate::repo::interactions::{self, Interaction};
use crate::repo::promises::Promise;
use crate::repo::{teams, tokens};
use crate::service::apply::{self, Outbound};
use crate::service::planning::{current_of, keeper_of};
use crate::service::Ctx;
use crate::settings::{Settings, Tolerances};
use crate::views::Views;

mod stories;

use stories::{seed_stories, window_of};
/// The password of every demo login on the web pages.
pub const DEMO_PASSWORD: &str = "tendero-demo";

/// A login printed after seeding.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    /// Role.
    pub role: String,
    /// Email.
    pub email: String,
    /// A fresh API token.
    pub token: String,
}

/// Creates an admin (or reuses the agent with that email) and returns a new API token.
pub fn create_admin(
    db: &Db,
    settings: &Settings,
    email: &str,
    name: &str,
    time_zone: &str,
    password_hash: Option<String>,
) -> anyhow::Result<String> {
    let zone = parse_zone(time_zone).map_err(|e| anyhow::anyhow!("--time-zone: {e}"))?;
    let shift = settings.tolerances()?.default_shift.to_text();
    let email = email.trim().to_lowercase();
    if !email.contains('@') {
        anyhow::bail!("--email `{email}` is not an email address");
    }
    let now = Utc::now().timestamp_millis();
    db.write_blocking(|conn| {
        if agents::find_by_email(conn, &email)?.is_some() {
            return Err(AppError::conflict(format!("an agent with email `{email}` already exists")));
        }
        let admin = Agent {
            id: new_id("agt"),
            name: name.to_string(),
            email: email.clone(),
            role: "admin".into(),
            team_id: None,
            time_zone: zone.name().into(),
            shift,
            locale: "en".into(),
            active: true,
            password_hash,
            created_at: now,
            updated_at: now,
        };
        agents::insert(conn, &admin)?;
        Ok(tokens::create(conn, &admin.id, "cli", now)?.1)
    })
    .map_err(|e| anyhow::anyhow!("{e}"))
}

struct Seeder<'a, 'c> {
    conn: &'a mut Tx<'c>,
    now: DateTime<Utc>,
    team_id: String,
    tolerances: &'a Tolerances,
    views: Arc<Views>,
}

impl Seeder<'_, '_> {
    #[expect(clippy::too_many_arguments, reason = "one call per demo person reads like a cast list")]
    fn agent(
        &mut self,
        name: &str,
        email: &str,
        role: &str,
        zone: &str,
        shift: &str,
        locale: &str,
        hash: &str,
    ) -> Result<Agent, AppError> {
        if let Some(existing) = agents::find_by_email(self.conn, email)? {
            return Ok(existing);
        }
        let now = to_ms(self.now);
        let agent = Agent {
            id: new_id("agt"),
            name: name.into(),
            email: email.into(),
            role: role.into(),
            team_id: if role == "admin" { None } else { Some(self.team_id.clone()) },
            time_zone: zone.into(),
            shift: shift.into(),
            locale: locale.into(),
            active: true,
            password_hash: Some(hash.into()),
            created_at: now,
            updated_at: now,
        };
        agents::insert(self.conn, &agent)?;
        Ok(agent)
    }

    #[expect(clippy::too_many_arguments, reason = "one call per demo row reads like the story")]
    fn customer(
        &mut self,
        name: &str,
        zone: &str,
        locale: &str,
        phone: &str,
        owner: &Agent,
        facts: &[&str],
        notes: &str,
        region: Option<&str>,
        channel: &str,
    ) -> Result<Customer, AppError> {
        let now = to_ms(self.now);
        let customer = Customer {
            id: new_id("cus"),
            name: name.into(),
            phone: Some(phone.into()),
            email: None,
            time_zone: zone.into(),
            locale: locale.into(),
            contact_window: "mon-sat 09:00-21:00".into(),
            preferred_channel: Some(channel.into()),
            owner_agent_id: Some(owner.id.clone()),
            team_id: Some(self.team_id.clone()),
            notes: notes.into(),
            facts: json!(facts).to_string(),
            external_ref: None,
            do_not_call: false,
            region: region.map(str::to_string),
            created_at: now,
            updated_at: now,
        };
        customers::insert(self.conn, &customer)?;
        Ok(customer)
    }

    #[expect(clippy::too_many_arguments, reason = "one call per demo row reads like the story")]
    fn interaction(
        &mut self,
        customer: &Customer,
        agent: Option<&Agent>,
        channel: &str,
        direction: &str,
        outcome: &str,
        summary: &str,
        ago: Duration,
        promise: Option<&str>,
    ) -> Result<Interaction, AppError> {
        let at = to_ms(self.now - ago);
        let (owner_agent_id, team_id, local_date) = interactions::stamp(customer, at);
        let interaction = Interaction {
            id: new_id("int"),
            customer_id: customer.id.clone(),
            agent_id: agent.map(|a| a.id.clone()),
            channel: channel.into(),
            direction: direction.into(),
            outcome: outcome.into(),
            summary: summary.into(),
            occurred_at: at,
            promise_id: promise.map(str::to_string),
            created_at: at,
            updated_at: at,
            owner_agent_id,
            team_id,
            local_date,
        };
        interactions::insert(self.conn, &interaction)?;
        Ok(interaction)
    }

    /// The first instant at or after `days` from today at `hh:mm` customer time that is inside the contact window.
    fn slot(&self, customer: &Customer, days: i64, hh: u32, mm: u32) -> DateTime<Utc> {
        let zone: Tz = parse_zone(&customer.time_zone).unwrap_or(chrono_tz::UTC);
        let window = window_of(customer);
        let date = (self.now.with_timezone(&zone) + Duration::days(days)).date_naive();
        let local = date.and_time(NaiveTime::from_hms_opt(hh, mm, 0).unwrap_or_default());
        let at = resolve_local(local, zone, Disambiguation::Compatible)
            .map(|r| r.instant)
            .unwrap_or(self.now + Duration::days(days));
        let at = if at <= self.now { self.now + Duration::minutes(20) } else { at };
        if window.contains(at, zone) {
            at
        } else {
            window.next_open(at, zone).unwrap_or(at)
        }
    }

    #[expect(clippy::too_many_arguments, reason = "one call per demo row reads like the story")]
    fn promise(
        &mut self,
        customer: &Customer,
        owner: &Agent,
        kind: &str,
        title: &str,
        due_at: DateTime<Utc>,
        made_ago: Duration,
        recurrence: Option<&str>,
        made_in: Option<&Interaction>,
    ) -> Result<Promise, AppError> {
        let zone: Tz = parse_zone(&customer.time_zone).unwrap_or(chrono_tz::UTC);
        let local = due_at.with_timezone(&zone);
        let made = to_ms(self.now - made_ago);
        let (grace, lead) = if kind == "deadline" { (0, vec![172_800]) } else { (900, vec![600]) };
        let promise = Promise {
            id: new_id("prm"),
            customer_id: customer.id.clone(),
            owner_agent_id: owner.id.clone(),
            made_by_agent_id: owner.id.clone(),
            kind: kind.into(),
            title: title.into(),
            details: String::new(),
            due_local: local.format("%Y-%m-%dT%H:%M:%S").to_string(),
            time_zone: zone.name().into(),
            disambiguation: "compatible".into(),
            due_at: to_ms(due_at),
            due_offset_seconds: crate::domain::time::local_offset_at(due_at, zone),
            window_end_at: None,
            grace_seconds: grace,
            lead_seconds: json!(lead).to_string(),
            recurrence_cron: recurrence.map(str::to_string),
            recurrence_until: None,
            status: "open".into(),
            kept_at: None,
            kept_on_time: None,
            resolution_interaction_id: None,
            resolution_note: None,
            made_in_interaction_id: made_in.map(|i| i.id.clone()),
            customer_requested: false,
            reschedule_count: 0,
            version: 1,
            created_at: made,
            updated_at: made,
            accountable_agent_id: owner.id.clone(),
            team_id: customer.team_id.clone(),
            late_since: None,
        };
        let created = crate::service::promises::created_event_of(&promise)?;
        // Through the one apply path: the `created` event at the moment it was made, the timers planned from now
        // so demo promises fire like real ones and a newcomer sees prompts arrive.
        let ctx = Ctx { tolerances: self.tolerances.clone(), views: self.views.clone(), now: self.now };
        apply::make(self.conn, &ctx, &promise, customer, created, &owner.id)?;
        Ok(promise)
    }

    /// Marks a demo promise kept by its evidence, judged by the same rules and written by the same apply path as
    /// a keep over the API, at the evidence's time.
    fn kept(&mut self, promise: Promise, evidence: &Interaction, actor: &Agent) -> Result<(), AppError> {
        let customer = customers::find(self.conn, &promise.customer_id)?
            .ok_or_else(|| AppError::not_found("customer", &promise.customer_id))?;
        let keeper = keeper_of(self.conn, &promise, evidence.agent_id.as_deref(), evidence.occurred_at)?;
        let contact = Contact {
            same_customer: evidence.customer_id == promise.customer_id,
            outbound: evidence.direction == "outbound",
            keeper,
            occurred_at: from_ms(evidence.occurred_at),
        };
        let ctx =
            Ctx { tolerances: self.tolerances.clone(), views: self.views.clone(), now: from_ms(evidence.occurred_at) };
        let current = current_of(&promise, self.tolerances)?;
        let keep = Keep { note: None, evidence: Some((evidence.id.clone(), contact)) };
        let change = lifecycle::keep(&current, keep, ctx.now).map_err(crate::service::promises::refused)?;
        apply::apply(self.conn, &ctx, Outbound::Read, &promise, &customer, change, Some(&actor.id))?;
        Ok(())
    }
}

/// Loads the demo dataset (once per database; later runs only add synthetic customers) and returns a fresh
/// token for each demo login.
pub fn seed(db: &Db, tolerances: &Tolerances, synthetic: u32, now: DateTime<Utc>) -> anyhow::Result<Vec<DemoLogin>> {
    let hash = hash_password(DEMO_PASSWORD)?;
    // The embedded texts: the demo's history goes through the same apply path as a live keep.
    let views = Arc::new(Views::new(None)?);
    // Whole minutes read better in the agenda than the second the demo was loaded.
    let now = now.duration_trunc(Duration::minutes(1)).unwrap_or(now);
    db.write_blocking(|conn| {
        let fresh = teams::find_by_name(conn, "Zaragoza")?.is_none();
        let team_id = match teams::find_by_name(conn, "Zaragoza")? {
            Some(t) => t.id,
            None => {
                let team = teams::Team {
                    id: new_id("team"),
                    name: "Zaragoza".into(),
                    created_at: to_ms(now),
                    updated_at: to_ms(now),
                };
                teams::insert(conn, &team)?;
                team.id
            }
        };
        let mut s = Seeder { conn, now, team_id, tolerances, views: views.clone() };
        let admin = s.agent(
            "Admin Tendero",
            "admin@tendero.test",
            "admin",
            "Europe/Madrid",
            "mon-fri 08:00-18:00",
            "en",
            &hash,
        )?;
        let lucia = s.agent(
            "Lucía Ferrer",
            "lucia@tendero.test",
            "manager",
            "Europe/Madrid",
            "mon-fri 08:00-16:00",
            "es-ES",
            &hash,
        )?;
        let marta = s.agent(
            "Marta Gil",
            "marta@tendero.test",
            "agent",
            "Europe/Madrid",
            "mon-sat 09:00-21:00",
            "es-ES",
            &hash,
        )?;
        let jorge = s.agent(
            "Jorge Sanz",
            "jorge@tendero.test",
            "agent",
            "Europe/Madrid",
            "mon-sat 09:00-21:00",
            "es-ES",
            &hash,
        )?;
        let ayoze = s.agent(
            "Ayoze Medina",
            "ayoze@tendero.test",
            "agent",
            "Atlantic/Canary",
            "mon-fri 08:00-17:00",
            "es-ES",
            &hash,
        )?;

        if fresh {
            seed_stories(&mut s, &marta, &jorge, &ayoze)?;
        }
        for n in 0..synthetic {
            seed_synthetic(&mut s, n, &[&marta, &jorge, &ayoze])?;
        }
        let now_ms = to_ms(now);
        let mut logins = Vec::new();
        for agent in [&admin, &lucia, &marta, &jorge, &ayoze] {
            let (_, token) = tokens::create(s.conn, &agent.id, "demo", now_ms)?;
            logins.push(DemoLogin { role: agent.role.clone(), email: agent.email.clone(), token });
        }
        Ok(logins)
    })
    .map_err(|e| anyhow::anyhow!("seeding the demo failed: {e}"))
}

fn seed_synthetic(s: &mut Seeder<'_, '_>, n: u32, owners: &[&Agent]) -> Result<(), AppError> {
    const FIRST: [&str; 8] = ["Ana", "Luis", "Elena", "Pablo", "Sara", "Diego", "Nuria", "Javier"];
    const LAST: [&str; 8] = ["Royo", "Lasheras", "Gracia", "Bernal", "Castán", "Lafuente", "Moliner", "Serrano"];
    const ZONES: [&str; 3] = ["Europe/Madrid", "Atlantic/Canary", "America/New_York"];
    let owner = owners[n as usize % owners.len()];
    let zone = ZONES[n as usize % ZONES.len()];
    let name = format!("{} {} {}", FIRST[n as usize % 8], LAST[(n as usize / 8) % 8], n + 1);
    let locale = if zone.starts_with("America") { "en-US" } else { "es-ES" };
    let region = match zone {
        "Atlantic/Canary" => "ES-CN",
        "America/New_York" => "US",
        _ => "ES",
    };
    let c = s.customer(&name, zone, locale, &format!("+34 600 {:06}", n), owner, &[], "", Some(region), "phone")?;
    let ago = Duration::hours(2 + i64::from(n % 48));
    let first =
        s.interaction(&c, Some(owner), "phone", "inbound", "reached", "Asked about an invoice line.", ago, None)?;
    let due = s.slot(&c, i64::from(n % 7), 9 + (n % 10), if n.is_multiple_of(2) { 0 } else { 30 });
    s.promise(&c, owner, "callback", "Te llamo con la respuesta sobre la factura", due, ago, None, Some(&first))?;
    Ok(())
}
