//! The whole on-time judgement of a promise (DESIGN.md section 5), in one place: the tolerances a promise is
//! judged with, when a keep is on time or late, what makes an interaction evidence, who may keep a promise by a
//! contact, and how an agent's late reschedule taints what follows. Pure functions over instants; the caller
//! supplies the clock.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::vocab::{Initiator, PromiseKind, PromiseStatus};

/// The tolerances a promise is judged with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Judging {
    /// How long before due an attempt already counts (callbacks and update occurrences).
    pub early: Duration,
    /// How long after due a keep is still on time.
    pub grace: Duration,
}

impl Judging {
    /// The tolerances of a promise of `kind` with its own `grace`: contact promises count attempts from
    /// `callback_early` before due; a deadline has no early window (it is kept explicitly, any time before due).
    pub fn of(kind: PromiseKind, grace: Duration, callback_early: Duration) -> Judging {
        let early = if kind.contacts_customer() { callback_early } else { Duration::zero() };
        Judging { early, grace }
    }
}

/// The grace a new promise gets when the request names none: contact promises the configured callback grace,
/// deadlines none (a deadline is kept by its due time).
pub fn default_grace(kind: PromiseKind, callback_grace: Duration) -> Duration {
    match kind {
        PromiseKind::Deadline => Duration::zero(),
        PromiseKind::Callback | PromiseKind::Update => callback_grace,
    }
}

/// The verdict on a keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Timeliness {
    /// Within the promised window.
    OnTime,
    /// After due + grace, or after the agent let a due time pass and moved it.
    Late,
}

impl Timeliness {
    /// `on_time` or `late`, as written in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Timeliness::OnTime => "on_time",
            Timeliness::Late => "late",
        }
    }
}

/// What the judgement reads of a promise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Judged {
    /// The kind.
    pub kind: PromiseKind,
    /// The current due time (for an update, the current occurrence).
    pub due_at: DateTime<Utc>,
    /// When the promise was made: nothing before it can be evidence for it.
    pub made_at: DateTime<Utc>,
    /// The tolerances.
    pub judging: Judging,
    /// Set when the agent moved a due time that had already passed.
    pub late_since: Option<DateTime<Utc>>,
}

/// Judges a keep at `kept_at`: on time up to due + grace, late after; and late whatever the time once the agent
/// moved a passed due time (DESIGN.md section 5, "a reschedule by the agent after due counts as late": the
/// customer was already let down once).
pub fn judge(promise: &Judged, kept_at: DateTime<Utc>) -> Timeliness {
    if promise.late_since.is_some() || kept_at > promise.due_at + promise.judging.grace {
        Timeliness::Late
    } else {
        Timeliness::OnTime
    }
}

/// Who made a contact, as far as keeping a promise is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Keeper {
    /// The promise's owner.
    Owner,
    /// The stand-in recorded on the owner's absence at the time of the contact.
    StandIn,
    /// Anyone else: a colleague's call is on the timeline but keeps nothing (the same person, DESIGN.md 1.3).
    Other,
}

/// A logged contact, as the judgement sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Contact {
    /// It was made to the promise's customer.
    pub same_customer: bool,
    /// Outbound (the agent reached out) rather than inbound.
    pub outbound: bool,
    /// Who made it.
    pub keeper: Keeper,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
}

/// Why a contact is not evidence for a promise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotEvidence {
    /// The interaction is another customer's.
    #[error("the interaction is not with this promise's customer")]
    OtherCustomer,
    /// It happened before the promise existed.
    #[error("the interaction happened before the promise was made")]
    BeforePromise,
    /// Deadlines are kept explicitly.
    #[error("deadline promises are kept with POST /promises/{{id}}/keep")]
    Deadline,
    /// Only an outbound attempt shows the agent reached out.
    #[error("only an outbound contact attempt keeps a callback")]
    NotOutbound,
    /// Made by someone who does not answer for the promise.
    #[error("only the owner or a recorded stand-in keeps a callback")]
    NotKeeper,
    /// Made before the keep window opened.
    #[error("the attempt was made before the promised time")]
    TooEarly,
}

impl NotEvidence {
    /// Stable code for answers.
    pub fn code(self) -> &'static str {
        match self {
            NotEvidence::OtherCustomer => "other_customer",
            NotEvidence::BeforePromise => "before_promise",
            NotEvidence::Deadline => "deadline_kept_explicitly",
            NotEvidence::NotOutbound => "not_outbound",
            NotEvidence::NotKeeper => "not_owner_or_stand_in",
            NotEvidence::TooEarly => "before_keep_window",
        }
    }
}

