//! Every transition of a promise as a pure function: the promise as it is ([`Current`]), the input, the rules
//! ([`super::judging`]) and now in; a typed [`Change`] (what the row becomes, its ledger events, what happens to
//! its timers) or a typed [`Refusal`] out. Who may act, and the writing, are the service layer's; nothing here
//! reads a clock or a database.
//!
//! | transition | function |
//! |---|---|
//! | make | [`make`] |
//! | reschedule | [`reschedule`] |
//! | keep (note or cited interaction) | [`keep`] |
//! | keep by a logged contact | [`keep_by_contact`] |
//! | cancel | [`cancel`] |
//! | hand over | [`hand_over`] |
//! | route to a stand-in at fire time | [`route`] |
//! | miss (due + grace passed) | [`miss`] |
//! | break (never attempted, deadline passed) | [`expire`] |
//! | advance an update occurrence | [`keep_by_contact`], [`miss`] (with the next occurrence) |
//! | recompute after a tzdata change | [`recompute`] |
//! | acknowledge a prompt | [`acknowledge`] |

use chrono::{DateTime, Utc};

use super::event::{
    Acknowledged, Broken, BrokenReason, Cancelled, Created, DueTime, HandedOver, Kept, LedgerEvent, Missed, Recomputed,
    Rescheduled, TzdataChange,
};
use super::judging::{self, Contact, Judged, Keeper, NotEvidence, Timeliness};
use super::{check_action, Action, IllegalTransition};
use crate::domain::due::Warning;
use crate::domain::vocab::{Initiator, PromiseKind, PromiseStatus};

/// A promise as the transitions read it.
#[derive(Clone, Debug)]
pub struct Current {
    /// What the judgement reads.
    pub judged: Judged,
    /// Where it is in its life.
    pub status: PromiseStatus,
    /// Who owns it.
    pub owner: String,
    /// Its current due time.
    pub due: DueTime,
}

impl Current {
    fn check(&self, action: Action) -> Result<(), Refusal> {
        check_action(self.status, action).map_err(Refusal::Illegal)
    }
}

/// A resolved due time to move to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDue {
    /// UTC instant.
    pub due_at: DateTime<Utc>,
    /// Customer wall clock, `YYYY-MM-DDTHH:MM:SS`.
    pub due_local: String,
    /// Its zone.
    pub time_zone: String,
    /// How the wall-clock time was resolved.
    pub disambiguation: String,
    /// UTC offset at due, seconds.
    pub offset_seconds: i32,
}

impl NewDue {
    fn ledger(&self) -> DueTime {
        DueTime {
            due_at: self.due_at,
            due_local: Some(self.due_local.clone()),
            time_zone: Some(self.time_zone.clone()),
            offset_seconds: None,
        }
    }
}

/// How a promise was kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// When (the evidence's time, or the keep's).
    pub kept_at: DateTime<Utc>,
    /// On time or late.
    pub timeliness: Timeliness,
    /// The interaction cited.
    pub evidence: Option<String>,
    /// What the agent wrote.
    pub note: Option<String>,
}

/// What happens to a promise's timers (reminders, due prompt, overdue and expiry checks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Timers {
    /// Nothing to change.
    #[default]
    Keep,
    /// Plan them again for the new due time.
    Replan,
    /// Retire the pending ones: the promise is closed.
    Retire,
    /// The pending ones go to the new owner.
    Reassign,
}

/// What a transition does: the row's new fields (`None`: unchanged), its ledger events in order, its timers.
#[derive(Clone, Debug, Default)]
pub struct Change {
    /// New status.
    pub status: Option<PromiseStatus>,
    /// New due time.
    pub due: Option<NewDue>,
    /// New `late_since`.
    pub late_since: Option<Option<DateTime<Utc>>>,
    /// Kept for good.
    pub resolution: Option<Resolution>,
    /// The note of a cancel or break.
    pub note: Option<String>,
    /// New owner.
    pub owner: Option<String>,
    /// New `customer_requested`.
    pub customer_requested: Option<bool>,
    /// The move is a reschedule (counted on the row).
    pub counts_reschedule: bool,
    /// The ledger events, in order.
    pub events: Vec<LedgerEvent>,
    /// The timers.
    pub timers: Timers,
}

