//! The OpenAPI 3.1 document, generated from the handlers' annotations and the request/response types.

use actix_web::HttpResponse;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{agents, calendar, customers, metrics, promises, prompts, teams, webhooks};
use crate::domain::due::Warning;
use crate::error::{FieldError, Problem};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "Tendero API", description = "Keeps the promises customer-service agents make."),
    paths(
        teams::create, teams::list, teams::show,
        agents::create, agents::list, agents::show, agents::update, agents::create_absence, agents::list_absences,
        agents::agenda, agents::create_token,
        customers::create, customers::list, customers::show, customers::update, customers::brief,
        customers::timeline, customers::create_interaction,
        promises::create, promises::preview, promises::list, promises::show, promises::reschedule, promises::keep, promises::cancel,
        promises::handover,
        prompts::list, prompts::acknowledge, prompts::stream_prompts,
        webhooks::create, webhooks::list, webhooks::delete, webhooks::deliveries, webhooks::redeliver,
        calendar::create_token, calendar::revoke, calendar::feed,
        metrics::promises,
        crate::routes::ops::healthz, crate::routes::ops::readyz, crate::routes::ops::prometheus,
    ),
    components(schemas(Problem, FieldError, Warning)),
    modifiers(&BearerAuth),
    tags((name = "teams"), (name = "agents"), (name = "customers"), (name = "promises"), (name = "prompts"), (name = "webhooks"),
        (name = "calendar"), (name = "metrics"), (name = "operations"))
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`.
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
