//! Acknowledging a prompt: the prompted agent has seen it and is on it (which stops its escalation).

use super::apply;
use super::Ctx;
use crate::auth::Caller;
use crate::clock::from_ms;
use crate::db::Tx;
use crate::domain::promise::lifecycle;
use crate::error::AppError;
use crate::repo::customers;
use crate::repo::promises;
use crate::repo::prompts::{self, Prompt};

/// Acknowledges the caller's prompt. Another agent's prompt is "not found", like one that does not exist: an
/// agent has no business knowing which prompts others got. Admins may acknowledge any.
pub fn acknowledge(conn: &mut Tx<'_>, ctx: &Ctx, caller: &Caller, id: &str) -> Result<Prompt, AppError> {
    let prompt = prompts::find(conn, id)?
        .filter(|p| p.agent_id == caller.agent_id || caller.is_admin())
        .ok_or_else(|| AppError::not_found("prompt", id))?;
    if !prompts::acknowledge(conn, &prompt.id, ctx.now_ms())? {
        return Err(AppError::Conflict {
            detail: "the prompt is already acknowledged".into(),
            extra: Some(serde_json::json!({ "current_status": "acknowledged" })),
        });
    }
    if let Some(promise) = promises::find(conn, &prompt.promise_id)? {
        let customer = customers::find(conn, &promise.customer_id)?
            .ok_or_else(|| AppError::not_found("customer", &promise.customer_id))?;
        let event = lifecycle::acknowledge(&prompt.id, &prompt.purpose, from_ms(prompt.occurrence_at));
        apply::record(conn, ctx, &promise, &customer, event, Some(&caller.agent_id))?;
    }
    prompts::find(conn, &prompt.id)?.ok_or_else(|| AppError::not_found("prompt", &prompt.id))
}