/// Whether an interaction may be cited as the evidence of an explicit keep: it belongs to the customer,
/// happened at or after the promise was made, and for a contact promise is an outbound attempt by the owner or
/// a recorded stand-in. (An explicit keep may cite an early call: the agent says it did what was promised.)
pub fn check_evidence(promise: &Judged, contact: &Contact) -> Result<(), NotEvidence> {
    if !contact.same_customer {
        return Err(NotEvidence::OtherCustomer);
    }
    if contact.occurred_at < promise.made_at {
        return Err(NotEvidence::BeforePromise);
    }
    if promise.kind.contacts_customer() {
        if !contact.outbound {
            return Err(NotEvidence::NotOutbound);
        }
        if contact.keeper == Keeper::Other {
            return Err(NotEvidence::NotKeeper);
        }
    }
    Ok(())
}

/// Whether a logged contact keeps a contact promise by itself (DESIGN.md section 5): an outbound attempt by the
/// owner or a recorded stand-in, any outcome ("no answer" included: the agent showed up), from due - early on.
/// Its timeliness is [`judge`]d at the moment of the contact.
pub fn attempt_keeps(promise: &Judged, contact: &Contact) -> Result<Timeliness, NotEvidence> {
    if !promise.kind.contacts_customer() {
        return Err(NotEvidence::Deadline);
    }
    check_evidence(promise, contact)?;
    if contact.occurred_at < promise.due_at - promise.judging.early {
        return Err(NotEvidence::TooEarly);
    }
    Ok(judge(promise, contact.occurred_at))
}

/// Whether a contact logged without naming a promise keeps this one: the same rule as [`attempt_keeps`], and
/// the contact also falls inside the keep window (up to due + grace). A later call with no promise named is
/// not taken as a late keep of something the agent did not mention.
pub fn unnamed_attempt_keeps(promise: &Judged, contact: &Contact) -> Option<Timeliness> {
    let in_window = contact.occurred_at <= promise.due_at + promise.judging.grace;
    attempt_keeps(promise, contact).ok().filter(|_| in_window)
}

/// What a cancellation turns the promise into: cancelled with the customer's agreement, broken without it.
pub fn status_after_cancel(initiated_by: Initiator) -> PromiseStatus {
    match initiated_by {
        Initiator::Customer => PromiseStatus::Cancelled,
        Initiator::Agent => PromiseStatus::Broken,
    }
}

/// A reschedule asked by the agent after the due time counts against them as late; one asked by the customer
/// is a renegotiation, never a failure.
pub fn reschedule_counts_as_late(initiated_by: Initiator, due_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    initiated_by == Initiator::Agent && now > due_at
}

