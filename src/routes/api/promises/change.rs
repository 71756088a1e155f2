//! The four things that can happen to a promise (reschedule, keep, cancel, hand over): each body, its
//! conversion into the use case's input, and its handler.

use super::*;

/// Body of `POST /promises/{id}/reschedule`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleBody {
    /// New customer wall-clock time.
    #[schema(example = "2099-03-18T12:00")]
    pub due_local: Option<String>,
    /// IANA zone (default: the customer's).
    pub time_zone: Option<String>,
    /// compatible | earlier | later | reject.
    pub disambiguation: Option<String>,
    /// New deadline in days ("P15D"), from now.
    pub within: Option<String>,
    /// New deadline in business days, from now.
    pub within_business_days: Option<u32>,
    /// Why.
    #[schema(example = "the customer asked for Wednesday")]
    pub reason: String,
    /// customer | agent.
    #[schema(example = "customer")]
    pub initiated_by: String,
    /// Outside the contact window is allowed when the customer asked (default: true when initiated_by is customer).
    pub customer_requested: Option<bool>,
    /// The version read; 409 if it moved on.
    pub version: Option<i32>,
}

/// Body of `POST /promises/{id}/keep`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeepBody {
    /// What was done (required without interaction_id).
    #[schema(example = "Called; the router works again")]
    pub note: Option<String>,
    /// The interaction that is the evidence.
    pub interaction_id: Option<String>,
    /// The version read.
    pub version: Option<i32>,
}

/// Body of `POST /promises/{id}/cancel`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Why.
    #[schema(example = "the customer no longer needs it")]
    pub reason: String,
    /// customer (cancelled) | agent (counts as broken).
    #[schema(example = "customer")]
    pub initiated_by: String,
    /// The version read.
    pub version: Option<i32>,
}

/// Body of `POST /promises/{id}/handover`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoverBody {
    /// The new owner.
    pub to_agent_id: String,
    /// Context for the new owner.
    #[schema(example = "She prefers mornings")]
    pub note: String,
    /// The version read.
    pub version: Option<i32>,
}

/// Moves a promise's due time. A customer's request before due is a renegotiation; an agent's after due counts
/// as late. The old and new times stay in the ledger.
#[utoipa::path(post, path = "/api/v1/promises/{id}/reschedule", tag = "promises", request_body = RescheduleBody,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PromiseOut), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn reschedule(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<String>,
    body: Body<RescheduleBody>,
) -> Result<HttpResponse, AppError> {
    let mut input = RescheduleInput::try_from(&body.value)?;
    input.version = input.version.or(if_match(&req)?);
    let ctx = state.ctx();
    let who = caller.clone();
    let id = id.into_inner();
    idempotent_write(&state, &caller, &req, &body.raw, StatusCode::OK, move |conn| {
        let (changed, warnings) = service::promises::reschedule(conn, &ctx, &who, &id, input)?;
        to_json(promise_out(changed, warnings))
    })
    .await
}

/// A reschedule body as the use case's input.
impl TryFrom<&RescheduleBody> for RescheduleInput {
    type Error = AppError;

    fn try_from(b: &RescheduleBody) -> Result<Self, AppError> {
        let mut checks = Checks::default();
        let reason = checks.text("reason", &b.reason, 2000);
        let initiated_by = checks.vocab::<Initiator>("initiated_by", &b.initiated_by);
        checks.finish()?;
        let initiated_by = initiated_by.unwrap_or(Initiator::Agent);
        let due = DueInput {
            due_local: b.due_local.clone(),
            time_zone: b.time_zone.clone(),
            disambiguation: b.disambiguation.clone(),
            within: b.within.clone(),
            within_business_days: b.within_business_days,
            customer_requested: b.customer_requested.unwrap_or(initiated_by == Initiator::Customer),
        };
        Ok(RescheduleInput { due, reason, initiated_by, version: b.version })
    }
}

