//! `GET /api/v1/metrics/promises`: promise-keeping figures (DESIGN.md section 10) for a period of customer-local
//! due dates, grouped and filtered, as JSON or CSV. The dashboard renders the same report.

use std::collections::{BTreeMap, HashMap};

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::auth::Caller;
use crate::db::DbConn;
use crate::domain::metrics::{self, date_of, day_number, week_label, Figures};
use crate::domain::vocab::{PromiseKind, Role};
use crate::error::{AppError, Problem};
use crate::repo::metrics::{self as rollups, GroupKey, Grouping, Selection};
use crate::repo::{agents, teams};

/// Registers the metrics routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics/promises", web::get().to(promises));
}

/// Query of `GET /metrics/promises`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
pub struct MetricsQuery {
    /// First customer-local due date, `YYYY-MM-DD` (default: 28 days before `to`).
    pub from: Option<String>,
    /// Day after the last one, `YYYY-MM-DD` (default: tomorrow, UTC).
    pub to: Option<String>,
    /// Comma-separated: agent, team, kind, week.
    pub group_by: Option<String>,
    /// Only this team.
    pub team: Option<String>,
    /// Only this agent (`me` for the caller).
    pub agent: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
}

/// One group of a report.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MetricsRow {
    /// Agent, when grouped by agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// The agent's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    /// Team, when grouped by team (empty = no team).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    /// The team's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_name: Option<String>,
    /// Kind, when grouped by kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// ISO week, `2026-W47`, when grouped by week.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub week: Option<String>,
    /// Monday of that week.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub week_start: Option<String>,
    /// The figures.
    #[serde(flatten)]
    pub figures: Figures,
}

/// A metrics report.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MetricsReport {
    /// First due date of the period.
    pub from: String,
    /// Day after the last.
    pub to: String,
    /// The grouping, in the order given.
    pub group_by: Vec<String>,
    /// One row per group, ordered by the group columns.
    pub rows: Vec<MetricsRow>,
    /// The whole selection as one group.
    pub totals: Figures,
}

/// The parsed and authorised form of a query.
#[derive(Clone, Debug)]
pub struct Plan {
    from: NaiveDate,
    to: NaiveDate,
    group_by: Vec<String>,
    grouping: Grouping,
    selection: Selection,
}

fn parse_date(field: &str, text: &str) -> Result<NaiveDate, AppError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| AppError::invalid(field, "invalid_date", format!("`{text}` is not a date like 2026-03-17")))
}

/// Validates a query and narrows it to what the caller may see: agents their own figures, managers their team,
/// admins everything.
pub fn plan(caller: &Caller, q: &MetricsQuery, now: DateTime<Utc>) -> Result<Plan, AppError> {
    let to = match &q.to {
        Some(t) => parse_date("to", t)?,
        None => now.date_naive() + Duration::days(1),
    };
    let from = match &q.from {
        Some(f) => parse_date("from", f)?,
        None => to - Duration::days(28),
    };
    if from >= to {
        return Err(AppError::invalid("to", "empty_period", "`to` must be after `from` (the period is [from, to))"));
    }
    if (to - from).num_days() > 3660 {
        return Err(AppError::invalid("from", "period_too_long", "a report covers at most ten years"));
    }
    let mut grouping = Grouping::default();
    let mut group_by = Vec::new();
    for part in q.group_by.as_deref().unwrap_or("").split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let flag = match part {
            "agent" => &mut grouping.agent,
            "team" => &mut grouping.team,
            "kind" => &mut grouping.kind,
            "week" => &mut grouping.week,
            other => {
                return Err(AppError::invalid(
                    "group_by",
                    "unknown_grouping",
                    format!("`{other}` is not one of agent, team, kind, week"),
                ))
            }
        };
        if !*flag {
            *flag = true;
            group_by.push(part.to_string());
        }
    }
    if let Some(kind) = &q.kind {
        kind.parse::<PromiseKind>().map_err(|e| AppError::invalid("kind", "unknown_kind", e))?;
    }
    let mut agent = q.agent.clone().map(|a| if a == "me" { caller.agent_id.clone() } else { a });
    let mut team = q.team.clone();
    match caller.role {
        Role::Admin => {}
        Role::Manager => {
            let own = caller.team_id.clone().unwrap_or_default();
            if team.as_ref().is_some_and(|t| *t != own || own.is_empty()) {
                return Err(AppError::Forbidden("managers see the metrics of their own team".into()));
            }
            if own.is_empty() {
                // Outside any team (an empty team filter selects every team): only their own figures.
                if agent.as_ref().is_some_and(|a| *a != caller.agent_id) {
                    return Err(AppError::Forbidden("a manager outside any team sees only their own metrics".into()));
                }
                agent = Some(caller.agent_id.clone());
            }
            team = Some(own);
        }
        Role::Agent => {
            if agent.as_ref().is_some_and(|a| *a != caller.agent_id) {
                return Err(AppError::Forbidden("agents see only their own metrics".into()));
            }
            agent = Some(caller.agent_id.clone());
        }
    }
    Ok(Plan {
        from,
        to,
        group_by,
        grouping,
        selection: Selection {
            from_day: day_number(from),
            to_day: day_number(to),
            team_id: team,
            agent_id: agent,
            kind: q.kind.clone(),
        },
    })
}