/// Why a transition is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The status does not allow it (409 with the current status).
    #[error(transparent)]
    Illegal(IllegalTransition),
    /// A hand-over to the current owner.
    #[error("the promise already belongs to this agent")]
    SameOwner,
    /// The cited interaction is not evidence for this promise.
    #[error("the interaction is not evidence for this promise: {0}")]
    Evidence(NotEvidence),
}

/// What a new promise records in its ledger.
pub struct Make<'a> {
    /// Its kind.
    pub kind: PromiseKind,
    /// What the customer was told.
    pub title: &'a str,
    /// Its resolved due time.
    pub due: &'a NewDue,
    /// The customer asked for this time.
    pub customer_requested: bool,
    /// Outside the contact window at the customer's request.
    pub outside_contact_window: bool,
    /// The customer is do-not-call and asked to be contacted.
    pub do_not_call_overridden: bool,
    /// Owner.
    pub owner: &'a str,
    /// What the agent was told.
    pub warnings: &'a [Warning],
}

/// Make: the `created` event of a new promise (its row is the input itself).
pub fn make(m: Make<'_>) -> LedgerEvent {
    LedgerEvent::Created(Created {
        kind: m.kind,
        title: m.title.to_string(),
        due_at: m.due.due_at,
        due_local: m.due.due_local.clone(),
        time_zone: m.due.time_zone.clone(),
        customer_requested: m.customer_requested,
        outside_contact_window: m.outside_contact_window,
        do_not_call_overridden: m.do_not_call_overridden,
        owner_agent_id: m.owner.to_string(),
        warnings: m.warnings.to_vec(),
    })
}

/// What a reschedule asks for.
pub struct Reschedule {
    /// The resolved new due time.
    pub to: NewDue,
    /// Why.
    pub reason: String,
    /// Who asked.
    pub initiated_by: Initiator,
    /// The customer asked for the exact time.
    pub customer_requested: bool,
    /// What the agent was told.
    pub warnings: Vec<Warning>,
}

/// Reschedule: a new due time, the old one kept in the ledger; an agent's move after due taints what follows.
pub fn reschedule(p: &Current, r: Reschedule, now: DateTime<Utc>) -> Result<Change, Refusal> {
    p.check(Action::Reschedule)?;
    let late = judging::reschedule_counts_as_late(r.initiated_by, p.judged.due_at, now);
    let event = LedgerEvent::Rescheduled(Rescheduled {
        from: p.due.clone(),
        to: r.to.ledger(),
        reason: r.reason,
        initiated_by: r.initiated_by,
        after_due: now > p.judged.due_at,
        counts_as_late: late,
        warnings: r.warnings,
        obligation: None,
    });
    Ok(Change {
        status: Some(PromiseStatus::Open),
        late_since: Some(judging::late_since_after_reschedule(&p.judged, r.initiated_by, now)),
        due: Some(r.to),
        customer_requested: Some(r.customer_requested),
        counts_reschedule: true,
        events: vec![event],
        timers: Timers::Replan,
        ..Change::default()
    })
}

/// What an explicit keep brings.
pub struct Keep {
    /// What was done.
    pub note: Option<String>,
    /// The interaction cited, with what the judgement reads of it.
    pub evidence: Option<(String, Contact)>,
}

/// Keep: kept for good with a note, an interaction, or both; on time up to due + grace (judged at the
/// evidence's time, or now without one). The evidence must be the customer's, made after the promise, and for a
/// contact promise an outbound attempt by the owner or a stand-in.
pub fn keep(p: &Current, k: Keep, now: DateTime<Utc>) -> Result<Change, Refusal> {
    p.check(Action::Keep)?;
    let kept_at = match &k.evidence {
        Some((_, contact)) => {
            judging::check_evidence(&p.judged, contact).map_err(Refusal::Evidence)?;
            contact.occurred_at
        }
        None => now,
    };
    let by_stand_in = k.evidence.as_ref().is_some_and(|(_, c)| c.keeper == Keeper::StandIn);
    let evidence = k.evidence.map(|(id, _)| id);
    Ok(closed_by_keep(p, kept_at, evidence, k.note, by_stand_in, None))
}

