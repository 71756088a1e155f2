//! What a batch of claimed timers needs to fire, read in a few set queries (one per kind of data for the
//! whole batch) instead of a score of statements per prompt. The firing transaction writes to promises only when
//! it judges them (missed, broken); [`Batch::promise_changed`] keeps what was read in step with those writes, so
//! a card built later in the same batch sees what a fresh read would.

use std::collections::{HashMap, HashSet};

use crate::db::DbConn;
use crate::domain::schedule::Purpose;
use crate::error::AppError;
use crate::repo::agents::{self, Absence, Agent};
use crate::repo::customers::{self, Customer};
use crate::repo::interactions::{self, LatestInteraction};
use crate::repo::promises::{self, Promise, PromiseEvent, SoonestActive};
use crate::repo::prompts;
use crate::repo::subscriptions::{self, Subscription};
use crate::repo::timers::Timer;

/// How many of the customer's other open promises a card lists; the rest are counted. A busy customer's card
/// stays a card (unbounded, one customer's prompt grew past 100 KB and held the writer).
pub const OTHER_PROMISES_SHOWN: usize = 10;

/// How many of the customer's latest interactions a card lists.
pub const INTERACTIONS_SHOWN: i64 = 5;

/// A customer's active promises as the card shows them: the soonest, and how many there are in all.
#[derive(Clone, Debug, Default)]
pub struct ActivePromises {
    /// The soonest, by (due_at, id): one more than a card shows, so leaving out the card's own promise still
    /// leaves enough.
    pub soonest: Vec<SoonestActive>,
    /// All of the customer's active promises.
    pub count: i64,
}

/// The card data of a batch, keyed by promise, customer or agent id.
#[derive(Default)]
pub struct Batch {
    promises: HashMap<String, Promise>,
    customers: HashMap<String, Customer>,
    agents: HashMap<String, Agent>,
    /// Team id to its active managers' ids, by name.
    managers: HashMap<String, Vec<String>>,
    /// Agent id to the absence covering the batch's instant.
    absences: HashMap<String, Absence>,
    reschedules: HashMap<String, Vec<PromiseEvent>>,
    interactions: HashMap<String, Vec<LatestInteraction>>,
    active: HashMap<String, ActivePromises>,
    acknowledged: HashSet<(String, i64)>,
    /// The active webhook subscriptions, read once for every event the batch emits.
    pub subscriptions: Vec<Subscription>,
}

fn unique<'a>(ids: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut seen = HashSet::new();
    ids.into_iter().filter(|id| seen.insert(*id)).map(str::to_string).collect()
}

fn prompts_someone(d: &Timer) -> bool {
    matches!(Purpose::parse(&d.purpose), Some(Purpose::Lead | Purpose::Due | Purpose::Escalation))
}

impl Batch {
    /// Reads everything the timers' prompts need at `now_ms`. The card data (agents, absences, managers,
    /// reschedules, interactions, other promises) is read only for timers that prompt someone.
    pub fn load(conn: &mut DbConn, timers: &[Timer], now_ms: i64) -> Result<Self, AppError> {
        let mut batch = Batch::default();
        let promise_ids = unique(timers.iter().map(|d| d.promise_id.as_str()));
        batch.promises = promises::find_many(conn, &promise_ids)?.into_iter().map(|p| (p.id.clone(), p)).collect();
        let customer_ids = unique(batch.promises.values().map(|p| p.customer_id.as_str()));
        batch.customers = customers::find_many(conn, &customer_ids)?.into_iter().map(|c| (c.id.clone(), c)).collect();
        batch.subscriptions = subscriptions::read_active(conn)?;

        let prompting: Vec<&Promise> =
            unique(timers.iter().filter(|d| prompts_someone(d)).map(|d| d.promise_id.as_str()))
                .iter()
                .filter_map(|id| batch.promises.get(id))
                .collect();
        if prompting.is_empty() {
            return Ok(batch);
        }
        let prompting_ids: Vec<String> = prompting.iter().map(|p| p.id.clone()).collect();
        let owners = unique(prompting.iter().map(|p| p.owner_agent_id.as_str()));
        let agent_ids = unique(prompting.iter().flat_map(|p| [p.owner_agent_id.as_str(), p.made_by_agent_id.as_str()]));
        let customers_prompted = unique(prompting.iter().map(|p| p.customer_id.as_str()));
        batch.agents = agents::find_many(conn, &agent_ids)?.into_iter().map(|a| (a.id.clone(), a)).collect();

        let teams = unique(prompting.iter().filter_map(|p| {
            let customer_team = batch.customers.get(&p.customer_id).and_then(|c| c.team_id.as_deref());
            customer_team.or_else(|| batch.agents.get(&p.owner_agent_id).and_then(|a| a.team_id.as_deref()))
        }));
        if !teams.is_empty() {
            for manager in agents::managers_of_teams(conn, &teams)? {
                if let Some(team) = manager.team_id.clone() {
                    batch.managers.entry(team).or_default().push(manager.id.clone());
                }
                batch.agents.insert(manager.id.clone(), manager);
            }
        }
        for absence in agents::absences_at(conn, &owners, now_ms)? {
            batch.absences.entry(absence.agent_id.clone()).or_insert(absence);
        }
        let stand_ins: Vec<String> = unique(batch.absences.values().filter_map(|a| a.stand_in_agent_id.as_deref()))
            .into_iter()
            .filter(|id| !batch.agents.contains_key(id))
            .collect();
        if !stand_ins.is_empty() {
            batch.agents.extend(agents::find_many(conn, &stand_ins)?.into_iter().map(|a| (a.id.clone(), a)));
        }

        for event in promises::reschedules_of_many(conn, &prompting_ids)? {
            batch.reschedules.entry(event.promise_id.clone()).or_default().push(event);
        }
        for interaction in interactions::latest_of_customers(conn, &customers_prompted, INTERACTIONS_SHOWN)? {
            batch.interactions.entry(interaction.customer_id.clone()).or_default().push(interaction);
        }
        batch.load_active(conn, &customers_prompted)?;
        let escalated = unique(
            timers
                .iter()
                .filter(|d| Purpose::parse(&d.purpose) == Some(Purpose::Escalation))
                .map(|d| d.promise_id.as_str()),
        );
        if !escalated.is_empty() {
            batch.acknowledged = prompts::acknowledged_occurrences(conn, &escalated)?.into_iter().collect();
        }
        Ok(batch)
    }