/// Marks a promise kept, with a note or an interaction as evidence; judged on time up to due + grace.
#[utoipa::path(post, path = "/api/v1/promises/{id}/keep", tag = "promises", request_body = KeepBody,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PromiseOut), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn keep(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<String>,
    body: Body<KeepBody>,
) -> Result<HttpResponse, AppError> {
    let mut input = KeepInput::try_from(&body.value)?;
    input.version = input.version.or(if_match(&req)?);
    let ctx = state.ctx();
    let who = caller.clone();
    let id = id.into_inner();
    idempotent_write(&state, &caller, &req, &body.raw, StatusCode::OK, move |conn| {
        to_json(promise_out(service::promises::keep(conn, &ctx, &who, &id, input)?, Vec::new()))
    })
    .await
}

/// Withdraws a promise: with the customer's agreement it is cancelled, without it the promise is broken.
#[utoipa::path(post, path = "/api/v1/promises/{id}/cancel", tag = "promises", request_body = CancelBody,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PromiseOut), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<String>,
    body: Body<CancelBody>,
) -> Result<HttpResponse, AppError> {
    let mut input = CancelInput::try_from(&body.value)?;
    input.version = input.version.or(if_match(&req)?);
    let ctx = state.ctx();
    let who = caller.clone();
    let id = id.into_inner();
    idempotent_write(&state, &caller, &req, &body.raw, StatusCode::OK, move |conn| {
        to_json(promise_out(service::promises::cancel(conn, &ctx, &who, &id, input)?, Vec::new()))
    })
    .await
}

/// Hands a promise to another agent of the customer's team, with a note that travels with it.
#[utoipa::path(post, path = "/api/v1/promises/{id}/handover", tag = "promises", request_body = HandoverBody,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PromiseOut), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn handover(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<String>,
    body: Body<HandoverBody>,
) -> Result<HttpResponse, AppError> {
    let mut input = HandoverInput::try_from(&body.value)?;
    input.version = input.version.or(if_match(&req)?);
    let ctx = state.ctx();
    let who = caller.clone();
    let id = id.into_inner();
    idempotent_write(&state, &caller, &req, &body.raw, StatusCode::OK, move |conn| {
        to_json(promise_out(service::promises::hand_over(conn, &ctx, &who, &id, input)?, Vec::new()))
    })
    .await
}

/// A keep body as the use case's input: a note, an interaction, or both.
impl TryFrom<&KeepBody> for KeepInput {
    type Error = AppError;

    fn try_from(b: &KeepBody) -> Result<Self, AppError> {
        let mut checks = Checks::default();
        let note = checks.optional_text("note", b.note.as_deref(), 5000);
        if note.is_none() && b.interaction_id.is_none() {
            checks.add("note", "evidence_required", "a keep needs evidence: a note, an interaction_id, or both");
        }
        checks.finish()?;
        Ok(KeepInput { note, interaction_id: b.interaction_id.clone(), version: b.version })
    }
}

/// A cancel body as the use case's input.
impl TryFrom<&CancelBody> for CancelInput {
    type Error = AppError;

    fn try_from(b: &CancelBody) -> Result<Self, AppError> {
        let mut checks = Checks::default();
        let reason = checks.text("reason", &b.reason, 2000);
        let initiated_by = checks.vocab::<Initiator>("initiated_by", &b.initiated_by);
        checks.finish()?;
        Ok(CancelInput { reason, initiated_by: initiated_by.unwrap_or(Initiator::Agent), version: b.version })
    }
}

/// A hand-over body as the use case's input.
impl TryFrom<&HandoverBody> for HandoverInput {
    type Error = AppError;

    fn try_from(b: &HandoverBody) -> Result<Self, AppError> {
        let mut checks = Checks::default();
        let note = checks.text("note", &b.note, 5000);
        checks.finish()?;
        Ok(HandoverInput { to_agent_id: b.to_agent_id.clone(), note, version: b.version })
    }
}
