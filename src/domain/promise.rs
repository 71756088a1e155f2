//! The promise lifecycle (DESIGN.md section 5): which actions each status allows, and how a keep is judged on
//! time or late. Pure functions over instants; the caller supplies the clock.

use chrono::{DateTime, Duration, Utc};

use super::vocab::{Initiator, PromiseKind, PromiseStatus};

/// An action a person takes on a promise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Move the due time.
    Reschedule,
    /// Mark it kept.
    Keep,
    /// Withdraw it.
    Cancel,
    /// Give it to another agent.
    HandOver,
}

impl Action {
    /// The verb used in error messages and URLs.
    pub fn verb(self) -> &'static str {
        match self {
            Action::Reschedule => "reschedule",
            Action::Keep => "keep",
            Action::Cancel => "cancel",
            Action::HandOver => "hand over",
        }
    }
}

/// Refusal of an action because of the promise's status (answered as 409 with the current status).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot {} a promise that is {}", action.verb(), current)]
pub struct IllegalTransition {
    /// What was attempted.
    pub action: Action,
    /// The status that forbids it.
    pub current: PromiseStatus,
}

/// Only open and missed promises can change; kept, broken and cancelled are final.
pub fn check_action(status: PromiseStatus, action: Action) -> Result<(), IllegalTransition> {
    if status.is_active() {
        Ok(())
    } else {
        Err(IllegalTransition { action, current: status })
    }
}

/// The tolerances a promise is judged with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Judging {
    /// How long before due an attempt already counts (callbacks and update occurrences).
    pub early: Duration,
    /// How long after due a keep is still on time.
    pub grace: Duration,
}

/// The verdict on a keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeliness {
    /// Within the promised window.
    OnTime,
    /// After due + grace.
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

/// Judges a keep at `kept_at` of a promise due at `due_at`: on time up to due + grace, late after.
pub fn judge_keep(due_at: DateTime<Utc>, judging: Judging, kept_at: DateTime<Utc>) -> Timeliness {
    if kept_at <= due_at + judging.grace {
        Timeliness::OnTime
    } else {
        Timeliness::Late
    }
}

/// A keep after the agent moved a passed due time is late whatever the new time was: the customer was already
/// let down once (DESIGN.md section 5, "a reschedule by the agent after due counts as late").
pub fn after_late_reschedule(timeliness: Timeliness, rescheduled_late: bool) -> Timeliness {
    if rescheduled_late {
        Timeliness::Late
    } else {
        timeliness
    }
}

/// What logging an interaction does to the promise it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptEffect {
    /// The attempt keeps the promise (callbacks) or the current occurrence (updates).
    Keeps(Timeliness),
    /// The interaction is recorded on the timeline but is not evidence for this promise, with the reason.
    NotEvidence(&'static str),
}

/// Decides whether an interaction is evidence that a contact promise was kept (DESIGN.md section 5): an
/// outbound attempt by the owner (or a recorded stand-in) from due - early on, any outcome, "no answer"
/// included, because the agent showed up. Deadlines are kept only explicitly, with a note or evidence.
pub fn attempt_effect(
    kind: PromiseKind,
    due_at: DateTime<Utc>,
    judging: Judging,
    outbound: bool,
    by_owner_or_stand_in: bool,
    occurred_at: DateTime<Utc>,
) -> AttemptEffect {
    if !kind.contacts_customer() {
        return AttemptEffect::NotEvidence("deadline promises are kept with POST /promises/{id}/keep");
    }
    if !outbound {
        return AttemptEffect::NotEvidence("only an outbound contact attempt keeps a callback");
    }
    if !by_owner_or_stand_in {
        return AttemptEffect::NotEvidence("only the owner or a recorded stand-in keeps a callback");
    }
    if occurred_at < due_at - judging.early {
        return AttemptEffect::NotEvidence("the attempt was made before the promised time");
    }
    AttemptEffect::Keeps(judge_keep(due_at, judging, occurred_at))
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 17, h, m, 0).unwrap()
    }

    const JUDGING: Judging = Judging { early: Duration::minutes(10), grace: Duration::minutes(15) };

    #[test]
    fn final_statuses_refuse_every_action() {
        for status in [PromiseStatus::Kept, PromiseStatus::Broken, PromiseStatus::Cancelled] {
            for action in [Action::Reschedule, Action::Keep, Action::Cancel, Action::HandOver] {
                let err = check_action(status, action).unwrap_err();
                assert_eq!(err.current, status);
                assert!(err.to_string().contains(status.as_str()));
            }
        }
        assert!(check_action(PromiseStatus::Missed, Action::Keep).is_ok());
        assert!(check_action(PromiseStatus::Open, Action::HandOver).is_ok());
    }

    #[test]
    fn callback_attempt_window_runs_from_ten_minutes_before_to_grace_after() {
        let due = at(11, 0);
        let effect = |when, outbound, owner| attempt_effect(PromiseKind::Callback, due, JUDGING, outbound, owner, when);
        assert_eq!(effect(at(10, 50), true, true), AttemptEffect::Keeps(Timeliness::OnTime));
        assert_eq!(effect(at(11, 15), true, true), AttemptEffect::Keeps(Timeliness::OnTime));
        assert_eq!(effect(at(11, 16), true, true), AttemptEffect::Keeps(Timeliness::Late));
        assert!(matches!(effect(at(10, 49), true, true), AttemptEffect::NotEvidence(_)));
        assert!(matches!(effect(at(11, 0), false, true), AttemptEffect::NotEvidence(_)));
        assert!(matches!(effect(at(11, 0), true, false), AttemptEffect::NotEvidence(_)));
    }

    #[test]
    fn deadlines_are_not_kept_by_a_logged_call() {
        let effect = attempt_effect(PromiseKind::Deadline, at(11, 0), JUDGING, true, true, at(11, 0));
        assert!(matches!(effect, AttemptEffect::NotEvidence(_)));
    }

    #[test]
    fn deadline_kept_on_day_14_of_15_is_on_time() {
        let due = Utc.with_ymd_and_hms(2026, 4, 1, 19, 0, 0).unwrap();
        let judging = Judging { early: Duration::zero(), grace: Duration::zero() };
        assert_eq!(judge_keep(due, judging, due - Duration::days(1)), Timeliness::OnTime);
        assert_eq!(judge_keep(due, judging, due + Duration::seconds(1)), Timeliness::Late);
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
}
