//! `/teams`: the groups agents work in; managers see their team's numbers.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{idempotent_write, instant, to_json, Body, Checks};
use crate::app::AppState;
use crate::auth::Caller;
use crate::clock::new_id;
use crate::domain::vocab::Role;
use crate::error::{AppError, Problem};
use crate::repo::teams::{self, Team};

/// Routes of this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/teams", web::post().to(create))
        .route("/teams", web::get().to(list))
        .route("/teams/{id}", web::get().to(show));
}

/// Body of `POST /teams`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTeamBody {
    /// Unique name, e.g. "Zaragoza".
    #[schema(example = "Zaragoza")]
    pub name: String,
}

/// A team.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamOut {
    /// Opaque id.
    pub id: String,
    /// Name.
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<Team> for TeamOut {
    fn from(t: Team) -> Self {
        Self { id: t.id, name: t.name, created_at: instant(t.created_at), updated_at: instant(t.updated_at) }
    }
}

/// Creates a team (admin).
#[utoipa::path(post, path = "/api/v1/teams", tag = "teams", request_body = NewTeamBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for the same body")),
    responses((status = 201, body = TeamOut), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem, description = "name taken"), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: Body<NewTeamBody>,
) -> Result<HttpResponse, AppError> {
    caller.require(Role::Admin)?;
    let mut checks = Checks::default();
    let name = checks.text("name", &body.value.name, 200);
    checks.finish()?;
    let now = state.clock.now().timestamp_millis();
    idempotent_write(&state, &caller, &req, &body.raw, StatusCode::CREATED, move |conn| {
        if teams::find_by_name(conn, &name)?.is_some() {
            return Err(AppError::conflict(format!("a team named `{name}` already exists")));
        }
        let team = Team { id: new_id("team"), name, created_at: now, updated_at: now };
        teams::insert(conn, &team)?;
        to_json(TeamOut::from(team))
    })
    .await
}

/// Lists teams.
#[utoipa::path(get, path = "/api/v1/teams", tag = "teams",
    responses((status = 200, body = Vec<TeamOut>), (status = 401, body = Problem)), security(("bearer" = [])))]
pub async fn list(state: web::Data<AppState>, _caller: Caller) -> Result<HttpResponse, AppError> {
    let rows = state.db.read(|conn| Ok(teams::list(conn)?)).await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(TeamOut::from).collect::<Vec<_>>()))
}

/// One team.
#[utoipa::path(get, path = "/api/v1/teams/{id}", tag = "teams", params(("id" = String, Path)),
    responses((status = 200, body = TeamOut), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn show(
    state: web::Data<AppState>,
    _caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let team = state
        .db
        .read({
            let id = id.clone();
            move |conn| Ok(teams::find(conn, &id)?)
        })
        .await?
        .ok_or_else(|| AppError::not_found("team", id))?;
    Ok(HttpResponse::Ok().json(TeamOut::from(team)))
}
