//! The promise page with its ledger, and the forms that change a promise.

use super::*;

/// `GET /promises/{id}`: the promise and its whole ledger.
pub async fn promise(
    state: web::Data<AppState>,
    ws: web::Data<WebState>,
    user: WebUser,
    id: web::Path<String>,
    query: web::Query<SavedQuery>,
) -> HttpResponse {
    let flash = query.saved.is_some().then(|| ws.pages.text(&user.agent.locale, "saved"));
    promise_page(&state, &ws, &user, &id, Vec::new(), flash, StatusCode::OK).await
}

async fn promise_page(
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
        let (caller, pid) = (user.caller.clone(), id.to_string());
        let (promise, customer) = state
            .db
            .read(move |conn| {
                let promise = api_promises::show_of(conn, &caller, &pid)?;
                let customer = service::access::visible_customer(conn, &caller, &promise.customer_id)?;
                Ok((context_of(promise)?, context_of(api_customers::CustomerOut::from(customer))?))
            })
            .await?;
        let agents = team_agents(state, user).await?;
        Ok::<_, AppError>((promise, customer, agents))
    }
    .await;
    let (mut promise, customer, agents) = match result {
        Ok(parts) => parts,
        Err(e) => return error_page(ws, user, &e, "/agenda"),
    };
    decorate_promise(&mut promise);
    let names: HashMap<String, String> = agents
        .as_array()
        .map(|list| {
            list.iter().filter_map(|a| Some((a["id"].as_str()?.to_string(), a["name"].as_str()?.to_string()))).collect()
        })
        .unwrap_or_default();
    let ledger: Vec<Value> = promise["ledger"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|e| {
                    let actor = e["actor_agent_id"]
                        .as_str()
                        .map(|a| names.get(a).cloned().unwrap_or_else(|| a.to_string()))
                        .unwrap_or_else(|| "Tendero".to_string());
                    json!({
                        "id": e["id"], "kind": e["kind"], "actor": actor,
                        "at_text": local_text(e["occurred_at"].as_str().unwrap_or_default(), zone),
                        "data_text": e["data"].to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let active = matches!(promise["status"].as_str(), Some("open") | Some("missed"));
    let due_agent_local = local_text(promise["due_at"].as_str().unwrap_or_default(), zone);
    let title = promise["title"].as_str().unwrap_or_default().to_string();
    let mut context = user.context("promise", &title);
    context["customer_name"] = customer["name"].clone();
    context["due_agent_local"] = json!(due_agent_local);
    context["ledger"] = json!(ledger);
    context["active"] = json!(active);
    context["agents"] = agents;
    context["back"] = json!(format!("/promises/{id}"));
    context["promise"] = promise;
    if !errors.is_empty() {
        context["errors"] = json!(errors);
    }
    if let Some(text) = flash {
        context["flash"] = json!({ "kind": "ok", "text": text });
    }
    render(ws, user, "promise", status, context)
}

/// `POST /promises/{id}/{action}`: reschedule, keep, cancel or hand over, then back to the page it came from.
pub async fn promise_action(
    state: web::Data<AppState>,
    ws: web::Data<WebState>,
    user: WebUser,
    path: web::Path<(String, String)>,
    form: Form,
) -> HttpResponse {
    let (id, action) = path.into_inner();
    let back = crate::web::session::safe_next(field(&form, "back"));
    let version: Option<i32> = field(&form, "version").and_then(|v| v.parse().ok());
    let result = async {
        user.check_csrf(field(&form, "csrf"))?;
        let (ctx, caller, pid) = (state.ctx(), user.caller.clone(), id.clone());
        match action.as_str() {
            "keep" => {
                let body = body_of(json!({ "note": field(&form, "note"), "version": version }))?;
                let input = service::promises::KeepInput::try_from(&body.value)?;
                state.db.write(move |conn| service::promises::keep(conn, &ctx, &caller, &pid, input)).await
            }
            "reschedule" => {
                let body = body_of(json!({
                    "due_local": field(&form, "due_local").map(with_seconds),
                    "reason": field(&form, "reason").unwrap_or_default(),
                    "initiated_by": field(&form, "initiated_by").unwrap_or("agent"),
                    "version": version,
                }))?;
                let input = service::promises::RescheduleInput::try_from(&body.value)?;
                state.db.write(move |conn| Ok(service::promises::reschedule(conn, &ctx, &caller, &pid, input)?.0)).await
            }
            "cancel" => {
                let body = body_of(json!({
                    "reason": field(&form, "reason").unwrap_or_default(),
                    "initiated_by": field(&form, "initiated_by").unwrap_or("agent"),
                    "version": version,
                }))?;
                let input = service::promises::CancelInput::try_from(&body.value)?;
                state.db.write(move |conn| service::promises::cancel(conn, &ctx, &caller, &pid, input)).await
            }
            "handover" => {
                let body = body_of(json!({
                    "to_agent_id": field(&form, "to_agent_id").unwrap_or_default(),
                    "note": field(&form, "note").unwrap_or_default(),
                    "version": version,
                }))?;
                let input = service::promises::HandoverInput::try_from(&body.value)?;
                state.db.write(move |conn| service::promises::hand_over(conn, &ctx, &caller, &pid, input)).await
            }
            other => Err(AppError::NotFound { resource: "action", id: other.to_string() }),
        }
    }
    .await;
    match result {
        Ok(_) => {
            let sep = if back.contains('?') { '&' } else { '?' };
            see_other(&format!("{back}{sep}saved=1"))
        }
        Err(e) => promise_page(&state, &ws, &user, &id, field_errors(&e), None, e.status_code()).await,
    }
}
