//! The customer brief: the shopkeeper's card as JSON, for the API and the pages.

use super::*;

/// Who someone is, in a few words.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentRef {
    /// Agent id.
    pub id: String,
    /// Name.
    pub name: String,
}

/// An open promise in the brief, with who made it.
#[derive(Debug, Serialize, ToSchema)]
pub struct BriefPromise {
    /// The promise.
    #[serde(flatten)]
    pub promise: PromiseOut,
    /// Who made it.
    pub made_by_name: String,
    /// Its reschedules: when, why and at whose request.
    #[schema(value_type = Vec<Object>)]
    pub reschedules: Vec<serde_json::Value>,
}

/// The shopkeeper's card as JSON: everything the prompt shows.
#[derive(Debug, Serialize, ToSchema)]
pub struct BriefOut {
    /// The customer.
    pub customer: CustomerOut,
    /// The customer's clock now, e.g. "11:05 in Europe/Madrid (UTC+01:00)".
    pub local_now: String,
    /// The shopkeeper.
    pub owner: Option<AgentRef>,
    /// Open and missed promises, earliest first.
    pub open_promises: Vec<BriefPromise>,
    /// The latest interactions on every channel, newest first.
    pub recent_interactions: Vec<InteractionOut>,
    /// Promise counts per status over the customer's history.
    #[schema(value_type = Object)]
    pub promise_history: serde_json::Value,
    /// A first sentence for the call, in the customer's language.
    pub suggested_opening: String,
}

/// Everything an agent needs before contacting the customer.
#[utoipa::path(get, path = "/api/v1/customers/{id}/brief", tag = "customers", params(("id" = String, Path)),
    responses((status = 200, body = BriefOut), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn brief(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let out = state.db.read(move |conn| brief_of(conn, &caller, &id, now)).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Everything an agent needs before contacting customer `id`: the query behind `GET /customers/{id}/brief` and
/// the customer page.
pub fn brief_of(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<BriefOut, AppError> {
    let customer = visible_customer(conn, caller, id)?;
    let zone = parse_zone(&customer.time_zone).map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
    let owner = match &customer.owner_agent_id {
        Some(o) => agents::find(conn, o)?.map(|a| AgentRef { id: a.id, name: a.name }),
        None => None,
    };
    // Three statements of fixed shape (kept prepared) for the whole list: the promises, who made them, and
    // their reschedules.
    let active = promises::active_of_customer(conn, &customer.id)?;
    let names: HashMap<String, String> = promises::active_makers_of_customer(conn, &customer.id)?.into_iter().collect();
    let mut reschedules: HashMap<String, Vec<serde_json::Value>> = HashMap::new();
    for e in promises::active_events_of_customer(conn, &customer.id, EventKind::Rescheduled.as_str())? {
        // Read through the ledger's type: a row that does not read is an error naming it, not an empty move.
        let event = LedgerEvent::read(&e.id.to_string(), &e.kind, &e.data)
            .map_err(|corrupt| AppError::Internal(corrupt.into()))?;
        let mut data = event.details();
        data["at"] = json!(instant(e.occurred_at));
        reschedules.entry(e.promise_id).or_default().push(data);
    }
    let mut open_promises = Vec::new();
    for p in active {
        let made_by_name = names.get(&p.id).cloned().unwrap_or_default();
        let reschedules = reschedules.remove(&p.id).unwrap_or_default();
        open_promises.push(BriefPromise { made_by_name, reschedules, promise: promise_out(p, Vec::new()) });
    }
    for item in &mut open_promises {
        item.promise.warnings = None;
    }
    let recent = interactions::of_customer(conn, &customer.id, None, 10)?;
    let history: serde_json::Map<String, serde_json::Value> =
        promises::status_counts_of_customer(conn, &customer.id)?.into_iter().map(|(s, n)| (s, json!(n))).collect();
    let agent_name = caller.name.clone();
    Ok(BriefOut {
        local_now: clock_sentence(now, zone),
        suggested_opening: opening_line(&customer.locale, &customer.name, &agent_name, !open_promises.is_empty()),
        owner,
        open_promises,
        recent_interactions: recent.into_iter().map(InteractionOut::from).collect(),
        promise_history: serde_json::Value::Object(history),
        customer: CustomerOut::from(customer),
    })
}
