//! Making a promise: its body, the use case's input built from it in one conversion, the handler, and the
//! preview of a due time before saving.

use super::*;

/// A recurrence: cron in the customer's zone, on wall-clock time.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecurrenceBody {
    /// 5-field cron (6/7 fields accepted), e.g. "0 10 * * mon-fri".
    #[schema(example = "0 10 * * mon-fri")]
    pub cron: String,
    /// RFC 3339 instant after which it stops.
    pub until: Option<String>,
}

/// Body of `POST /promises`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPromiseBody {
    /// The customer.
    pub customer_id: String,
    /// callback | deadline | update.
    #[schema(example = "callback")]
    pub kind: String,
    /// What the customer was told, verbatim.
    #[schema(example = "Te llamo el martes a las 10")]
    pub title: String,
    /// Internal details.
    pub details: Option<String>,
    /// Customer wall-clock time, "2026-03-29T02:30" (seconds optional).
    #[schema(example = "2099-03-17T10:00")]
    pub due_local: Option<String>,
    /// IANA zone of due_local (default: the customer's).
    #[schema(example = "Europe/Madrid")]
    pub time_zone: Option<String>,
    /// compatible (default) | earlier | later | reject.
    #[schema(example = "compatible")]
    pub disambiguation: Option<String>,
    /// Deadline in days, ISO 8601 ("P15D").
    pub within: Option<String>,
    /// Deadline in business days.
    pub within_business_days: Option<u32>,
    /// For `update` promises.
    pub recurrence: Option<RecurrenceBody>,
    /// Tolerance after due, ISO 8601 ("PT15M").
    #[schema(example = "PT15M")]
    pub grace: Option<String>,
    /// Lead reminders, ISO 8601 (["PT10M", "P1D"]).
    #[schema(example = json!(["PT10M", "P1D"]))]
    pub lead: Option<Vec<String>>,
    /// The customer asked for this exact time (allows times outside the contact window).
    pub customer_requested: Option<bool>,
    /// Owner (default: the caller; another agent needs the manager role).
    pub owner_agent_id: Option<String>,
    /// The interaction in which the promise was made.
    pub made_in_interaction_id: Option<String>,
}

/// Makes a promise: resolves its due time in the customer's clock, checks the contact window, writes the promise
/// and its `created` event, and sets the customer's shopkeeper when they have none.
#[utoipa::path(post, path = "/api/v1/promises", tag = "promises", request_body = NewPromiseBody,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = PromiseOut), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem, description = "bad zone, nonexistent time with reject, outside the contact window (with nearest_slots), in the past...")),
    security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: Body<NewPromiseBody>,
) -> Result<HttpResponse, AppError> {
    let input = NewPromise::try_from(&body.value)?;
    if let Some(replay) = idempotent_replay(&state, &caller, &req, &body.raw).await? {
        return Ok(replay);
    }
    let ctx = state.ctx();
    let who = caller.clone();
    // Everything that only reads (the customer, the owner, their calendars) and the planning happen on a read
    // connection, beside the single writer; the write then only inserts. A customer or owner changed in between
    // is the same as this request arriving a moment earlier, and the shopkeeper is set only if still unset.
    let read_ctx = ctx.clone();
    let (prepared, answer) = state
        .db
        .read(move |conn| {
            let prepared = service::promises::prepare(conn, &read_ctx, &who, input)?;
            let answer = to_json(promise_out(prepared.promise.clone(), prepared.warnings.clone()))?;
            Ok((prepared, answer))
        })
        .await?;
    let who = caller.clone();
    idempotent_write(&state, &caller, &req, &body.raw, StatusCode::CREATED, move |conn| {
        service::promises::make(conn, &ctx, &who, prepared)?;
        Ok(answer)
    })
    .await
}

/// A `POST /promises` body as the use case's input, every wrong field named at once.
impl TryFrom<&NewPromiseBody> for NewPromise {
    type Error = AppError;

