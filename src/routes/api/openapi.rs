//! The OpenAPI 3.1 document, generated from the handlers' annotations and the request/response types.

use actix_web::HttpResponse;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
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

/// The answers every operation can give because of what the API's operations share, and the media type of errors.
///
/// Every error is `application/problem+json` (see [`crate::error::AppError`]), so a response declared with
/// `body = Problem` is documented under that media type rather than `application/json`. Every operation under
/// `/api/v1` answers 400 for a request that cannot be read: a path or query string holding a NUL character (refused
/// for the whole scope), a query parameter of the wrong type ([`super::query_error`]), and for operations with a
/// body one that is not JSON or does not fit the type ([`super::Body`]), which also answers 413 over the limit.
/// Those answers are declared here once instead of in every handler's annotation.
struct ProblemAnswers;

const PROBLEM: &str = "#/components/schemas/Problem";

fn problem_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content("application/problem+json", ContentBuilder::new().schema(Some(Ref::new(PROBLEM))).build())
            .build(),
    )
}

fn add_shared_answers(operation: &mut Operation, in_api: bool) {
    let responses = &mut operation.responses.responses;
    if in_api {
        responses.entry("400".into()).or_insert_with(|| {
            problem_response(
                "The request could not be read: a body that is not JSON or does not fit the schema, a query \
                 parameter of the wrong type, a NUL character anywhere (the problem names the field)",
            )
        });
    }
    if operation.request_body.is_some() {
        responses.entry("413".into()).or_insert_with(|| problem_response("The body is larger than the limit"));
    }
    for response in responses.values_mut() {
        let RefOr::T(response) = response else { continue };
        let is_problem = response
            .content
            .get("application/json")
            .is_some_and(|c| matches!(&c.schema, Some(RefOr::Ref(r)) if r.ref_location == PROBLEM));
        if is_problem {
            if let Some(content) = response.content.shift_remove("application/json") {
                response.content.insert("application/problem+json".into(), content);
            }
        }
    }
}

impl Modify for ProblemAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let in_api = path.starts_with("/api/v1/");
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                add_shared_answers(operation, in_api);
            }
        }
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
    modifiers(&BearerAuth, &ProblemAnswers),
    tags((name = "teams"), (name = "agents"), (name = "customers"), (name = "promises"), (name = "prompts"), (name = "webhooks"),
        (name = "calendar"), (name = "metrics"), (name = "operations"))
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`.
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
