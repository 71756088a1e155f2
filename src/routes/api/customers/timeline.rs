//! The customer timeline: interactions and promise events in one story, newest first.

use super::*;

/// Query of the timeline.
#[derive(Debug, Deserialize, IntoParams)]
pub struct TimelineQuery {
    /// Page size 1-500 (default 50).
    pub limit: Option<i64>,
    /// From `next_cursor`.
    pub cursor: Option<String>,
}

/// One entry of the timeline: an interaction or a promise event.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEntry {
    /// `interaction` or `promise_event`.
    pub kind: String,
    /// RFC 3339.
    pub at: String,
    /// Present for interactions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interaction: Option<InteractionOut>,
    /// Present for promise events, with the promise id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<TimelineEvent>,
}

/// A promise event on the timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEvent {
    /// The promise.
    pub promise_id: String,
    /// The event.
    #[serde(flatten)]
    pub event: EventOut,
}

/// A page of the timeline, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelinePage {
    /// Entries.
    pub items: Vec<TimelineEntry>,
    /// For the next (older) page.
    pub next_cursor: Option<String>,
}

/// The customer's one story: every interaction on every channel and every promise event, newest first.
#[utoipa::path(get, path = "/api/v1/customers/{id}/timeline", tag = "customers",
    params(("id" = String, Path), TimelineQuery),
    responses((status = 200, body = TimelinePage), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn timeline(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    query: web::Query<TimelineQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let out = state.db.read(move |conn| timeline_of(conn, &caller, &id, query)).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// A customer's one story, newest first: interactions and promise events. The query behind
/// `GET /customers/{id}/timeline` and the customer page.
pub fn timeline_of(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
    query: TimelineQuery,
) -> Result<TimelinePage, AppError> {
    let q = query;
    let limit = page_limit(q.limit)?;
    // Entries sort by (at, key) descending; the key makes ties between an interaction and an event stable.
    let cursor = match &q.cursor {
        Some(c) => {
            let text = decode_cursor(c)?;
            let parsed = text.split_once('|').and_then(|(at, key)| Some((at.parse::<i64>().ok()?, key.to_string())));
            Some(parsed.ok_or_else(|| {
                AppError::invalid("cursor", "invalid_cursor", "the cursor is not one this API gave out")
            })?)
        }
        None => None,
    };
    let customer = visible_customer(conn, caller, id)?;
    let at_most = cursor.as_ref().map(|c| c.0);
    // Fetch a little more than a page from each source: entries equal to the cursor are skipped below.
    let fetch = limit + 50;
    let mut entries: Vec<(i64, String, TimelineEntry)> = Vec::new();
    for i in interactions::of_customer(conn, &customer.id, at_most, fetch)? {
        let key = format!("i:{}", i.id);
        let at = i.occurred_at;
        entries.push((
            at,
            key,
            TimelineEntry { kind: "interaction".into(), at: instant(at), interaction: Some(i.into()), event: None },
        ));
    }
    for e in promises::events_of_customer(conn, &customer.id, at_most, fetch)? {
        let key = format!("e:{:020}", e.id);
        let at = e.occurred_at;
        let promise_id = e.promise_id.clone();
        entries.push((
            at,
            key,
            TimelineEntry {
                kind: "promise_event".into(),
                at: instant(at),
                interaction: None,
                event: Some(TimelineEvent { promise_id, event: e.into() }),
            },
        ));
    }
    entries.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
    if let Some((at, key)) = &cursor {
        entries.retain(|(a, k, _)| (*a, k) < (*at, key));
    }
    let more = entries.len() as i64 > limit;
    entries.truncate(limit as usize);
    let next_cursor = if more { entries.last().map(|(a, k, _)| encode_cursor(&format!("{a}|{k}"))) } else { None };
    Ok(TimelinePage { items: entries.into_iter().map(|(_, _, e)| e).collect(), next_cursor })
}
