//! The promise lifecycle (DESIGN.md section 5): which actions each status allows ([`check_action`]), the on-time
//! judgement ([`judging`]), the typed ledger events ([`event`]) and every transition as a pure function of the
//! promise, the input, the rules and now, returning a typed change or a typed refusal ([`lifecycle`]).

pub mod event;
pub mod judging;
pub mod lifecycle;

pub use event::LedgerEvent;
pub use judging::{Judged, Judging, Keeper, NotEvidence, Timeliness};
pub use lifecycle::{Change, Current, NewDue, Refusal, Timers};

use crate::domain::vocab::PromiseStatus;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
