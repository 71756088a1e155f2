//! The customer pages: search, the customer with their story, and the forms to log a contact and make a promise.

use super::*;

/// Query of the customer search.
#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
}

/// `GET /customers`.
pub async fn customers(
    state: web::Data<AppState>,
    ws: web::Data<WebState>,
    user: WebUser,
    query: web::Query<SearchQuery>,
) -> HttpResponse {
    let q = query.into_inner().q.filter(|q| !q.trim().is_empty());
    let (caller, search) = (user.caller.clone(), q.clone());
    let list = state
        .db
        .read(move |conn| {
            let query = api_customers::CustomerListQuery { q: search, limit: Some(100), cursor: None };
            context_of(api_customers::list_of(conn, &caller, query)?)
        })
        .await;
    let page = match list {
        Ok(page) => page,
        Err(e) => return error_page(&ws, &user, &e, "/customers"),
    };
    let mut context = user.context("customers", &ws.pages.text(&user.agent.locale, "customers_title"));
    context["q"] = json!(q);
    context["customers"] = page["items"].clone();
    render(&ws, &user, "customers", StatusCode::OK, context)
}

/// Query of pages that show a saved-confirmation.
#[derive(Debug, Deserialize)]
pub struct SavedQuery {
    pub saved: Option<String>,
}

/// `GET /customers/{id}`: the shopkeeper's card, open promises with their actions, the forms, the timeline.
pub async fn customer(
    state: web::Data<AppState>,
    ws: web::Data<WebState>,
    user: WebUser,
    id: web::Path<String>,
    query: web::Query<SavedQuery>,
) -> HttpResponse {
    let flash = query.saved.is_some().then(|| ws.pages.text(&user.agent.locale, "saved"));
    customer_page(&state, &ws, &user, &id, Vec::new(), flash, StatusCode::OK).await
}

pub(super) async fn team_agents(state: &web::Data<AppState>, user: &WebUser) -> Result<Value, AppError> {
    let (caller, team) = (user.caller.clone(), user.agent.team_id.clone());
    state.db.read(move |conn| context_of(api_agents::list_of(conn, &caller, team)?)).await
}

async fn customer_page(
    state: &web::Data<AppState>,
    ws: &WebState,
    user: &WebUser,
    id: &str,
    errors: Vec<FieldError>,
    flash: Option<String>,
    status: StatusCode,
) -> HttpResponse {
    let zone = agent_zone(user);
    let result = async {
        let (caller, cid, now) = (user.caller.clone(), id.to_string(), state.clock.now());
        let (brief, timeline, all) = state
            .db
            .read(move |conn| {
                let brief = api_customers::brief_of(conn, &caller, &cid, now)?;
                let timeline = api_customers::timeline_of(
                    conn,
                    &caller,
                    &cid,
                    api_customers::TimelineQuery { limit: Some(100), cursor: None },
                )?;
                let all = api_promises::list_of(
                    conn,
                    &caller,
                    api_promises::PromiseListQuery {
                        owner: None,
                        customer: Some(cid.clone()),
                        kind: None,
                        status: None,
                        due_from: None,
                        due_to: None,
                        limit: Some(500),
                        cursor: None,
                    },
                )?;
                Ok((context_of(brief)?, context_of(timeline)?, context_of(all)?))
            })
            .await?;
        let agents = team_agents(state, user).await?;
        Ok::<_, AppError>((brief, timeline, all, agents))
    }
    .await;
    let (mut brief, timeline, all, agents) = match result {
        Ok(parts) => parts,
        Err(e) => return error_page(ws, user, &e, "/customers"),
    };
    let titles: HashMap<String, String> = all["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|p| Some((p["id"].as_str()?.to_string(), p["title"].as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let open: Vec<Value> = brief["open_promises"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|b| {
                    // The brief flattens the promise into the entry, beside who made it.
                    let mut p = b.clone();
                    decorate_promise(&mut p);
                    json!({ "promise": p })
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(list) = brief["recent_interactions"].as_array_mut() {
        for i in list {
            let text = local_text(i["occurred_at"].as_str().unwrap_or_default(), zone);
            i["occurred_at_text"] = json!(text);
        }
    }
    let entries: Vec<Value> = timeline["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|e| {
                    let mut e = e.clone();
                    e["at_text"] = json!(local_text(e["at"].as_str().unwrap_or_default(), zone));
                    if let Some(pid) = e["event"]["promise_id"].as_str() {
                        let title = titles.get(pid).cloned().unwrap_or_else(|| pid.to_string());
                        e["event"]["title"] = json!(title);
                    }
                    e
                })
                .collect()
        })
        .unwrap_or_default();
    let name = brief["customer"]["name"].as_str().unwrap_or_default().to_string();
    let mut context = user.context("customers", &name);
    context["brief"] = brief;
    context["open_promises"] = json!(open);
    context["timeline"] = json!(entries);
    context["agents"] = agents;
    context["back"] = json!(format!("/customers/{id}"));
    context["channels"] = json!(Channel::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>());
    context["outcomes"] = json!(Outcome::ALL.iter().map(|o| o.as_str()).collect::<Vec<_>>());
    if !errors.is_empty() {
        context["errors"] = json!(errors);
    }
    if let Some(text) = flash {
        context["flash"] = json!({ "kind": "ok", "text": text });
    }
    render(ws, user, "customer", status, context)
}

