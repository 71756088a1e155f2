//! Promise-keeping metrics (DESIGN.md section 10), defined once, as pure code.
//!
//! The unit is the **obligation**: a callback or deadline promise is one obligation; an update promise is one
//! obligation per occurrence. Every obligation has a due date (the customer's calendar date of its due time),
//! an accountable agent (the owner at due time), a team and a kind, and is in exactly one class:
//!
//! - `pending`: open and not yet past due + grace (not judged yet, so it is not counted as due);
//! - `missed_open`: past due + grace and not yet kept, broken or cancelled;
//! - `kept_on_time` / `kept_late` (with its lateness in minutes, measured from the due time, or from the
//!   earlier due time an agent moved after it had passed);
//! - `broken`: never attempted (24 h after due for contacts, 7 days for deadlines), cancelled without the
//!   customer's agreement, or an update occurrence that passed unkept (it cannot be kept any more);
//! - `cancelled`: withdrawn with the customer's agreement.
//!
//! `due` is every judged obligation (all classes but pending), and
//! `keep_rate = kept_on_time / (due - cancelled)`. Renegotiations and hand-overs are counted against the
//! obligation they moved, on its due date before the move. Continuity is the share of outbound contacts with a
//! customer that the customer's owner made.
//!
//! The current obligation of a promise is a function of its row ([`obligation`]); what closes an obligation
//! without showing in the row (an update occurrence kept or missed, a reschedule, a hand-over) is a function of
//! the ledger event ([`event_effects`]). Rollups add the difference of the row's obligation before and after a
//! change plus the event's effects, in the same transaction; a full recomputation adds the obligations of all rows
//! and the effects of all events. Both use these functions, so they cannot disagree on a definition.

use std::collections::BTreeMap;
use std::ops::{AddAssign, Neg};

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use super::promise::event::{LedgerEvent, Obligation};
use super::promise::Timeliness;
use super::vocab::Initiator;

/// Days since 1970-01-01 of a calendar date.
pub fn day_number(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - EPOCH_CE_DAYS
}

const EPOCH_CE_DAYS: i32 = 719_163;

/// The calendar date of a day number.
pub fn date_of(day: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(day + EPOCH_CE_DAYS).unwrap_or(NaiveDate::MIN)
}

/// The Monday of the ISO week a day belongs to (1970-01-01 was a Thursday).
pub fn week_of(day: i32) -> i32 {
    day - (day + 3).rem_euclid(7)
}

/// The ISO week label of a day, `2026-W47`.
pub fn week_label(day: i32) -> String {
    let week = date_of(day).iso_week();
    format!("{}-W{:02}", week.year(), week.week())
}

/// The day number of a `YYYY-MM-DDTHH:MM:SS` local due time (its date part).
pub fn day_of_local(due_local: &str) -> Option<i32> {
    NaiveDate::parse_from_str(due_local.get(..10)?, "%Y-%m-%d").ok().map(day_number)
}

/// Whole minutes from `reference` to `kept_at`, rounded up: a keep 15 min 1 s after due is 16 minutes late.
pub fn lateness_minutes(reference_ms: i64, kept_at_ms: i64) -> i64 {
    ((kept_at_ms - reference_ms).max(0) + 59_999) / 60_000
}

/// What a rollup row is keyed by.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// Day number of the customer-local due date.
    pub day: i32,
    /// The team, `""` for none.
    pub team_id: String,
    /// The accountable agent.
    pub agent_id: String,
    /// callback | deadline | update.
    pub kind: String,
}

/// The additive counters of one rollup row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Open, not yet judged.
    pub pending: i64,
    /// Past due + grace, not kept yet.
    pub missed_open: i64,
    /// Kept within due + grace.
    pub kept_on_time: i64,
    /// Kept after due + grace.
    pub kept_late: i64,
    /// Broken.
    pub broken: i64,
    /// Cancelled with the customer's agreement.
    pub cancelled: i64,
    /// Moved at the customer's request.
    pub renegotiated_by_customer: i64,
    /// Moved by the agent.
    pub renegotiated_by_agent: i64,
    /// Handed to someone else.
    pub handovers: i64,
}