/// The `late_since` after a reschedule: once the agent let a due time pass, the promise stays late from that
/// first passed due time until the customer agrees a new time.
pub fn late_since_after_reschedule(
    promise: &Judged,
    initiated_by: Initiator,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match (reschedule_counts_as_late(initiated_by, promise.due_at, now), initiated_by) {
        (true, _) => Some(promise.late_since.unwrap_or(promise.due_at)),
        (false, Initiator::Customer) => None,
        (false, Initiator::Agent) => promise.late_since,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 17, h, m, 0).unwrap()
    }

    const JUDGING: Judging = Judging { early: Duration::minutes(10), grace: Duration::minutes(15) };

    /// Víctor's callback (seed 001): agreed at 09:00 for 11:00, owner Marta.
    fn callback() -> Judged {
        Judged { kind: PromiseKind::Callback, due_at: at(11, 0), made_at: at(9, 0), judging: JUDGING, late_since: None }
    }

    fn call(h: u32, m: u32, keeper: Keeper) -> Contact {
        Contact { same_customer: true, outbound: true, keeper, occurred_at: at(h, m) }
    }

    #[test]
    fn a_callback_attempt_keeps_it_from_ten_minutes_before_to_grace_after() {
        use Keeper::*;
        use Timeliness::*;
        let table: &[(Contact, Result<Timeliness, NotEvidence>)] = &[
            (call(10, 50, Owner), Ok(OnTime)),
            (call(11, 0, StandIn), Ok(OnTime)),
            (call(11, 15, Owner), Ok(OnTime)),
            (call(11, 16, Owner), Ok(Late)),
            (call(10, 49, Owner), Err(NotEvidence::TooEarly)),
            (call(11, 0, Other), Err(NotEvidence::NotKeeper)),
            (Contact { outbound: false, ..call(11, 0, Owner) }, Err(NotEvidence::NotOutbound)),
            (Contact { same_customer: false, ..call(11, 0, Owner) }, Err(NotEvidence::OtherCustomer)),
            (call(8, 0, Owner), Err(NotEvidence::BeforePromise)),
        ];
        for (contact, expected) in table {
            assert_eq!(attempt_keeps(&callback(), contact), *expected, "{contact:?}");
        }
    }

    #[test]
    fn an_unnamed_call_keeps_only_inside_the_window() {
        assert_eq!(unnamed_attempt_keeps(&callback(), &call(11, 5, Keeper::Owner)), Some(Timeliness::OnTime));
        assert_eq!(unnamed_attempt_keeps(&callback(), &call(11, 16, Keeper::Owner)), None);
        assert_eq!(unnamed_attempt_keeps(&callback(), &call(10, 40, Keeper::Owner)), None);
        assert_eq!(unnamed_attempt_keeps(&callback(), &call(11, 0, Keeper::Other)), None);
    }

    #[test]
    fn evidence_for_an_explicit_keep_must_follow_the_promise() {
        // An hour before the promise existed: never evidence, whatever the agent claims.
        assert_eq!(check_evidence(&callback(), &call(8, 0, Keeper::Owner)), Err(NotEvidence::BeforePromise));
        assert_eq!(check_evidence(&callback(), &call(9, 30, Keeper::Owner)), Ok(()));
        let deadline = Judged { kind: PromiseKind::Deadline, ..callback() };
        let inbound_mail = Contact { outbound: false, keeper: Keeper::Other, ..call(10, 0, Keeper::Other) };
        assert_eq!(check_evidence(&deadline, &inbound_mail), Ok(()));
        assert_eq!(
            check_evidence(&deadline, &Contact { same_customer: false, ..inbound_mail }),
            Err(NotEvidence::OtherCustomer)
        );
    }

    #[test]
    fn deadlines_are_not_kept_by_a_logged_call() {
        let deadline = Judged { kind: PromiseKind::Deadline, ..callback() };
        assert_eq!(attempt_keeps(&deadline, &call(11, 0, Keeper::Owner)), Err(NotEvidence::Deadline));
    }

    #[test]
    fn deadline_kept_on_day_14_of_15_is_on_time() {
        let due = Utc.with_ymd_and_hms(2026, 4, 1, 19, 0, 0).unwrap();
        let deadline = Judged {
            kind: PromiseKind::Deadline,
            due_at: due,
            made_at: due - Duration::days(15),
            judging: Judging::of(PromiseKind::Deadline, Duration::zero(), Duration::minutes(10)),
            late_since: None,
        };
        assert_eq!(judge(&deadline, due - Duration::days(1)), Timeliness::OnTime);
        assert_eq!(judge(&deadline, due), Timeliness::OnTime);
        assert_eq!(judge(&deadline, due + Duration::seconds(1)), Timeliness::Late);
    }

    #[test]
    fn after_an_agents_late_reschedule_every_keep_is_late() {
        let moved = Judged { late_since: Some(at(11, 0)), due_at: at(13, 0), ..callback() };
        assert_eq!(judge(&moved, at(13, 0)), Timeliness::Late);
        assert_eq!(attempt_keeps(&moved, &call(13, 0, Keeper::Owner)), Ok(Timeliness::Late));
    }

    #[test]
    fn late_since_follows_who_moved_it_and_when() {
        let p = callback();
        // The agent moves it after due: late from the first passed due time.
        assert_eq!(late_since_after_reschedule(&p, Initiator::Agent, at(11, 30)), Some(at(11, 0)));
        // Before due: nothing changes.
        assert_eq!(late_since_after_reschedule(&p, Initiator::Agent, at(10, 0)), None);
        // Already late, moved again by the agent: still late since the first time.
        let late = Judged { late_since: Some(at(9, 30)), ..p };
        assert_eq!(late_since_after_reschedule(&late, Initiator::Agent, at(12, 0)), Some(at(9, 30)));
        assert_eq!(late_since_after_reschedule(&late, Initiator::Agent, at(10, 0)), Some(at(9, 30)));
        // The customer agrees a new time: the slate is clean.
        assert_eq!(late_since_after_reschedule(&late, Initiator::Customer, at(12, 0)), None);
    }

    #[test]
    fn cancelling_without_the_customer_breaks_the_promise() {
        assert_eq!(status_after_cancel(Initiator::Customer), PromiseStatus::Cancelled);
        assert_eq!(status_after_cancel(Initiator::Agent), PromiseStatus::Broken);
    }

    #[test]
    fn only_an_agent_reschedule_after_due_counts_as_late() {
        assert!(reschedule_counts_as_late(Initiator::Agent, at(11, 0), at(11, 1)));
        assert!(!reschedule_counts_as_late(Initiator::Agent, at(11, 0), at(10, 59)));
        assert!(!reschedule_counts_as_late(Initiator::Customer, at(11, 0), at(12, 0)));
    }

    #[test]
    fn tolerances_by_kind() {
        let ten = Duration::minutes(10);
        assert_eq!(Judging::of(PromiseKind::Deadline, Duration::zero(), ten).early, Duration::zero());
        assert_eq!(Judging::of(PromiseKind::Update, Duration::minutes(15), ten).early, ten);
        assert_eq!(default_grace(PromiseKind::Deadline, Duration::minutes(15)), Duration::zero());
        assert_eq!(default_grace(PromiseKind::Callback, Duration::minutes(15)), Duration::minutes(15));
    }
}
