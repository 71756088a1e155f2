//! Finding customers and reading one.

use super::*;

/// Query of `GET /customers`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CustomerListQuery {
    /// Search in name, phone, email and external reference.
    pub q: Option<String>,
    /// Page size 1-500 (default 50).
    pub limit: Option<i64>,
    /// From `next_cursor`.
    pub cursor: Option<String>,
}

/// A page of customers.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerPage {
    /// Customers.
    pub items: Vec<CustomerOut>,
    /// For the next page.
    pub next_cursor: Option<String>,
}

/// Lists the customers of the caller's team (admins: all).
#[utoipa::path(get, path = "/api/v1/customers", tag = "customers", params(CustomerListQuery),
    responses((status = 200, body = CustomerPage), (status = 401, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<CustomerListQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let page = state.db.read(move |conn| list_of(conn, &caller, query)).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// The customers a caller may see, by name, filtered by `q`: the query behind `GET /customers` and the
/// customers page.
pub fn list_of(conn: &mut DbConn, caller: &Caller, query: CustomerListQuery) -> Result<CustomerPage, AppError> {
    let q = query;
    let limit = page_limit(q.limit)?;
    let after = q.cursor.as_deref().map(decode_cursor).transpose()?;
    if !caller.is_admin() && caller.team_id.is_none() {
        return Ok(CustomerPage { items: Vec::new(), next_cursor: None });
    }
    let team = if caller.is_admin() { None } else { caller.team_id.clone() };
    let mut rows = customers::list(conn, team.as_deref(), q.q.as_deref(), after.as_deref(), limit + 1)?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|c| encode_cursor(&c.id))
    } else {
        None
    };
    Ok(CustomerPage { items: rows.into_iter().map(CustomerOut::from).collect(), next_cursor })
}

/// One customer.
#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "customers", params(("id" = String, Path)),
    responses((status = 200, body = CustomerOut), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn show(state: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let customer = state.db.read(move |conn| visible_customer(conn, &caller, &id)).await?;
    Ok(HttpResponse::Ok().json(CustomerOut::from(customer)))
}
