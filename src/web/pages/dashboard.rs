//! The managers' dashboard and its CSV export.

use super::*;

/// Query of the dashboard.
#[derive(Debug, Deserialize)]
pub struct DashboardQuery {
    from: Option<String>,
    to: Option<String>,
}

fn percent(rate: &Value) -> String {
    rate.as_f64().map(|r| format!("{:.0}%", r * 100.0)).unwrap_or_else(|| "—".into())
}

fn figures_row(row: &Value, key: &str, name: &str) -> Value {
    let mut out = row.clone();
    out["key"] = json!(key);
    out["name"] = json!(name);
    out["keep_rate_text"] = json!(percent(&row["keep_rate"]));
    out["continuity_text"] = json!(percent(&row["continuity"]));
    let minutes = |v: &Value| v.as_i64().map(|m| m.to_string()).unwrap_or_else(|| "—".into());
    out["lateness_text"] =
        json!(format!("{} / {}", minutes(&row["lateness_p50_minutes"]), minutes(&row["lateness_p90_minutes"])));
    out
}

/// `GET /dashboard`: keep rate per agent and team for a period, the weekly trend, overdue and broken lists.
pub async fn dashboard(
    state: web::Data<AppState>,
    ws: web::Data<WebState>,
    user: WebUser,
    query: web::Query<DashboardQuery>,
) -> HttpResponse {
    let now = state.clock.now();
    let q = query.into_inner();
    let base = api_metrics::MetricsQuery { from: q.from.clone(), to: q.to.clone(), ..Default::default() };
    let result = async {
        let by = |group: &str| {
            let mut query = base.clone();
            query.group_by = Some(group.to_string());
            api_metrics::plan(&user.caller, &query, now)
        };
        let plans = [by("agent")?, by("team")?, by("week")?];
        let reports = state.db.read(move |conn| api_metrics::run_many(conn, &plans)).await?;
        let list = |status: &str| api_promises::PromiseListQuery {
            owner: None,
            customer: None,
            kind: None,
            status: Some(status.to_string()),
            due_from: None,
            due_to: None,
            limit: Some(50),
            cursor: None,
        };
        let (caller, missed, broken) = (user.caller.clone(), list("missed"), list("broken"));
        let (overdue, broken) = state
            .db
            .read(move |conn| {
                let overdue = api_promises::list_of(conn, &caller, missed)?;
                let broken = api_promises::list_of(conn, &caller, broken)?;
                Ok((context_of(overdue)?, context_of(broken)?))
            })
            .await?;
        Ok::<_, AppError>((reports, overdue, broken))
    }
    .await;
    let (reports, overdue, broken) = match result {
        Ok(parts) => parts,
        Err(e) => return error_page(&ws, &user, &e, "/dashboard"),
    };
    let [per_agent, per_team, per_week] = [&reports[0], &reports[1], &reports[2]];
    let agents: Vec<Value> = per_agent
        .rows
        .iter()
        .map(|r| {
            let v = serde_json::to_value(r).unwrap_or_default();
            let key = r.agent_id.clone().unwrap_or_default();
            figures_row(&v, &key, r.agent_name.as_deref().unwrap_or(&key))
        })
        .collect();
    let teams: Vec<Value> = per_team
        .rows
        .iter()
        .map(|r| {
            let v = serde_json::to_value(r).unwrap_or_default();
            let key = r.team_id.clone().unwrap_or_default();
            figures_row(&v, &key, r.team_name.as_deref().filter(|n| !n.is_empty()).unwrap_or("—"))
        })
        .collect();
    let points: Vec<WeekPoint> = per_week
        .rows
        .iter()
        .map(|r| WeekPoint {
            label: r.week.clone().unwrap_or_default(),
            due: r.figures.due,
            keep_rate: r.figures.keep_rate,
        })
        .collect();
    let locale = user.agent.locale.clone();
    let totals = serde_json::to_value(&per_agent.totals).unwrap_or_default();
    let mut totals = figures_row(&totals, "total", "");
    totals["base"] = json!(per_agent.totals.due - per_agent.totals.cancelled);
    let decorate = |list: &Value| -> Value {
        let mut items = list["items"].clone();
        if let Some(arr) = items.as_array_mut() {
            arr.iter_mut().for_each(decorate_promise);
        }
        items
    };
    let mut context = user.context("dashboard", &ws.pages.text(&locale, "dashboard_title"));
    context["from"] = json!(per_agent.from);
    context["to"] = json!(per_agent.to);
    context["totals"] = totals;
    context["per_agent"] = json!(agents);
    context["per_team"] = json!(teams);
    context["chart"] = json!(weekly_trend(&points, &ws.pages.text(&locale, "weekly_trend")));
    context["overdue"] = decorate(&overdue);
    context["broken"] = decorate(&broken);
    render(&ws, &user, "dashboard", StatusCode::OK, context)
}

/// `GET /dashboard.csv`: the per-agent figures of the period as CSV (the API's format).
pub async fn dashboard_csv(
    state: web::Data<AppState>,
    ws: web::Data<WebState>,
    user: WebUser,
    query: web::Query<DashboardQuery>,
) -> HttpResponse {
    let q = query.into_inner();
    let query =
        api_metrics::MetricsQuery { from: q.from, to: q.to, group_by: Some("agent".into()), ..Default::default() };
    let plan = match api_metrics::plan(&user.caller, &query, state.clock.now()) {
        Ok(plan) => plan,
        Err(e) => return error_page(&ws, &user, &e, "/dashboard"),
    };
    match state.db.read(move |conn| api_metrics::run(conn, &plan)).await {
        Ok(report) => HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                actix_web::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"tendero-promises-{}-{}.csv\"", report.from, report.to),
            ))
            .body(api_metrics::to_csv(&report)),
        Err(e) => error_page(&ws, &user, &e, "/dashboard"),
    }
}