fn closed_by_keep(
    p: &Current,
    kept_at: DateTime<Utc>,
    evidence: Option<String>,
    note: Option<String>,
    by_stand_in: bool,
    occurrence: Option<DateTime<Utc>>,
) -> Change {
    let timeliness = judging::judge(&p.judged, kept_at);
    let event = LedgerEvent::Kept(Kept {
        timeliness,
        kept_at,
        evidence_interaction_id: evidence.clone(),
        note: note.clone(),
        by_stand_in,
        occurrence,
        is_final: true,
        obligation: None,
    });
    Change {
        status: Some(PromiseStatus::Kept),
        resolution: Some(Resolution { kept_at, timeliness, evidence, note }),
        events: vec![event],
        timers: Timers::Retire,
        ..Change::default()
    }
}

/// Keep by a logged contact: an outbound attempt by the owner or a stand-in inside the keep window keeps a
/// callback for good; for an update it keeps the current occurrence and moves on to `next` (kept for good when
/// the recurrence has ended).
pub fn keep_by_contact(
    p: &Current,
    interaction_id: &str,
    contact: &Contact,
    next: Option<NewDue>,
) -> Result<Change, Refusal> {
    p.check(Action::Keep)?;
    let timeliness = judging::attempt_keeps(&p.judged, contact).map_err(Refusal::Evidence)?;
    let by_stand_in = contact.keeper == Keeper::StandIn;
    let occurrence = Some(p.judged.due_at);
    match next.filter(|_| p.judged.kind == PromiseKind::Update) {
        None => {
            Ok(closed_by_keep(p, contact.occurred_at, Some(interaction_id.to_string()), None, by_stand_in, occurrence))
        }
        Some(next) => Ok(Change {
            status: Some(PromiseStatus::Open),
            due: Some(next),
            late_since: Some(None),
            events: vec![LedgerEvent::Kept(Kept {
                timeliness,
                kept_at: contact.occurred_at,
                evidence_interaction_id: Some(interaction_id.to_string()),
                note: None,
                by_stand_in,
                occurrence,
                is_final: false,
                obligation: None,
            })],
            timers: Timers::Replan,
            ..Change::default()
        }),
    }
}

/// Cancel: with the customer's agreement the promise is cancelled; without it, broken.
pub fn cancel(p: &Current, reason: String, initiated_by: Initiator) -> Result<Change, Refusal> {
    p.check(Action::Cancel)?;
    let status = judging::status_after_cancel(initiated_by);
    let mut events = vec![LedgerEvent::Cancelled(Cancelled { reason: reason.clone(), initiated_by })];
    if status == PromiseStatus::Broken {
        events.push(LedgerEvent::Broken(Broken { reason: BrokenReason::CancelledWithoutCustomerAgreement }));
    }
    Ok(Change { status: Some(status), note: Some(reason), events, timers: Timers::Retire, ..Change::default() })
}

/// Hand over: another agent owns it from now on, with a note that travels with it. (That the new owner is an
/// active agent of the customer's team is an access rule, checked before.)
pub fn hand_over(p: &Current, to: &str, note: String) -> Result<Change, Refusal> {
    p.check(Action::HandOver)?;
    if to == p.owner {
        return Err(Refusal::SameOwner);
    }
    let event = LedgerEvent::HandedOver(HandedOver {
        from: p.owner.clone(),
        to: vec![to.to_string()],
        note,
        routing: false,
        occurrence: None,
        obligation: None,
    });
    Ok(Change { owner: Some(to.to_string()), events: vec![event], timers: Timers::Reassign, ..Change::default() })
}

/// Route at fire time: the owner is away, so this occurrence's prompt goes to `recipients` (the stand-in, or
/// the team's managers); the owner does not change.
pub fn route(owner: &str, recipients: &[String], note: &str, occurrence: DateTime<Utc>) -> LedgerEvent {
    LedgerEvent::HandedOver(HandedOver {
        from: owner.to_string(),
        to: recipients.to_vec(),
        note: note.to_string(),
        routing: true,
        occurrence: Some(occurrence),
        obligation: None,
    })
}

