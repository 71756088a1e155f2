//! Logging a contact with a customer, and what it keeps by itself (DESIGN.md section 5): the promise it names,
//! or, naming none, every open callback and current update occurrence of that customer whose keep window holds
//! it and which the agent owns or stands in for.

use chrono::{DateTime, Utc};

use super::access::visible_customer;
use super::apply::{self, Outbound};
use super::planning::{current_of, keeper_of, next_due};
use super::Ctx;
use crate::auth::Caller;
use crate::clock::{from_ms, new_id};
use crate::db::{DbConn, Tx};
use crate::domain::due::Warning;
use crate::domain::promise::judging::{self, Contact};
use crate::domain::promise::{lifecycle, Current, Keeper, Refusal};
use crate::domain::vocab::{Channel, Direction, Outcome};
use crate::error::AppError;
use crate::repo::customers::Customer;
use crate::repo::interactions::{self, Interaction};
use crate::repo::promises::{self, Promise};
use crate::service::events;

/// A contact to log, parsed.
#[derive(Clone, Debug)]
pub struct NewInteraction {
    /// Channel.
    pub channel: Channel,
    /// Direction.
    pub direction: Direction,
    /// Outcome.
    pub outcome: Outcome,
    /// What happened.
    pub summary: String,
    /// When (already checked not to be in the future).
    pub occurred_at: DateTime<Utc>,
    /// The promise it fulfils, when the agent names one.
    pub promise_id: Option<String>,
}

/// What logging a contact did.
#[derive(Clone, Debug)]
pub struct Logged {
    /// The interaction.
    pub interaction: Interaction,
    /// The named promise after the contact.
    pub promise: Option<Promise>,
    /// The promises the contact kept (the named one, or those found in its window), as they now are.
    pub kept: Vec<Promise>,
    /// Remarks, e.g. `not_evidence` when the named promise stays open.
    pub warnings: Vec<Warning>,
}

/// Logs a contact for the caller and applies what it keeps.
pub fn log(
    conn: &mut Tx<'_>,
    ctx: &Ctx,
    caller: &Caller,
    customer_id: &str,
    input: NewInteraction,
) -> Result<Logged, AppError> {
    let customer = visible_customer(conn, caller, customer_id)?;
    let now_ms = ctx.now_ms();
    let occurred_ms = input.occurred_at.timestamp_millis();
    let named = match &input.promise_id {
        Some(pid) => Some(promises::find(conn, pid)?.filter(|p| p.customer_id == customer.id).ok_or_else(|| {
            AppError::invalid(
                "promise_id",
                "unknown_promise",
                format!("promise `{pid}` does not exist for this customer"),
            )
        })?),
        None => None,
    };
    let (owner_agent_id, team_id, local_date) = interactions::stamp(&customer, occurred_ms);
    let interaction = Interaction {
        id: new_id("int"),
        customer_id: customer.id.clone(),
        agent_id: Some(caller.agent_id.clone()),
        channel: input.channel.as_str().into(),
        direction: input.direction.as_str().into(),
        outcome: input.outcome.as_str().into(),
        summary: input.summary,
        occurred_at: occurred_ms,
        promise_id: input.promise_id.clone(),
        created_at: now_ms,
        updated_at: now_ms,
        owner_agent_id,
        team_id,
        local_date,
    };
    interactions::insert(conn, &interaction)?;
    let mut logged = Logged { interaction, promise: None, kept: Vec::new(), warnings: Vec::new() };
    let outbound = input.direction == Direction::Outbound;
    match named {
        Some(promise) => {
            let current = current_of(&promise, &ctx.tolerances)?;
            if !current.status.is_active() {
                logged.warnings.push(Warning {
                    code: "promise_closed".into(),
                    message: format!("the promise is already {}; the contact is on the timeline", current.status),
                });
                logged.promise = Some(promise);
            } else {
                let contact = contact_of(conn, &promise, caller, outbound, input.occurred_at)?;
                match keep_one(conn, ctx, caller, (&promise, &current), &customer, &logged.interaction, &contact)? {
                    Ok(kept) => {
                        logged.kept.push(kept.clone());
                        logged.promise = Some(kept);
                    }
                    Err(reason) => {
                        logged.warnings.push(Warning {
                            code: "not_evidence".into(),
                            message: format!("the promise stays {}: {reason}", current.status),
                        });
                        logged.promise = Some(promise);
                    }
                }
            }
        }
        None if outbound => {
            // The agent called and did not say which promise it was for: the call keeps what it is evidence for.
            for promise in promises::active_of_customer(conn, &customer.id)? {
                let current = current_of(&promise, &ctx.tolerances)?;
                let contact = contact_of(conn, &promise, caller, true, input.occurred_at)?;
                if contact.keeper == Keeper::Other
                    || judging::unnamed_attempt_keeps(&current.judged, &contact).is_none()
                {
                    continue;
                }
                let found = (&promise, &current);
                if let Ok(kept) = keep_one(conn, ctx, caller, found, &customer, &logged.interaction, &contact)? {
                    logged.kept.push(kept);
                }
            }
        }
        None => {}
    }
    let kept_ids: Vec<&str> = logged.kept.iter().map(|p| p.id.as_str()).collect();
    events::emit(conn, "interaction.created", ctx.now, || {
        Ok(events::interaction_payload(&logged.interaction, &kept_ids))
    })?;
    Ok(logged)
}

fn contact_of(
    conn: &mut DbConn,
    promise: &Promise,
    caller: &Caller,
    outbound: bool,
    occurred_at: DateTime<Utc>,
) -> Result<Contact, AppError> {
    let keeper = keeper_of(conn, promise, Some(&caller.agent_id), occurred_at.timestamp_millis())?;
    Ok(Contact { same_customer: true, outbound, keeper, occurred_at })
}

/// Applies a contact to one promise (its row, and the row as the lifecycle reads it): `Ok(Err(reason))` when it
/// is not evidence for it.
fn keep_one(
    conn: &mut Tx<'_>,
    ctx: &Ctx,
    caller: &Caller,
    (promise, current): (&Promise, &Current),
    customer: &Customer,
    interaction: &Interaction,
    contact: &Contact,
) -> Result<Result<Promise, String>, AppError> {
    let next = next_due(promise, from_ms(promise.due_at.max(interaction.occurred_at)))?;
    match lifecycle::keep_by_contact(current, &interaction.id, contact, next) {
        Ok(change) => {
            Ok(Ok(apply::apply(conn, ctx, Outbound::Read, promise, customer, change, Some(&caller.agent_id))?))
        }
        Err(Refusal::Evidence(reason)) => Ok(Err(reason.to_string())),
        Err(other) => Err(super::promises::refused(other)),
    }
}
