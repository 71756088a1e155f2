//! The web pages (DESIGN.md section 9): server-rendered handlebars pages for agents and managers, with a small
//! embedded script for live prompts and the due-time preview. Pages are clients of the API in-process: they call
//! the same handlers, so validation, permissions, the ledger and idempotency are the API's, not a copy of them.

pub mod chart;
mod pages;
pub mod session;

use std::collections::HashMap;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use handlebars::Handlebars;
use serde_json::{json, Value};

use crate::error::{AppError, FieldError};

pub use session::{LoginLimiter, WebUser};

/// Templates of the pages, embedded in the binary: (name, text).
const TEMPLATES: &[(&str, &str)] = &[
    ("layout", include_str!("../../templates/web/layout.hbs")),
    ("login", include_str!("../../templates/web/login.hbs")),
    ("agenda", include_str!("../../templates/web/agenda.hbs")),
    ("customers", include_str!("../../templates/web/customers.hbs")),
    ("customer", include_str!("../../templates/web/customer.hbs")),
    ("promise", include_str!("../../templates/web/promise.hbs")),
    ("dashboard", include_str!("../../templates/web/dashboard.hbs")),
    ("error", include_str!("../../templates/web/error.hbs")),
    ("agenda_items", include_str!("../../templates/web/partials/agenda_items.hbs")),
    ("promise_actions", include_str!("../../templates/web/partials/promise_actions.hbs")),
    ("figures_table", include_str!("../../templates/web/partials/figures_table.hbs")),
];

const STRINGS: &[(&str, &str)] = &[
    ("en", include_str!("../../templates/web/i18n/en.json")),
    ("es", include_str!("../../templates/web/i18n/es.json")),
];

/// Static files served at `/assets/`: (name, content type, bytes).
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.css", "text/css; charset=utf-8", include_str!("../../templates/web/assets/app.css")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("../../templates/web/assets/app.js")),
];

/// The page templates and their strings per language.
pub struct Pages {
    registry: Handlebars<'static>,
    strings: HashMap<&'static str, Value>,
}

impl Pages {
    /// Registers the embedded templates; fails at start, not on a page view, when one does not parse.
    pub fn new() -> anyhow::Result<Self> {
        let mut registry = Handlebars::new();
        // HTML escaping stays on (the default): every customer-provided text goes through it.
        registry.set_dev_mode(false);
        for (name, text) in TEMPLATES {
            registry.register_template_string(name, *text)?;
        }
        let mut strings = HashMap::new();
        for (lang, text) in STRINGS {
            strings.insert(*lang, serde_json::from_str(text)?);
        }
        Ok(Self { registry, strings })
    }

    /// Renders a page for a locale (`es-ES` → Spanish, anything else without strings → English).
    pub fn render(&self, template: &str, locale: &str, mut context: Value) -> Result<String, AppError> {
        let lang = language(locale);
        context["lang"] = json!(lang);
        context["t"] = self.strings.get(lang).cloned().unwrap_or(Value::Null);
        self.registry
            .render(template, &context)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("rendering page {template}: {e}")))
    }

    /// One string of a language.
    pub fn text(&self, locale: &str, key: &str) -> String {
        self.strings.get(language(locale)).and_then(|s| s.get(key)).and_then(Value::as_str).unwrap_or(key).to_string()
    }
}

/// The page language of a locale.
pub fn language(locale: &str) -> &'static str {
    if locale.to_ascii_lowercase().starts_with("es") {
        "es"
    } else {
        "en"
    }
}

/// What the pages share: templates and the login limiter.
pub struct WebState {
    /// Templates.
    pub pages: Pages,
    /// Failed-login counter.
    pub limiter: LoginLimiter,
}

/// Registers the pages and the assets.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(pages::home))
        .route("/login", web::get().to(session::login_form))
        .route("/login", web::post().to(session::login))
        .route("/logout", web::post().to(session::logout))
        .route("/agenda", web::get().to(pages::agenda))
        .route("/customers", web::get().to(pages::customers))
        .route("/customers/{id}", web::get().to(pages::customer))
        .route("/customers/{id}/interactions", web::post().to(pages::log_contact))
        .route("/customers/{id}/promises", web::post().to(pages::make_promise))
        .route("/promises/{id}", web::get().to(pages::promise))
        .route("/promises/{id}/{action}", web::post().to(pages::promise_action))
        .route("/dashboard", web::get().to(pages::dashboard))
        .route("/dashboard.csv", web::get().to(pages::dashboard_csv))
        .route("/assets/{name}", web::get().to(asset));
}

async fn asset(name: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|(n, _, _)| *n == name.as_str()) {
        Some((_, kind, body)) => HttpResponse::Ok()
            .content_type(*kind)
            .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
            .body(*body),
        None => HttpResponse::NotFound().content_type("text/plain").body("no such asset"),
    }
}

/// An HTML answer.
pub fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'"))
        .insert_header(("X-Frame-Options", "DENY"))
        .body(body)
}

/// A 303 redirect after a form.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

/// The field errors of an API refusal, for showing above a form.
pub fn field_errors(err: &AppError) -> Vec<FieldError> {
    let problem = err.problem();
    if problem.errors.is_empty() {
        vec![FieldError::new("", problem.title.to_lowercase().replace(' ', "_"), problem.detail)]
    } else {
        problem.errors
    }
}