/// Runs a planned report.
pub fn run(conn: &mut DbConn, plan: &Plan) -> Result<MetricsReport, AppError> {
    Ok(run_many(conn, std::slice::from_ref(plan))?.remove(0))
}

/// Runs several plans over the same period and filters (the dashboard's views), reading the rollups once.
/// Plans whose selection differs from the first one's are refused: they cannot share the read.
pub fn run_many(conn: &mut DbConn, plans: &[Plan]) -> Result<Vec<MetricsReport>, AppError> {
    let Some(first) = plans.first() else { return Ok(Vec::new()) };
    let sel = &first.selection;
    let same = |p: &Plan| {
        let s = &p.selection;
        (s.from_day, s.to_day, &s.team_id, &s.agent_id, &s.kind)
            == (sel.from_day, sel.to_day, &sel.team_id, &sel.agent_id, &sel.kind)
    };
    if !plans.iter().all(same) {
        return Err(AppError::Internal(anyhow::anyhow!(
            "metrics reports run together must share their period and filters"
        )));
    }
    // The totals are one more grouping (none) folded from the same read.
    let mut groupings: Vec<Grouping> = plans.iter().map(|p| p.grouping).collect();
    groupings.push(Grouping::default());
    let mut results = rollups::report_many(conn, &groupings, sel)?;
    let totals = results.pop().unwrap_or_default();
    let total = totals.get(&GroupKey::default()).cloned().unwrap_or_else(|| rollups::GroupTotals {
        contacts: sel.kind.is_none().then_some((0, 0)),
        ..Default::default()
    });
    let any_agent = plans.iter().any(|p| p.grouping.agent);
    let any_team = plans.iter().any(|p| p.grouping.team);
    let agent_names: HashMap<String, String> = if any_agent {
        agents::list(conn, None)?.into_iter().map(|a| (a.id, a.name)).collect()
    } else {
        HashMap::new()
    };
    let team_names: HashMap<String, String> =
        if any_team { teams::list(conn)?.into_iter().map(|t| (t.id, t.name)).collect() } else { HashMap::new() };
    Ok(plans
        .iter()
        .zip(results)
        .map(|(plan, groups)| report_of(plan, groups, &total, &agent_names, &team_names))
        .collect())
}

fn report_of(
    plan: &Plan,
    groups: BTreeMap<GroupKey, rollups::GroupTotals>,
    total: &rollups::GroupTotals,
    agent_names: &HashMap<String, String>,
    team_names: &HashMap<String, String>,
) -> MetricsReport {
    let rows = groups
        .into_iter()
        .map(|(key, t)| MetricsRow {
            agent_name: key.agent_id.as_ref().map(|a| agent_names.get(a).cloned().unwrap_or_default()),
            agent_id: key.agent_id,
            team_name: key.team_id.as_ref().map(|t| team_names.get(t).cloned().unwrap_or_default()),
            team_id: key.team_id,
            kind: key.kind,
            week: key.week.map(week_label),
            week_start: key.week.map(|w| date_of(w).to_string()),
            figures: metrics::figures(&t.counts, &t.lateness, t.contacts),
        })
        .collect();
    MetricsReport {
        from: plan.from.to_string(),
        to: plan.to.to_string(),
        group_by: plan.group_by.clone(),
        rows,
        totals: metrics::figures(&total.counts, &total.lateness, total.contacts),
    }
}

