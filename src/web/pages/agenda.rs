//! The agent's agenda page.

use super::*;

/// Query of the agenda page.
#[derive(Debug, Deserialize)]
pub struct DateQuery {
    date: Option<String>,
}

/// `GET /agenda`: today's and overdue promises in the agent's zone, with each customer's local time, and the
/// prompts not yet acknowledged.
pub async fn agenda(
    state: web::Data<AppState>,
    ws: web::Data<WebState>,
    user: WebUser,
    query: web::Query<DateQuery>,
) -> HttpResponse {
    let result = async {
        let (caller, date, now) = (user.caller.clone(), query.date.clone(), state.clock.now());
        let (agenda, prompts) = state
            .db
            .read(move |conn| {
                let agenda = api_agents::agenda_of(conn, &caller, "me", date.as_deref(), now)?;
                let prompts = api_prompts::inbox_of(conn, &caller, "me", true, 20)?;
                Ok((agenda, prompts))
            })
            .await?;
        let prompts: Vec<Value> = prompts.iter().map(prompt_json).collect();
        Ok::<_, AppError>((context_of(agenda)?, Value::from(prompts)))
    }
    .await;
    let (mut agenda, prompts) = match result {
        Ok(pair) => pair,
        Err(e) => return error_page(&ws, &user, &e, "/agenda"),
    };
    let mut overdue = Vec::new();
    let mut today = Vec::new();
    if let Some(items) = agenda.get_mut("items").and_then(Value::as_array_mut) {
        for mut item in items.drain(..) {
            decorate_promise(&mut item["promise"]);
            if item["overdue"].as_bool() == Some(true) {
                overdue.push(item);
            } else {
                today.push(item);
            }
        }
    }
    let mut context = user.context("agenda", &ws.pages.text(&user.agent.locale, "agenda_title"));
    context["agenda"] = agenda;
    context["overdue"] = json!(overdue);
    context["today"] = json!(today);
    context["prompts"] = prompts;
    render(&ws, &user, "agenda", StatusCode::OK, context)
}