impl Counts {
    /// Every counter is zero.
    pub fn is_zero(&self) -> bool {
        *self == Counts::default()
    }

    /// Judged obligations: every class but pending.
    pub fn due(&self) -> i64 {
        self.missed_open + self.kept_on_time + self.kept_late + self.broken + self.cancelled
    }

    /// The counters as `(column, value)` pairs, in column order.
    pub fn columns(&self) -> [(&'static str, i64); 9] {
        [
            ("pending", self.pending),
            ("missed_open", self.missed_open),
            ("kept_on_time", self.kept_on_time),
            ("kept_late", self.kept_late),
            ("broken", self.broken),
            ("cancelled", self.cancelled),
            ("renegotiated_by_customer", self.renegotiated_by_customer),
            ("renegotiated_by_agent", self.renegotiated_by_agent),
            ("handovers", self.handovers),
        ]
    }
}

impl AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.pending += o.pending;
        self.missed_open += o.missed_open;
        self.kept_on_time += o.kept_on_time;
        self.kept_late += o.kept_late;
        self.broken += o.broken;
        self.cancelled += o.cancelled;
        self.renegotiated_by_customer += o.renegotiated_by_customer;
        self.renegotiated_by_agent += o.renegotiated_by_agent;
        self.handovers += o.handovers;
    }
}

impl Neg for Counts {
    type Output = Counts;
    fn neg(self) -> Counts {
        Counts {
            pending: -self.pending,
            missed_open: -self.missed_open,
            kept_on_time: -self.kept_on_time,
            kept_late: -self.kept_late,
            broken: -self.broken,
            cancelled: -self.cancelled,
            renegotiated_by_customer: -self.renegotiated_by_customer,
            renegotiated_by_agent: -self.renegotiated_by_agent,
            handovers: -self.handovers,
        }
    }
}

/// A change to the rollups: counters to add under a key, and optionally one late keep of so many minutes
/// (with its sign).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delta {
    /// Where.
    pub key: Key,
    /// What to add.
    pub counts: Counts,
    /// `(minutes, +1 | -1)` for a late keep.
    pub lateness: Option<(i64, i64)>,
}

impl Delta {
    /// The same change with the opposite sign.
    pub fn negated(self) -> Delta {
        Delta { key: self.key, counts: -self.counts, lateness: self.lateness.map(|(m, n)| (m, -n)) }
    }
}

/// A change to the rollups, as a write makes it: a delta of counters, or one outbound contact counted for the
/// customer's owner (and whether the owner made it) on the customer-local day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RollupChange {
    /// Counters to add.
    Delta(Delta),
    /// One outbound contact.
    Contact {
        /// Day number.
        day: i32,
        /// The customer's team.
        team: String,
        /// The customer's owner.
        owner: String,
        /// The owner made it.
        by: bool,
    },
}

/// The row facts metrics read from a promise.
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    /// callback | deadline | update.
    pub kind: &'a str,
    /// The team the promise was made in.
    pub team_id: Option<&'a str>,
    /// Who answers for the current due time.
    pub accountable_agent_id: &'a str,
    /// Customer-local due time.
    pub due_local: &'a str,
    /// Due instant, ms.
    pub due_at: i64,
    /// Status.
    pub status: &'a str,
    /// When it was kept, ms.
    pub kept_at: Option<i64>,
    /// Whether the keep was on time.
    pub kept_on_time: Option<bool>,
    /// The passed due time an agent moved, if any.
    pub late_since: Option<i64>,
}

impl Facts<'_> {
    fn key(&self) -> Option<Key> {
        Some(Key {
            day: day_of_local(self.due_local)?,
            team_id: self.team_id.unwrap_or("").to_string(),
            agent_id: self.accountable_agent_id.to_string(),
            kind: self.kind.to_string(),
        })
    }
}