/// The figure columns of the CSV, in order.
pub const FIGURE_COLUMNS: [&str; 16] = [
    "due",
    "pending",
    "kept_on_time",
    "kept_late",
    "missed_open",
    "broken",
    "cancelled",
    "renegotiated_by_customer",
    "renegotiated_by_agent",
    "handovers",
    "keep_rate",
    "lateness_p50_minutes",
    "lateness_p90_minutes",
    "outbound_contacts",
    "outbound_by_owner",
    "continuity",
];

fn figure_cells(f: &Figures) -> Vec<String> {
    let n = |v: i64| v.to_string();
    let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    let rate = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_default();
    vec![
        n(f.due),
        n(f.pending),
        n(f.kept_on_time),
        n(f.kept_late),
        n(f.missed_open),
        n(f.broken),
        n(f.cancelled),
        n(f.renegotiated_by_customer),
        n(f.renegotiated_by_agent),
        n(f.handovers),
        rate(f.keep_rate),
        opt(f.lateness_p50_minutes),
        opt(f.lateness_p90_minutes),
        opt(f.outbound_contacts),
        opt(f.outbound_by_owner),
        rate(f.continuity),
    ]
}

/// The report as CSV (RFC 4180): the group columns, then the figures; the last line is the totals (the only one
/// when the report is not grouped).
pub fn to_csv(report: &MetricsReport) -> String {
    let mut head: Vec<&str> = Vec::new();
    for g in &report.group_by {
        match g.as_str() {
            "agent" => head.extend(["agent_id", "agent_name"]),
            "team" => head.extend(["team_id", "team_name"]),
            "kind" => head.push("kind"),
            _ => head.extend(["week", "week_start"]),
        }
    }
    head.extend(FIGURE_COLUMNS);
    let mut out = String::new();
    push_record(&mut out, head.iter().map(|s| s.to_string()));
    // Without a grouping the one group is the whole selection: its line would repeat the totals, unlabelled.
    let rows = if report.group_by.is_empty() { &[][..] } else { &report.rows[..] };
    for row in rows {
        let mut cells = Vec::new();
        for g in &report.group_by {
            match g.as_str() {
                "agent" => cells.extend([row.agent_id.clone(), row.agent_name.clone()].map(Option::unwrap_or_default)),
                "team" => cells.extend([row.team_id.clone(), row.team_name.clone()].map(Option::unwrap_or_default)),
                "kind" => cells.push(row.kind.clone().unwrap_or_default()),
                _ => cells.extend([row.week.clone(), row.week_start.clone()].map(Option::unwrap_or_default)),
            }
        }
        cells.extend(figure_cells(&row.figures));
        push_record(&mut out, cells.into_iter());
    }
    let mut totals = vec![String::new(); head.len() - FIGURE_COLUMNS.len()];
    if let Some(first) = totals.first_mut() {
        *first = "TOTAL".into();
    }
    totals.extend(figure_cells(&report.totals));
    push_record(&mut out, totals.into_iter());
    out
}

fn push_record(out: &mut String, cells: impl Iterator<Item = String>) {
    let quoted: Vec<String> = cells
        .map(|c| {
            // Cells starting with a formula character are prefixed so spreadsheets do not execute names.
            let c = if c.starts_with(['=', '+', '-', '@']) && c.parse::<f64>().is_err() { format!("'{c}") } else { c };
            if c.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c
            }
        })
        .collect();
    out.push_str(&quoted.join(","));
    out.push_str("\r\n");
}

/// Whether the request prefers CSV (`Accept: text/csv`).
pub fn wants_csv(req: &HttpRequest) -> bool {
    req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/csv"))
}

/// Promise-keeping metrics for a period of customer-local due dates. `Accept: text/csv` answers CSV with the
/// same numbers.
#[utoipa::path(get, path = "/api/v1/metrics/promises", tag = "metrics", params(MetricsQuery),
    responses((status = 200, description = "the report; the same as CSV with `Accept: text/csv`",
            content((MetricsReport = "application/json"), (String = "text/csv"))),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn promises(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    query: web::Query<MetricsQuery>,
) -> Result<HttpResponse, AppError> {
    let plan = plan(&caller, &query, state.clock.now())?;
    let report = state.db.read(move |conn| run(conn, &plan)).await?;
    if wants_csv(&req) {
        let name = format!("attachment; filename=\"tendero-promises-{}-{}.csv\"", report.from, report.to);
        Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((header::CONTENT_DISPOSITION, name))
            .body(to_csv(&report)))
    } else {
        Ok(HttpResponse::Ok().json(report))
    }
}
