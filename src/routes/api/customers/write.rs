//! Adding and changing a customer: the bodies, their checks, and the handlers.

use super::*;

/// Body of `POST /customers`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustomerBody {
    /// Full name.
    #[schema(example = "Ana Royo")]
    pub name: String,
    /// IANA zone (required): customer time is the truth.
    #[schema(example = "Europe/Madrid")]
    pub time_zone: String,
    /// BCP 47, e.g. es-ES (default es-ES).
    #[schema(example = "es-ES")]
    pub locale: Option<String>,
    /// Phone.
    #[schema(example = "+34 976 555 000")]
    pub phone: Option<String>,
    /// Email.
    #[schema(example = "ana.royo@example.com")]
    pub email: Option<String>,
    /// When contact is welcome: "mon-sat 09:00-21:00" or JSON (default from settings).
    #[schema(schema_with = crate::routes::api::window_schema)]
    pub contact_window: Option<serde_json::Value>,
    /// phone, email, sms, whatsapp, social, chat, visit or letter.
    #[schema(example = "phone")]
    pub preferred_channel: Option<String>,
    /// The shopkeeper (default: whoever makes the first promise).
    pub owner_agent_id: Option<String>,
    /// Team (default: the caller's team).
    pub team_id: Option<String>,
    /// Short facts ("two lines, second depends on the first").
    pub facts: Option<Vec<String>>,
    /// Free text.
    pub notes: Option<String>,
    /// Hard block on calls.
    pub do_not_call: Option<bool>,
    /// Holiday calendar: ES, ES-CN, US.
    #[schema(example = "ES")]
    pub region: Option<String>,
    /// Id in another system.
    pub external_ref: Option<String>,
}

/// Body of `PATCH /customers/{id}`: every field optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerPatchBody {
    /// Full name.
    pub name: Option<String>,
    /// IANA zone.
    #[schema(example = "Atlantic/Canary")]
    pub time_zone: Option<String>,
    /// Locale.
    #[schema(example = "es-ES")]
    pub locale: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Email.
    #[schema(example = "ana.royo@example.com")]
    pub email: Option<String>,
    /// Contact window.
    #[schema(schema_with = crate::routes::api::window_schema)]
    pub contact_window: Option<serde_json::Value>,
    /// Preferred channel.
    #[schema(example = "whatsapp")]
    pub preferred_channel: Option<String>,
    /// Owner.
    pub owner_agent_id: Option<String>,
    /// Facts (replaces the list).
    pub facts: Option<Vec<String>>,
    /// Notes.
    pub notes: Option<String>,
    /// Do not call.
    pub do_not_call: Option<bool>,
    /// Region.
    #[schema(example = "ES-CN")]
    pub region: Option<String>,
    /// External reference.
    pub external_ref: Option<String>,
}

fn check_facts(checks: &mut Checks, facts: &[String]) -> String {
    if facts.len() > 50 {
        checks.add("facts", "too_many", "at most 50 facts");
    }
    let cleaned: Vec<String> = facts
        .iter()
        .enumerate()
        .filter_map(|(i, f)| checks.optional_text(&format!("facts[{i}]"), Some(f), 500))
        .collect();
    serde_json::to_string(&cleaned).unwrap_or_else(|_| "[]".into())
}

fn check_region(checks: &mut Checks, region: &str) -> String {
    let upper = region.trim().to_uppercase();
    if HolidayCalendar::for_region(&upper).is_none() {
        checks.add(
            "region",
            "unknown_region",
            format!("no holiday calendar for `{region}`; known: {}", HolidayCalendar::known_regions().join(", ")),
        );
    }
    upper
}