/// The current obligation of a promise row, as a +1 in its class.
pub fn obligation(f: &Facts<'_>) -> Option<Delta> {
    let key = f.key()?;
    let mut counts = Counts::default();
    let mut lateness = None;
    match f.status {
        "open" => counts.pending = 1,
        "missed" => counts.missed_open = 1,
        "kept" if f.kept_on_time == Some(true) => counts.kept_on_time = 1,
        "kept" => {
            counts.kept_late = 1;
            let kept_at = f.kept_at.unwrap_or(f.due_at);
            lateness = Some((lateness_minutes(f.late_since.unwrap_or(f.due_at), kept_at), 1));
        }
        "broken" => counts.broken = 1,
        "cancelled" => counts.cancelled = 1,
        _ => return None,
    }
    Some(Delta { key, counts, lateness })
}

/// What the ledger records in an event so its effects can be recomputed from the ledger alone: the key of the
/// obligation the event acted on (as it was before the change).
pub fn annotate(before: &Facts<'_>) -> Obligation {
    Obligation {
        day: day_of_local(before.due_local),
        agent_id: before.accountable_agent_id.to_string(),
        late_since: before.late_since,
        due_at: before.due_at,
    }
}

/// The effects of a ledger event beyond the change of the row's current obligation: an update occurrence kept
/// or missed before the promise moved to its next one, a renegotiation, a hand-over. Only events carrying the
/// [`annotate`]d obligation have any.
pub fn event_effects(event: &LedgerEvent, team_id: Option<&str>, kind: &str) -> Option<Delta> {
    let ob = event.obligation()?;
    let key = Key {
        day: ob.day?,
        team_id: team_id.unwrap_or("").to_string(),
        agent_id: ob.agent_id.clone(),
        kind: kind.to_string(),
    };
    let mut counts = Counts::default();
    let mut lateness = None;
    match event {
        LedgerEvent::Kept(k) if !k.is_final => match k.timeliness {
            Timeliness::OnTime => counts.kept_on_time = 1,
            Timeliness::Late => {
                counts.kept_late = 1;
                let reference = ob.late_since.unwrap_or(ob.due_at);
                lateness = Some((lateness_minutes(reference, k.kept_at.timestamp_millis()), 1));
            }
        },
        LedgerEvent::Missed(m) if m.is_final == Some(false) => counts.broken = 1,
        LedgerEvent::Rescheduled(r) => match r.initiated_by {
            Initiator::Customer => counts.renegotiated_by_customer = 1,
            Initiator::Agent => counts.renegotiated_by_agent = 1,
        },
        LedgerEvent::HandedOver(_) => counts.handovers = 1,
        _ => return None,
    }
    Some(Delta { key, counts, lateness })
}

/// The rollup change of one write: the row's obligation before (negated) and after, and the events' effects.
pub fn change(before: Option<&Facts<'_>>, after: &Facts<'_>, events: &[LedgerEvent]) -> Vec<Delta> {
    let mut out = Vec::new();
    out.extend(before.and_then(obligation).map(Delta::negated));
    out.extend(obligation(after));
    for event in events {
        out.extend(event_effects(event, after.team_id, after.kind));
    }
    coalesce(out)
}

/// Merges deltas with the same key and drops the ones that cancel out (an unchanged obligation writes nothing).
pub fn coalesce(deltas: Vec<Delta>) -> Vec<Delta> {
    let mut counts: BTreeMap<Key, Counts> = BTreeMap::new();
    let mut late: BTreeMap<(Key, i64), i64> = BTreeMap::new();
    for d in deltas {
        *counts.entry(d.key.clone()).or_default() += d.counts;
        if let Some((minutes, n)) = d.lateness {
            *late.entry((d.key, minutes)).or_default() += n;
        }
    }
    let mut out: Vec<Delta> = counts
        .into_iter()
        .filter(|(_, c)| !c.is_zero())
        .map(|(key, counts)| Delta { key, counts, lateness: None })
        .collect();
    for ((key, minutes), n) in late.into_iter().filter(|(_, n)| *n != 0) {
        out.push(Delta { key, counts: Counts::default(), lateness: Some((minutes, n)) });
    }
    out
}

