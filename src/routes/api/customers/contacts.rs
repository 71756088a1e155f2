//! Logging a contact with a customer, and what it keeps.

use super::*;

/// Body of `POST /customers/{id}/interactions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInteractionBody {
    /// phone, email, sms, whatsapp, social, chat, visit, letter.
    #[schema(example = "phone")]
    pub channel: String,
    /// inbound | outbound.
    #[schema(example = "outbound")]
    pub direction: String,
    /// reached, no_answer, voicemail, left_message, resolved, other.
    #[schema(example = "reached")]
    pub outcome: String,
    /// What happened.
    #[schema(example = "Called back; the router works again")]
    pub summary: String,
    /// RFC 3339 (default now; not in the future).
    pub occurred_at: Option<String>,
    /// The promise this contact fulfils.
    pub promise_id: Option<String>,
}

/// The logged interaction and what it did to the promise it names.
#[derive(Debug, Serialize, ToSchema)]
pub struct InteractionCreated {
    /// The interaction.
    pub interaction: InteractionOut,
    /// The promise after the interaction, when one was named.
    pub promise: Option<PromiseOut>,
    /// The promises this contact kept: the named one, or, when none was named, every open callback and current
    /// update occurrence of the customer whose keep window holds it and which the caller owns or stands in for.
    pub kept: Vec<PromiseOut>,
    /// Remarks, e.g. `not_evidence` when the contact does not keep the promise.
    pub warnings: Vec<Warning>,
}

/// An interaction body as the use case's input; `occurred_at` may not be more than 5 minutes after `now`.
pub fn interaction_input(
    b: &NewInteractionBody,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<NewInteraction, AppError> {
    let mut checks = Checks::default();
    let channel = checks.vocab::<Channel>("channel", &b.channel);
    let direction = checks.vocab::<Direction>("direction", &b.direction);
    let outcome = checks.vocab::<Outcome>("outcome", &b.outcome);
    let summary = checks.text("summary", &b.summary, 20_000);
    let occurred_at = match &b.occurred_at {
        Some(text) => match parse_instant("occurred_at", text) {
            Ok(at) if at > now + Duration::minutes(5) => {
                checks.add("occurred_at", "in_the_future", format!("{text} is in the future"));
                now
            }
            Ok(at) => at,
            Err(_) => {
                checks.add("occurred_at", "invalid_instant", format!("`{text}` is not an RFC 3339 instant"));
                now
            }
        },
        None => now,
    };
    checks.finish()?;
    let (Some(channel), Some(direction), Some(outcome)) = (channel, direction, outcome) else {
        return Err(AppError::Internal(anyhow::anyhow!("checked vocabularies missing")));
    };
    Ok(NewInteraction { channel, direction, outcome, summary, occurred_at, promise_id: b.promise_id.clone() })
}

/// Logs a contact with the customer. An outbound attempt by the owner (or their stand-in) on a callback, from 10
/// minutes before due, keeps it: on time within the grace, late after; for an update promise it keeps the
/// current occurrence and schedules the next. Without `promise_id`, an outbound attempt keeps every open
/// callback (and current update occurrence) whose keep window holds it; `kept` lists them.
#[utoipa::path(post, path = "/api/v1/customers/{id}/interactions", tag = "customers", request_body = NewInteractionBody,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = InteractionCreated), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_interaction(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<String>,
    body: Body<NewInteractionBody>,
) -> Result<HttpResponse, AppError> {
    let input = interaction_input(&body.value, state.clock.now())?;
    let ctx = state.ctx();
    let who = caller.clone();
    let customer_id = id.into_inner();
    idempotent_write(&state, &caller, &req, &body.raw, StatusCode::CREATED, move |conn| {
        let logged = service::interactions::log(conn, &ctx, &who, &customer_id, input)?;
        to_json(InteractionCreated {
            interaction: InteractionOut::from(logged.interaction),
            promise: logged.promise.map(|p| PromiseOut { warnings: None, ..promise_out(p, Vec::new()) }),
            kept: logged
                .kept
                .into_iter()
                .map(|p| PromiseOut { warnings: None, ..promise_out(p, Vec::new()) })
                .collect(),
            warnings: logged.warnings,
        })
    })
    .await
}