    fn try_from(b: &NewPromiseBody) -> Result<Self, AppError> {
        let mut checks = Checks::default();
        let kind = checks.vocab::<PromiseKind>("kind", &b.kind);
        let title = checks.text("title", &b.title, 500);
        let details = checks.optional_text("details", b.details.as_deref(), 10_000).unwrap_or_default();
        let grace = match &b.grace {
            Some(text) => match parse_duration(text) {
                Ok(d) => Some(d),
                Err(e) => {
                    checks.add("grace", e.code(), e.to_string());
                    None
                }
            },
            None => None,
        };
        let lead = b.lead.as_ref().map(|l| durations(&mut checks, "lead", l));
        if b.lead.as_ref().is_some_and(|l| l.len() > 10) {
            checks.add("lead", "too_many", "at most 10 lead reminders");
        }
        let mut recurrence = None;
        let mut until = None;
        if let Some(r) = &b.recurrence {
            match Recurrence::parse(&r.cron) {
                Ok(parsed) => recurrence = Some(parsed),
                Err(e) => checks.add("recurrence.cron", e.code(), e.to_string()),
            }
            if let Some(u) = &r.until {
                match parse_instant("recurrence.until", u) {
                    Ok(at) => until = Some(at),
                    Err(_) => {
                        checks.add("recurrence.until", "invalid_instant", format!("`{u}` is not an RFC 3339 instant"))
                    }
                }
            }
        }
        match (kind, recurrence.is_some()) {
            (Some(PromiseKind::Update), false) => {
                checks.add("recurrence", "required", "an update promise needs recurrence.cron (how often to update)")
            }
            (Some(k), true) if k != PromiseKind::Update => {
                checks.add("recurrence", "not_allowed", format!("a {k} promise cannot recur; use kind update"))
            }
            _ => {}
        }
        checks.finish()?;
        Ok(NewPromise {
            customer_id: b.customer_id.clone(),
            kind: kind.unwrap_or(PromiseKind::Callback),
            title,
            details,
            due: DueInput {
                due_local: b.due_local.clone(),
                time_zone: b.time_zone.clone(),
                disambiguation: b.disambiguation.clone(),
                within: b.within.clone(),
                within_business_days: b.within_business_days,
                customer_requested: b.customer_requested.unwrap_or(false),
            },
            recurrence,
            until,
            grace,
            lead,
            owner_agent_id: b.owner_agent_id.clone(),
            made_in_interaction_id: b.made_in_interaction_id.clone(),
        })
    }
}

/// Body of `POST /promises/preview`: the due-time fields of a new promise.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewBody {
    /// The customer.
    pub customer_id: String,
    /// callback, deadline or update (default callback).
    #[schema(example = "callback")]
    pub kind: Option<String>,
    /// Customer wall-clock due time.
    #[schema(example = "2099-03-17T10:00")]
    pub due_local: Option<String>,
    /// IANA zone (default: the customer's).
    #[schema(example = "Europe/Madrid")]
    pub time_zone: Option<String>,
    /// compatible | earlier | later | reject.
    pub disambiguation: Option<String>,
    /// `P15D`: this many days from now.
    pub within: Option<String>,
    /// This many business days from now.
    pub within_business_days: Option<u32>,
    /// The customer asked for this time.
    pub customer_requested: Option<bool>,
    /// The owner (default: the caller).
    pub owner_agent_id: Option<String>,
}

/// What a due time would resolve to, before anything is saved.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewOut {
    /// The UTC instant.
    pub due_at: String,
    /// The customer's wall-clock time after any DST adjustment.
    pub due_local: String,
    /// The customer's zone.
    pub time_zone: String,
    /// `2026-03-29 03:30 Europe/Madrid`.
    pub customer_local: String,
    /// The same instant in the owner's zone.
    pub owner_local: String,
    /// What the agent should know before saving (DST adjustment, owner off shift or absent...).
    pub warnings: Vec<Warning>,
}

/// Resolves a due time as `POST /promises` would and answers the result and its warnings without saving
/// anything; refusals are the same 422 answers. The web form calls it while the agent types.
#[utoipa::path(post, path = "/api/v1/promises/preview", tag = "promises", request_body = PreviewBody,
    responses((status = 200, body = PreviewOut), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn preview(
    state: web::Data<AppState>,
    caller: Caller,
    body: Body<PreviewBody>,
) -> Result<HttpResponse, AppError> {
    let b = body.value;
    let mut checks = Checks::default();
    let kind = match &b.kind {
        Some(k) => checks.vocab::<PromiseKind>("kind", k),
        None => Some(PromiseKind::Callback),
    };
    checks.finish()?;
    let kind = kind.unwrap_or(PromiseKind::Callback);
    let input = DueInput {
        due_local: b.due_local,
        time_zone: b.time_zone,
        disambiguation: b.disambiguation,
        within: b.within,
        within_business_days: b.within_business_days,
        customer_requested: b.customer_requested.unwrap_or(false),
    };
    let owner_id = b.owner_agent_id.unwrap_or_else(|| caller.agent_id.clone());
    let customer_id = b.customer_id;
    let now = state.clock.now();
    let out = state
        .db
        .read(move |conn| {
            let customer = visible_customer(conn, &caller, &customer_id)?;
            let owner = team_agent(conn, "owner_agent_id", &owner_id, customer.team_id.as_deref())?;
            let plan = plan_for(conn, &input, kind, &customer, &owner, now)?;
            let owner_zone = parse_zone(&owner.time_zone).map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
            Ok(PreviewOut {
                due_at: instant_of(plan.due_at),
                due_local: plan.due_local.format("%Y-%m-%dT%H:%M:%S").to_string(),
                time_zone: plan.zone.name().into(),
                customer_local: describe_local(plan.due_at, plan.zone),
                owner_local: describe_local(plan.due_at, owner_zone),
                warnings: plan.warnings,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}