/// A wall-clock time the agent typed, in the agent's zone, as an RFC 3339 instant.
fn agent_instant(user: &WebUser, field_name: &str, local: &str) -> Result<String, AppError> {
    let parsed = NaiveDateTime::parse_from_str(&with_seconds(local), "%Y-%m-%dT%H:%M:%S").map_err(|_| {
        AppError::invalid(field_name, "invalid_local_time", format!("`{local}` is not a date and time"))
    })?;
    let resolved = resolve_local(parsed, agent_zone(user), Disambiguation::Compatible)
        .map_err(|e| AppError::invalid(field_name, e.code(), e.to_string()))?;
    Ok(api::instant_of(resolved.instant))
}

/// `POST /customers/{id}/interactions`: logs a contact (and keeps the promise it names when it is evidence).
pub async fn log_contact(
    state: web::Data<AppState>,
    ws: web::Data<WebState>,
    user: WebUser,
    id: web::Path<String>,
    form: Form,
) -> HttpResponse {
    let id = id.into_inner();
    let result = async {
        user.check_csrf(field(&form, "csrf"))?;
        let occurred_at = field(&form, "occurred_at").map(|t| agent_instant(&user, "occurred_at", t)).transpose()?;
        let body = body_of::<api_customers::NewInteractionBody>(json!({
            "channel": field(&form, "channel").unwrap_or_default(),
            "direction": field(&form, "direction").unwrap_or_default(),
            "outcome": field(&form, "outcome").unwrap_or_default(),
            "summary": field(&form, "summary").unwrap_or_default(),
            "occurred_at": occurred_at,
            "promise_id": field(&form, "promise_id"),
        }))?;
        let ctx = state.ctx();
        let input = api_customers::interaction_input(&body.value, ctx.now)?;
        let (caller, customer_id) = (user.caller.clone(), id.clone());
        state.db.write(move |conn| service::interactions::log(conn, &ctx, &caller, &customer_id, input)).await
    }
    .await;
    match result {
        Ok(_) => see_other(&format!("/customers/{id}?saved=1")),
        Err(e) => customer_page(&state, &ws, &user, &id, field_errors(&e), None, e.status_code()).await,
    }
}

/// `POST /customers/{id}/promises`: makes a promise.
pub async fn make_promise(
    state: web::Data<AppState>,
    ws: web::Data<WebState>,
    user: WebUser,
    id: web::Path<String>,
    form: Form,
) -> HttpResponse {
    let id = id.into_inner();
    let result = async {
        user.check_csrf(field(&form, "csrf"))?;
        let mut body = json!({
            "customer_id": id,
            "kind": field(&form, "kind").unwrap_or("callback"),
            "title": field(&form, "title").unwrap_or_default(),
            "details": field(&form, "details"),
            "due_local": field(&form, "due_local").map(with_seconds),
            "customer_requested": field(&form, "customer_requested") == Some("true"),
        });
        if let Some(cron) = field(&form, "recurrence") {
            body["recurrence"] = json!({ "cron": cron });
        }
        let body = body_of::<api_promises::NewPromiseBody>(body)?;
        let input = service::promises::NewPromise::try_from(&body.value)?;
        let (ctx, caller) = (state.ctx(), user.caller.clone());
        state
            .db
            .write(move |conn| {
                let prepared = service::promises::prepare(conn, &ctx, &caller, input)?;
                service::promises::make(conn, &ctx, &caller, prepared)
            })
            .await
    }
    .await;
    match result {
        Ok(created) => see_other(&format!("/customers/{id}?saved=1#promise-{}", created.id)),
        Err(e) => customer_page(&state, &ws, &user, &id, field_errors(&e), None, e.status_code()).await,
    }
}
