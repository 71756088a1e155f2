//! What a promise asks of the scheduler (DESIGN.md sections 5 and 6): the instants at which something must
//! happen (lead reminders, the due prompt, the missed and broken checks), who receives a prompt when the owner is
//! away, and how late a firing was. Pure functions; the timers table and the scheduler loop apply them.

use chrono::{DateTime, Duration, Utc};

use super::vocab::PromiseKind;

/// Why a timer row exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// A reminder some time before due.
    Lead,
    /// The prompt at the due time.
    Due,
    /// The check at due + grace that marks an unkept promise missed.
    Overdue,
    /// The prompt to managers when a due prompt was not acknowledged in time.
    Escalation,
    /// The check that marks a still-open promise broken.
    Expiry,
}

impl Purpose {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Lead => "lead",
            Purpose::Due => "due",
            Purpose::Overdue => "overdue",
            Purpose::Escalation => "escalation",
            Purpose::Expiry => "expiry",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(text: &str) -> Option<Self> {
        [Purpose::Lead, Purpose::Due, Purpose::Overdue, Purpose::Escalation, Purpose::Expiry]
            .into_iter()
            .find(|p| p.as_str() == text)
    }
}

/// The timing facts of a promise.
#[derive(Clone, Debug)]
pub struct Timing {
    /// How it is judged.
    pub kind: PromiseKind,
    /// The current due instant (for an update: the current occurrence).
    pub due_at: DateTime<Utc>,
    /// Tolerance after due.
    pub grace: Duration,
    /// Reminders before due.
    pub leads: Vec<Duration>,
    /// When an unkept promise becomes broken, after due; `None` for updates, whose occurrences roll on.
    pub broken_after: Option<Duration>,
}

/// One planned timer: what, for which occurrence, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planned {
    /// Why.
    pub purpose: Purpose,
    /// The occurrence it belongs to (the due instant).
    pub occurrence_at: DateTime<Utc>,
    /// When to fire.
    pub fire_at: DateTime<Utc>,
}

/// The timers of one occurrence. A lead reminder whose time has already passed is left out (the due prompt
/// says everything it would), as is a lead that would fire at or after due.
pub fn plan(timing: &Timing, now: DateTime<Utc>) -> Vec<Planned> {
    let due = timing.due_at;
    let at = |purpose, fire_at| Planned { purpose, occurrence_at: due, fire_at };
    let mut planned: Vec<Planned> = timing
        .leads
        .iter()
        .filter(|lead| **lead > Duration::zero())
        .map(|lead| due - *lead)
        .filter(|fire_at| *fire_at > now)
        .map(|fire_at| at(Purpose::Lead, fire_at))
        .collect();
    planned.sort_by_key(|p| p.fire_at);
    planned.dedup_by_key(|p| p.fire_at);
    planned.push(at(Purpose::Due, due));
    planned.push(at(Purpose::Overdue, due + timing.grace));
    if let Some(after) = timing.broken_after {
        planned.push(at(Purpose::Expiry, due + after.max(timing.grace)));
    }
    planned
}

/// Who gets a prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routing {
    /// Agent ids to prompt.
    pub recipients: Vec<String>,
    /// Set when the owner is away: why these recipients and not the owner. The sentence is rendered in each
    /// recipient's language from this (templates `prompts/<locale>/handover.hbs`).
    pub away: Option<Away>,
}

/// Why a prompt goes to someone other than its owner.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Away {
    /// The absent owner's name.
    pub owner: String,
    /// The absence's note, as the owner wrote it (may be empty).
    pub note: String,
    /// No stand-in is recorded, so the team's managers take it.
    pub managers: bool,
}

/// The owner, unless away at fire time: then the absence's stand-in, else the team's managers (DESIGN.md
/// section 6). With nobody to stand in, the owner is still prompted so the promise is never silently dropped.
pub fn route(owner_id: &str, owner_name: &str, away: Option<(Option<&str>, &str)>, managers: &[String]) -> Routing {
    let why =
        |note: &str, managers: bool| Away { owner: owner_name.to_string(), note: note.trim().to_string(), managers };
    match away {
        None => Routing { recipients: vec![owner_id.to_string()], away: None },
        Some((Some(stand_in), note)) => {
            Routing { recipients: vec![stand_in.to_string()], away: Some(why(note, false)) }
        }
        Some((None, note)) if !managers.is_empty() => {
            Routing { recipients: managers.to_vec(), away: Some(why(note, true)) }
        }
        Some((None, _)) => Routing { recipients: vec![owner_id.to_string()], away: None },
    }
}

/// How late a firing is, never negative.
pub fn lateness(fire_at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - fire_at).max(Duration::zero())
}

/// A human account of a long delay, e.g. "2 h 5 min", for "this was due 2 h 5 min ago while the system was
/// offline".
pub fn describe_delay(late: Duration) -> String {
    let minutes = late.num_minutes();
    match (minutes / 60, minutes % 60) {
        (0, 0) => format!("{} s", late.num_seconds()),
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 17, h, m, 0).unwrap()
    }

    #[test]
    fn callback_at_eleven_plans_a_lead_at_ten_fifty_then_due_missed_and_broken_checks() {
        let timing = Timing {
            kind: PromiseKind::Callback,
            due_at: at(10, 0),
            grace: Duration::minutes(15),
            leads: vec![Duration::minutes(10), Duration::minutes(10), Duration::days(2)],
            broken_after: Some(Duration::hours(24)),
        };
        let planned = plan(&timing, at(9, 0));
        let summary: Vec<(&str, DateTime<Utc>)> = planned.iter().map(|p| (p.purpose.as_str(), p.fire_at)).collect();
        assert_eq!(
            summary,
            [
                ("lead", at(9, 50)),
                ("due", at(10, 0)),
                ("overdue", at(10, 15)),
                ("expiry", Utc.with_ymd_and_hms(2026, 3, 18, 10, 0, 0).unwrap())
            ]
        );
        assert!(planned.iter().all(|p| p.occurrence_at == at(10, 0)));
    }

    #[test]
    fn updates_have_no_expiry_and_past_leads_are_dropped() {
        let timing = Timing {
            kind: PromiseKind::Update,
            due_at: at(10, 0),
            grace: Duration::minutes(15),
            leads: vec![Duration::minutes(10)],
            broken_after: None,
        };
        let purposes: Vec<&str> = plan(&timing, at(9, 55)).iter().map(|p| p.purpose.as_str()).collect();
        assert_eq!(purposes, ["due", "overdue"]);
    }

    #[test]
    fn absent_owner_is_replaced_by_the_stand_in_or_the_managers() {
        let managers = vec!["mgr".to_string()];
        assert_eq!(route("own", "Marta", None, &managers).recipients, ["own"]);
        let stand_in = route("own", "Marta", Some((Some("jorge"), "training")), &managers);
        assert_eq!(stand_in.recipients, ["jorge"]);
        assert_eq!(stand_in.away, Some(Away { owner: "Marta".into(), note: "training".into(), managers: false }));
        assert_eq!(route("own", "Marta", Some((None, "")), &managers).recipients, ["mgr"]);
        assert_eq!(route("own", "Marta", Some((None, "")), &[]).recipients, ["own"]);
    }

    #[test]
    fn delays_read_like_a_person_would_say_them() {
        assert_eq!(describe_delay(Duration::minutes(125)), "2 h 5 min");
        assert_eq!(describe_delay(Duration::minutes(45)), "45 min");
        assert_eq!(describe_delay(Duration::seconds(30)), "30 s");
        assert_eq!(lateness(at(10, 0), at(9, 0)), Duration::zero());
    }
}