    fn load_active(&mut self, conn: &mut DbConn, customer_ids: &[String]) -> Result<(), AppError> {
        for id in customer_ids {
            self.active.insert(id.clone(), ActivePromises::default());
        }
        let rows = promises::soonest_active_of_customers(conn, customer_ids, OTHER_PROMISES_SHOWN as i64 + 1)?;
        for row in rows {
            let entry = self.active.entry(row.customer_id.clone()).or_default();
            entry.count = row.active_count;
            entry.soonest.push(row);
        }
        Ok(())
    }

    /// The promise as the transaction holds it now.
    pub fn promise(&self, id: &str) -> Option<&Promise> {
        self.promises.get(id)
    }

    /// A customer of one of the batch's promises.
    pub fn customer(&self, id: &str) -> Option<&Customer> {
        self.customers.get(id)
    }

    /// An owner, maker, manager or stand-in of one of the batch's prompts.
    pub fn agent(&self, id: &str) -> Option<&Agent> {
        self.agents.get(id)
    }

    /// A team's active managers' ids, by name.
    pub fn managers_of(&self, team_id: &str) -> &[String] {
        self.managers.get(team_id).map(Vec::as_slice).unwrap_or_default()
    }

    /// The absence of an owner at the batch's instant.
    pub fn absence_of(&self, agent_id: &str) -> Option<&Absence> {
        self.absences.get(agent_id)
    }

    /// A promise's reschedules, oldest first.
    pub fn reschedules_of(&self, promise_id: &str) -> &[PromiseEvent] {
        self.reschedules.get(promise_id).map(Vec::as_slice).unwrap_or_default()
    }

    /// A customer's latest interactions, newest first.
    pub fn interactions_of(&self, customer_id: &str) -> &[LatestInteraction] {
        self.interactions.get(customer_id).map(Vec::as_slice).unwrap_or_default()
    }

    /// Reads a customer's active promises again when a write earlier in the batch changed one of them.
    pub fn ensure_active(&mut self, conn: &mut DbConn, customer_id: &str) -> Result<(), AppError> {
        if !self.active.contains_key(customer_id) {
            self.load_active(conn, &[customer_id.to_string()])?;
        }
        Ok(())
    }

    /// A customer's active promises (after [`Batch::ensure_active`]).
    pub fn active(&self, customer_id: &str) -> &ActivePromises {
        static NONE: ActivePromises = ActivePromises { soonest: Vec::new(), count: 0 };
        self.active.get(customer_id).unwrap_or(&NONE)
    }

    /// Whether a prompt of this occurrence was acknowledged (only asked for escalations).
    pub fn acknowledged(&self, promise_id: &str, occurrence_at: i64) -> bool {
        self.acknowledged.contains(&(promise_id.to_string(), occurrence_at))
    }

    /// Records a promise the batch changed, so later timers of the batch see the change.
    pub fn promise_changed(&mut self, promise: Promise) {
        self.active.remove(&promise.customer_id);
        self.promises.insert(promise.id.clone(), promise);
    }
}
