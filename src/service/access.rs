//! Access: what a caller may see and which agents a request may name. One rule for every agent id a request
//! names (owner, stand-in, hand-over target, preview owner): an active agent of the team in question. Not
//! there, inactive and another team's get the same answer, so a request cannot probe other teams (DESIGN.md
//! section 12: "not yours" and "not there" are the same).

use crate::auth::Caller;
use crate::db::DbConn;
use crate::domain::vocab::Role;
use crate::error::AppError;
use crate::repo::agents::{self, Agent};
use crate::repo::customers::{self, Customer};
use crate::repo::promises::{self, Promise};

/// Loads a customer the caller may see (another team's is "not found").
pub fn visible_customer(conn: &mut DbConn, caller: &Caller, id: &str) -> Result<Customer, AppError> {
    let customer = customers::find(conn, id)?.ok_or_else(|| AppError::not_found("customer", id))?;
    caller.check_team(customer.team_id.as_deref(), "customer", id)?;
    Ok(customer)
}

/// Loads a promise the caller may see, with its customer.
pub fn visible_promise(conn: &mut DbConn, caller: &Caller, id: &str) -> Result<(Promise, Customer), AppError> {
    let promise = promises::find(conn, id)?.ok_or_else(|| AppError::not_found("promise", id))?;
    let customer = customers::find(conn, &promise.customer_id)?.ok_or_else(|| AppError::not_found("promise", id))?;
    caller.check_team(customer.team_id.as_deref(), "promise", id)?;
    Ok((promise, customer))
}

/// An agent a request names in `field`: active, and allowed to see `team`'s customers (a member of the team, or
/// an admin). Whoever the caller is, a promise's owner, a stand-in or a hand-over target from another team would
/// receive this team's customer cards (promise, contacts, facts, notes).
pub fn team_agent(conn: &mut DbConn, field: &'static str, id: &str, team: Option<&str>) -> Result<Agent, AppError> {
    agents::find(conn, id)?
        .filter(|a| a.active && (a.team_id.as_deref() == team || a.role == Role::Admin.as_str()))
        .ok_or_else(|| AppError::invalid(field, "unknown_agent", format!("`{id}` is not an active agent of this team")))
}
