//! Finding promises and reading one with its ledger, for the API and the pages.

use super::*;

/// Query of `GET /promises`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PromiseListQuery {
    /// Owner agent id (`me` for the caller).
    pub owner: Option<String>,
    /// Customer id.
    pub customer: Option<String>,
    /// callback, deadline or update.
    pub kind: Option<String>,
    /// Status, or several separated by commas.
    pub status: Option<String>,
    /// RFC 3339: due at or after.
    pub due_from: Option<String>,
    /// RFC 3339: due before.
    pub due_to: Option<String>,
    /// Page size, 1-500 (default 50).
    pub limit: Option<i64>,
    /// From `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of promises.
#[derive(Debug, Serialize, ToSchema)]
pub struct PromisePage {
    /// Promises by due time.
    pub items: Vec<PromiseOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Lists promises by due time, filtered; agents and managers see their team's customers only.
#[utoipa::path(get, path = "/api/v1/promises", tag = "promises", params(PromiseListQuery),
    responses((status = 200, body = PromisePage), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<PromiseListQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let page = state.db.read(move |conn| list_of(conn, &caller, query)).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Promises by due time, filtered; agents and managers see their team's customers only. The query behind
/// `GET /promises` and the pages' lists.
pub fn list_of(conn: &mut DbConn, caller: &Caller, query: PromiseListQuery) -> Result<PromisePage, AppError> {
    let q = query;
    let limit = page_limit(q.limit)?;
    let mut filter = PromiseFilter {
        owner: q.owner.map(|o| if o == "me" { caller.agent_id.clone() } else { o }),
        customer: q.customer,
        ..Default::default()
    };
    if let Some(kind) = &q.kind {
        let mut checks = Checks::default();
        filter.kind = checks.vocab::<PromiseKind>("kind", kind).map(|k| k.as_str().to_string());
        checks.finish()?;
    }
    if let Some(statuses) = &q.status {
        let mut checks = Checks::default();
        for s in statuses.split(',').map(str::trim) {
            if let Some(status) = checks.vocab::<PromiseStatus>("status", s) {
                filter.statuses.push(status.as_str().into());
            }
        }
        checks.finish()?;
    }
    filter.due_from =
        q.due_from.as_deref().map(|t| parse_instant("due_from", t)).transpose()?.map(|t| t.timestamp_millis());
    filter.due_to = q.due_to.as_deref().map(|t| parse_instant("due_to", t)).transpose()?.map(|t| t.timestamp_millis());
    if let Some(cursor) = &q.cursor {
        let text = decode_cursor(cursor)?;
        let (due, id) = text
            .split_once('|')
            .and_then(|(d, i)| Some((d.parse::<i64>().ok()?, i.to_string())))
            .ok_or_else(|| AppError::invalid("cursor", "invalid_cursor", "the cursor is not one this API gave out"))?;
        filter.after = Some((due, id));
    }
    if !caller.is_admin() {
        match &caller.team_id {
            Some(team) => filter.team = Some(team.clone()),
            None => filter.owner = Some(caller.agent_id.clone()),
        }
    }
    let mut rows = promises::list(conn, &filter, limit + 1)?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|p| encode_cursor(&format!("{}|{}", p.due_at, p.id)))
    } else {
        None
    };
    Ok(PromisePage { items: rows.into_iter().map(read_out).collect(), next_cursor })
}

/// One promise with its whole ledger.
#[utoipa::path(get, path = "/api/v1/promises/{id}", tag = "promises", params(("id" = String, Path)),
    responses((status = 200, body = PromiseOut), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn show(state: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let out = state.db.read(move |conn| show_of(conn, &caller, &id)).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// One promise with its whole ledger: the query behind `GET /promises/{id}` and the promise page.
pub fn show_of(conn: &mut DbConn, caller: &Caller, id: &str) -> Result<PromiseOut, AppError> {
    let (promise, _) = visible_promise(conn, caller, id)?;
    let events = promises::events_of(conn, &promise.id)?;
    Ok(PromiseOut { ledger: Some(events.into_iter().map(EventOut::from).collect()), ..read_out(promise) })
}