/// Miss: due + grace passed without a keep. A callback or deadline becomes missed (it can still be kept late);
/// an update's occurrence is lost and the promise moves on to `next` (missed for good when none is left).
pub fn miss(p: &Current, next: Option<NewDue>) -> Change {
    let occurrence = p.judged.due_at;
    if p.judged.kind != PromiseKind::Update {
        let event = LedgerEvent::Missed(Missed {
            occurrence,
            grace_seconds: Some(p.judged.judging.grace.num_seconds()),
            is_final: None,
            obligation: None,
        });
        return Change { status: Some(PromiseStatus::Missed), events: vec![event], ..Change::default() };
    }
    let is_final = next.is_none();
    let event =
        LedgerEvent::Missed(Missed { occurrence, grace_seconds: None, is_final: Some(is_final), obligation: None });
    match next {
        Some(next) => Change {
            due: Some(next),
            late_since: Some(None),
            events: vec![event],
            timers: Timers::Replan,
            ..Change::default()
        },
        None => Change { status: Some(PromiseStatus::Missed), events: vec![event], ..Change::default() },
    }
}

/// Break: still not attempted long after due (24 h for contacts, 7 days for deadlines).
pub fn expire(p: &Current) -> Change {
    let reason = match p.judged.kind {
        PromiseKind::Deadline => BrokenReason::DeadlinePassed,
        PromiseKind::Callback | PromiseKind::Update => BrokenReason::NeverAttempted,
    };
    Change {
        status: Some(PromiseStatus::Broken),
        events: vec![LedgerEvent::Broken(Broken { reason })],
        timers: Timers::Retire,
        ..Change::default()
    }
}

/// Recompute: the same wall-clock time derived again under a new time-zone database.
pub fn recompute(p: &Current, to: NewDue, previous_offset: i32, tzdata: TzdataChange) -> Change {
    let event = LedgerEvent::Recomputed(Recomputed {
        from: DueTime {
            due_at: p.judged.due_at,
            due_local: None,
            time_zone: None,
            offset_seconds: Some(previous_offset),
        },
        to: DueTime { due_at: to.due_at, due_local: None, time_zone: None, offset_seconds: Some(to.offset_seconds) },
        due_local: to.due_local.clone(),
        time_zone: to.time_zone.clone(),
        tzdata,
    });
    Change { due: Some(to), events: vec![event], timers: Timers::Replan, ..Change::default() }
}