/// Creates a customer in the caller's team (admins may name any team).
#[utoipa::path(post, path = "/api/v1/customers", tag = "customers", request_body = NewCustomerBody,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = CustomerOut), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: Body<NewCustomerBody>,
) -> Result<HttpResponse, AppError> {
    let b = &body.value;
    let mut checks = Checks::default();
    let name = checks.text("name", &b.name, 200);
    let time_zone = checks.zone("time_zone", &b.time_zone);
    let locale = checks.locale("locale", b.locale.as_deref().unwrap_or("es-ES"));
    let phone = checks.optional_text("phone", b.phone.as_deref(), 50);
    let email = b.email.as_deref().filter(|e| !e.trim().is_empty()).map(|e| checks.email("email", e));
    let contact_window = match &b.contact_window {
        Some(v) => checks.window("contact_window", v),
        None => state.tolerances.default_contact_window.to_text(),
    };
    let preferred_channel = b
        .preferred_channel
        .as_deref()
        .and_then(|c| checks.vocab::<Channel>("preferred_channel", c))
        .map(|c| c.as_str().to_string());
    let facts = check_facts(&mut checks, b.facts.as_deref().unwrap_or_default());
    let notes = checks.optional_text("notes", b.notes.as_deref(), 20_000).unwrap_or_default();
    let region = b.region.as_deref().map(|r| check_region(&mut checks, r));
    let external_ref = checks.optional_text("external_ref", b.external_ref.as_deref(), 200);
    let team_id = match (&b.team_id, caller.is_admin()) {
        (Some(team), true) => Some(team.clone()),
        (Some(team), false) if Some(team) != caller.team_id.as_ref() => {
            checks.add("team_id", "other_team", "you can only create customers in your own team");
            None
        }
        _ => caller.team_id.clone(),
    };
    checks.finish()?;
    let owner = b.owner_agent_id.clone();
    let do_not_call = b.do_not_call.unwrap_or(false);
    let now = state.clock.now().timestamp_millis();
    idempotent_write(&state, &caller, &req, &body.raw, StatusCode::CREATED, move |conn| {
        if let Some(team) = &team_id {
            if teams::find(conn, team)?.is_none() {
                return Err(AppError::invalid("team_id", "unknown_team", format!("team `{team}` does not exist")));
            }
        }
        if let Some(o) = &owner {
            service::access::team_agent(conn, "owner_agent_id", o, team_id.as_deref())?;
        }
        let customer = Customer {
            id: new_id("cus"),
            name,
            phone,
            email,
            time_zone,
            locale,
            contact_window,
            preferred_channel,
            owner_agent_id: owner,
            team_id,
            notes,
            facts,
            external_ref,
            do_not_call,
            region,
            created_at: now,
            updated_at: now,
        };
        customers::insert(conn, &customer)?;
        to_json(CustomerOut::from(customer))
    })
    .await
}

/// Changes a customer.
#[utoipa::path(patch, path = "/api/v1/customers/{id}", tag = "customers", request_body = CustomerPatchBody,
    params(("id" = String, Path)),
    responses((status = 200, body = CustomerOut), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: Body<CustomerPatchBody>,
) -> Result<HttpResponse, AppError> {
    let b = body.value;
    let mut checks = Checks::default();
    let mut changes = CustomerChanges { updated_at: state.clock.now().timestamp_millis(), ..Default::default() };
    changes.name = b.name.as_deref().map(|n| checks.text("name", n, 200));
    changes.time_zone = b.time_zone.as_deref().map(|z| checks.zone("time_zone", z));
    changes.locale = b.locale.as_deref().map(|l| checks.locale("locale", l));
    changes.phone = b.phone.as_deref().map(|p| checks.optional_text("phone", Some(p), 50));
    changes.email = b.email.as_deref().map(|e| if e.trim().is_empty() { None } else { Some(checks.email("email", e)) });
    changes.contact_window = b.contact_window.as_ref().map(|w| checks.window("contact_window", w));
    changes.preferred_channel = b
        .preferred_channel
        .as_deref()
        .map(|c| checks.vocab::<Channel>("preferred_channel", c).map(|c| c.as_str().to_string()));
    changes.facts = b.facts.as_deref().map(|f| check_facts(&mut checks, f));
    changes.notes = b.notes.as_deref().map(|n| checks.optional_text("notes", Some(n), 20_000).unwrap_or_default());
    changes.do_not_call = b.do_not_call;
    changes.region =
        b.region.as_deref().map(|r| if r.trim().is_empty() { None } else { Some(check_region(&mut checks, r)) });
    changes.external_ref = b.external_ref.as_deref().map(|r| checks.optional_text("external_ref", Some(r), 200));
    checks.finish()?;
    let owner = b.owner_agent_id;
    let id = id.into_inner();
    let customer = state
        .db
        .write(move |conn| {
            let customer = visible_customer(conn, &caller, &id)?;
            if let Some(o) = owner {
                service::access::team_agent(conn, "owner_agent_id", &o, customer.team_id.as_deref())?;
                changes.owner_agent_id = Some(Some(o));
            }
            customers::update(conn, &customer.id, &changes)?;
            customers::find(conn, &customer.id)?.ok_or_else(|| AppError::not_found("customer", id))
        })
        .await?;
    Ok(HttpResponse::Ok().json(CustomerOut::from(customer)))
}