/// The figures reported for one group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Figures {
    /// Judged obligations: everything due in the period except what is not yet past due + grace.
    pub due: i64,
    /// Open and not yet past due + grace (not in `due`).
    pub pending: i64,
    /// Kept within due + grace.
    pub kept_on_time: i64,
    /// Kept after due + grace (or after an agent moved a passed due time).
    pub kept_late: i64,
    /// Past due + grace and still open.
    pub missed_open: i64,
    /// Broken.
    pub broken: i64,
    /// Cancelled with the customer's agreement.
    pub cancelled: i64,
    /// Moved at the customer's request.
    pub renegotiated_by_customer: i64,
    /// Moved by the agent.
    pub renegotiated_by_agent: i64,
    /// Hand-overs of obligations due in the period.
    pub handovers: i64,
    /// kept_on_time / (due - cancelled); null when nothing is due.
    pub keep_rate: Option<f64>,
    /// Median lateness of late keeps, minutes (nearest rank).
    pub lateness_p50_minutes: Option<i64>,
    /// 90th percentile lateness of late keeps, minutes (nearest rank).
    pub lateness_p90_minutes: Option<i64>,
    /// Outbound contacts with the group's customers.
    pub outbound_contacts: Option<i64>,
    /// Of those, made by the customer's owner.
    pub outbound_by_owner: Option<i64>,
    /// outbound_by_owner / outbound_contacts; null when there were none or the group is per kind.
    pub continuity: Option<f64>,
}

/// Nearest-rank percentile of a histogram of `(minutes, count)`: the smallest value with at least `q` of the
/// observations at or below it.
pub fn percentile(histogram: &[(i64, i64)], q: f64) -> Option<i64> {
    let mut sorted: Vec<(i64, i64)> = histogram.iter().copied().filter(|(_, n)| *n > 0).collect();
    sorted.sort_unstable();
    let total: i64 = sorted.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as i64).clamp(1, total);
    let mut seen = 0;
    for (value, n) in sorted {
        seen += n;
        if seen >= rank {
            return Some(value);
        }
    }
    None
}