/// Acknowledge: the prompted agent saw the prompt (the row does not change; the escalation check is stopped by
/// the prompt's own state).
pub fn acknowledge(prompt_id: &str, purpose: &str, occurrence: DateTime<Utc>) -> LedgerEvent {
    LedgerEvent::Acknowledged(Acknowledged {
        prompt_id: prompt_id.to_string(),
        purpose: purpose.to_string(),
        occurrence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::promise::Judging;
    use chrono::{Duration, TimeZone};

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 17, h, m, 0).unwrap()
    }

    fn current(kind: PromiseKind) -> Current {
        Current {
            judged: Judged {
                kind,
                due_at: at(10, 0),
                made_at: at(8, 0),
                judging: Judging { early: Duration::minutes(10), grace: Duration::minutes(15) },
                late_since: None,
            },
            status: PromiseStatus::Open,
            owner: "agt_marta".into(),
            due: DueTime {
                due_at: at(10, 0),
                due_local: Some("2026-03-17T11:00:00".into()),
                time_zone: Some("Europe/Madrid".into()),
                offset_seconds: None,
            },
        }
    }

    fn next(h: u32) -> NewDue {
        NewDue {
            due_at: at(h, 0),
            due_local: format!("2026-03-17T{:02}:00:00", h + 1),
            time_zone: "Europe/Madrid".into(),
            disambiguation: "compatible".into(),
            offset_seconds: 3600,
        }
    }

    fn call(h: u32, m: u32) -> Contact {
        Contact { same_customer: true, outbound: true, keeper: Keeper::Owner, occurred_at: at(h, m) }
    }

    #[test]
    fn seed_003_the_customer_was_out_and_agreed_13_00() {
        // The agent calls at 11:00, nobody home; the customer later asks for 13:00: a renegotiation, not late.
        let p = current(PromiseKind::Callback);
        let r = Reschedule {
            to: next(12),
            reason: "no estaba en casa".into(),
            initiated_by: Initiator::Customer,
            customer_requested: true,
            warnings: vec![],
        };
        let change = reschedule(&p, r, at(10, 30)).unwrap();
        assert_eq!(change.late_since, Some(None));
        assert_eq!(change.timers, Timers::Replan);
        let LedgerEvent::Rescheduled(e) = &change.events[0] else { panic!("{:?}", change.events) };
        assert!(e.after_due && !e.counts_as_late);
        assert_eq!(e.from.due_at, at(10, 0));
        assert_eq!(e.to.due_at, at(12, 0));
    }

    #[test]
    fn an_agents_move_after_due_stays_late() {
        let p = current(PromiseKind::Callback);
        let r = Reschedule {
            to: next(12),
            reason: "cola llena".into(),
            initiated_by: Initiator::Agent,
            customer_requested: false,
            warnings: vec![],
        };
        let change = reschedule(&p, r, at(10, 30)).unwrap();
        assert_eq!(change.late_since, Some(Some(at(10, 0))));
    }

    #[test]
    fn a_keep_citing_a_call_from_before_the_promise_is_refused() {
        let p = current(PromiseKind::Callback);
        let k = Keep { note: None, evidence: Some(("int_old".into(), call(7, 0))) };
        assert_eq!(keep(&p, k, at(10, 5)).unwrap_err(), Refusal::Evidence(NotEvidence::BeforePromise));
        let k = Keep { note: None, evidence: Some(("int_ok".into(), call(10, 5))) };
        let change = keep(&p, k, at(10, 30)).unwrap();
        assert_eq!(change.resolution.unwrap().timeliness, Timeliness::OnTime);
    }

    #[test]
    fn an_update_occurrence_kept_moves_on_and_the_last_closes_it() {
        let p = current(PromiseKind::Update);
        let change = keep_by_contact(&p, "int_1", &call(10, 2), Some(next(13))).unwrap();
        assert_eq!(change.status, Some(PromiseStatus::Open));
        assert_eq!(change.due.as_ref().map(|d| d.due_at), Some(at(13, 0)));
        let LedgerEvent::Kept(k) = &change.events[0] else { panic!() };
        assert!(!k.is_final);
        let last = keep_by_contact(&p, "int_2", &call(10, 2), None).unwrap();
        assert_eq!(last.status, Some(PromiseStatus::Kept));
        assert_eq!(last.timers, Timers::Retire);
    }

    #[test]
    fn cancelling_for_the_agent_breaks_and_says_why() {
        let p = current(PromiseKind::Deadline);
        let change = cancel(&p, "no lo conseguimos".into(), Initiator::Agent).unwrap();
        assert_eq!(change.status, Some(PromiseStatus::Broken));
        let kinds: Vec<_> = change.events.iter().map(|e| e.kind().as_str()).collect();
        assert_eq!(kinds, ["cancelled", "broken"]);
        let change = cancel(&p, "ya está".into(), Initiator::Customer).unwrap();
        assert_eq!(change.status, Some(PromiseStatus::Cancelled));
        assert_eq!(change.events[0].webhook_type(), Some("promise.cancelled"));
    }

    #[test]
    fn closed_promises_refuse_every_transition() {
        let mut p = current(PromiseKind::Callback);
        p.status = PromiseStatus::Kept;
        assert!(matches!(cancel(&p, "r".into(), Initiator::Customer), Err(Refusal::Illegal(_))));
        assert!(matches!(hand_over(&p, "agt_jorge", "n".into()), Err(Refusal::Illegal(_))));
        assert!(matches!(keep_by_contact(&p, "i", &call(10, 0), None), Err(Refusal::Illegal(_))));
        p.status = PromiseStatus::Open;
        assert_eq!(hand_over(&p, "agt_marta", "n".into()).unwrap_err(), Refusal::SameOwner);
    }

    #[test]
    fn misses_by_kind() {
        let callback = miss(&current(PromiseKind::Callback), None);
        assert_eq!(callback.status, Some(PromiseStatus::Missed));
        let update = miss(&current(PromiseKind::Update), Some(next(13)));
        assert_eq!(update.status, None);
        assert_eq!(update.timers, Timers::Replan);
        assert_eq!(expire(&current(PromiseKind::Deadline)).status, Some(PromiseStatus::Broken));
    }
}