/// Computes a group's figures from its summed counters, its lateness histogram and, when defined for the
/// grouping, its `(outbound, by_owner)` contacts.
pub fn figures(c: &Counts, lateness: &[(i64, i64)], contacts: Option<(i64, i64)>) -> Figures {
    let due = c.due();
    let base = due - c.cancelled;
    Figures {
        due,
        pending: c.pending,
        kept_on_time: c.kept_on_time,
        kept_late: c.kept_late,
        missed_open: c.missed_open,
        broken: c.broken,
        cancelled: c.cancelled,
        renegotiated_by_customer: c.renegotiated_by_customer,
        renegotiated_by_agent: c.renegotiated_by_agent,
        handovers: c.handovers,
        keep_rate: (base > 0).then(|| c.kept_on_time as f64 / base as f64),
        lateness_p50_minutes: percentile(lateness, 0.5),
        lateness_p90_minutes: percentile(lateness, 0.9),
        outbound_contacts: contacts.map(|(o, _)| o),
        outbound_by_owner: contacts.map(|(_, b)| b),
        continuity: contacts.and_then(|(o, b)| (o > 0).then(|| b as f64 / o as f64)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(status: &'a str, due_local: &'a str) -> Facts<'a> {
        Facts {
            kind: "callback",
            team_id: Some("team_1"),
            accountable_agent_id: "agt_1",
            due_local,
            due_at: 1_000_000,
            status,
            kept_at: None,
            kept_on_time: None,
            late_since: None,
        }
    }

    #[test]
    fn days_and_weeks_follow_the_calendar() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap(); // a Sunday
        let n = day_number(d);
        assert_eq!(date_of(n), d);
        assert_eq!(date_of(week_of(n)), NaiveDate::from_ymd_opt(2026, 11, 16).unwrap());
        assert_eq!(week_label(n), "2026-W47");
        assert_eq!(day_number(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()), 0);
        assert_eq!(day_of_local("2026-11-22T10:00:00"), Some(n));
        assert_eq!(day_of_local("nonsense"), None);
    }

    #[test]
    fn a_keep_turns_pending_into_kept_on_the_same_day() {
        let before = facts("open", "2026-03-17T11:00:00");
        let mut after = before;
        after.status = "kept";
        after.kept_on_time = Some(true);
        let deltas = change(Some(&before), &after, &[]);
        assert_eq!(deltas.len(), 1);
        assert_eq!(deltas[0].counts, Counts { pending: -1, kept_on_time: 1, ..Default::default() });
    }

    #[test]
    fn an_unchanged_obligation_writes_nothing() {
        let f = facts("open", "2026-03-17T11:00:00");
        let ack = super::super::promise::lifecycle::acknowledge("pmt_1", "due", chrono::DateTime::UNIX_EPOCH);
        assert!(change(Some(&f), &f, &[ack]).is_empty());
    }

    #[test]
    fn a_late_keep_measures_from_the_moved_due_time() {
        let mut f = facts("kept", "2026-03-17T11:00:00");
        f.kept_on_time = Some(false);
        f.late_since = Some(0);
        f.kept_at = Some(61 * 60_000);
        let d = obligation(&f).unwrap();
        assert_eq!(d.counts.kept_late, 1);
        assert_eq!(d.lateness, Some((61, 1)));
    }

    #[test]
    fn event_effects_need_the_annotation() {
        use super::super::promise::event::{DueTime, Rescheduled};
        let before = facts("open", "2026-03-17T11:00:00");
        let due =
            DueTime { due_at: chrono::DateTime::UNIX_EPOCH, due_local: None, time_zone: None, offset_seconds: None };
        let mut event = LedgerEvent::Rescheduled(Rescheduled {
            from: due.clone(),
            to: due,
            reason: "r".into(),
            initiated_by: Initiator::Customer,
            after_due: false,
            counts_as_late: false,
            warnings: vec![],
            obligation: None,
        });
        assert_eq!(event_effects(&event, Some("team_1"), "callback"), None);
        event.annotate(|| annotate(&before));
        let d = event_effects(&event, Some("team_1"), "callback").unwrap();
        assert_eq!(d.counts.renegotiated_by_customer, 1);
        assert_eq!(d.key.day, day_of_local("2026-03-17").unwrap());
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let h = [(20, 1), (10, 1), (30, 2)];
        assert_eq!(percentile(&h, 0.5), Some(20));
        assert_eq!(percentile(&h, 0.9), Some(30));
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[(5, 1)], 0.9), Some(5));
    }

    #[test]
    fn keep_rate_leaves_out_customer_cancellations_and_pending() {
        let c = Counts { pending: 3, kept_on_time: 6, kept_late: 1, broken: 1, cancelled: 2, ..Default::default() };
        let f = figures(&c, &[], None);
        assert_eq!(f.due, 10);
        assert_eq!(f.keep_rate, Some(0.75));
        assert_eq!(f.continuity, None);
        assert_eq!(figures(&Counts::default(), &[], Some((0, 0))).keep_rate, None);
    }

    #[test]
    fn lateness_rounds_up_to_whole_minutes() {
        assert_eq!(lateness_minutes(0, 15 * 60_000 + 1000), 16);
        assert_eq!(lateness_minutes(0, 15 * 60_000), 15);
        assert_eq!(lateness_minutes(10, 0), 0);
    }
}
