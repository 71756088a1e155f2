//! Logging in and out of the web pages: argon2 passwords, a session cookie (HttpOnly, SameSite=Lax, Secure behind
//! TLS) whose secret is stored hashed, a CSRF token per session, and a limit on failed logins.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::{html, see_other, WebState};
use crate::app::AppState;
use crate::auth::{caller_of, verify_password, Caller, SESSION_COOKIE};
use crate::error::AppError;
use crate::repo;
use crate::repo::agents::Agent;

/// How long a login lasts: a working day and then some.
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// The cookie carrying the login form's CSRF token before there is a session (double-submit).
const LOGIN_CSRF_COOKIE: &str = "tendero_login_csrf";

/// Failed logins allowed per email and per client address within [`LIMIT_WINDOW`].
const LIMIT_FAILURES: usize = 5;
const LIMIT_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Counts recent failed logins per key (an email or a client address).
#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl LoginLimiter {
    fn blocked(&self, keys: &[String]) -> bool {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        keys.iter().any(|k| {
            let list = map.entry(k.clone()).or_default();
            list.retain(|t| now.duration_since(*t) < LIMIT_WINDOW);
            list.len() >= LIMIT_FAILURES
        })
    }

    fn fail(&self, keys: &[String]) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded memory: an attacker spraying addresses cannot grow the map without limit.
        if map.len() > 100_000 {
            map.clear();
        }
        for k in keys {
            map.entry(k.clone()).or_default().push(Instant::now());
        }
    }

    fn succeed(&self, email_key: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(email_key);
    }
}

/// The agent logged in to the pages.
#[derive(Clone, Debug)]
pub struct WebUser {
    /// As an API caller.
    pub caller: Caller,
    /// The agent row (zone, locale).
    pub agent: Agent,
    /// The session's CSRF token.
    pub csrf: String,
}

impl WebUser {
    /// The page context every template expects.
    pub fn context(&self, page: &str, title: &str) -> serde_json::Value {
        json!({
            "page": page,
            "title": title,
            "csrf": self.csrf,
            "me": { "id": self.agent.id, "name": self.agent.name, "role": self.agent.role,
                    "is_manager": self.agent.role != "agent" },
        })
    }

    /// Refuses a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, token: Option<&str>) -> Result<(), AppError> {
        if token == Some(self.csrf.as_str()) {
            Ok(())
        } else {
            Err(AppError::Forbidden("the form is stale or came from another site; reload the page and retry".into()))
        }
    }
}

impl FromRequest for WebUser {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    /// Without a live session, the page answers with a redirect to the login form (and back afterwards).
    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let cookie = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string());
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let next = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
        Box::pin(async move {
            let to_login = || {
                let target = format!("/login?next={}", urlencode(&next));
                actix_web::error::InternalError::from_response("login required", see_other(&target)).into()
            };
            let (Some(state), Some(secret)) = (state, cookie) else { return Err(to_login()) };
            let now = state.clock.now().timestamp_millis();
            let found = state
                .db
                .read(move |conn| Ok(repo::sessions::find(conn, &secret, now)?))
                .await
                .map_err(actix_web::Error::from)?;
            let Some((session, agent)) = found else { return Err(to_login()) };
            let caller = caller_of(agent.clone()).map_err(actix_web::Error::from)?;
            Ok(WebUser { caller, agent, csrf: session.csrf_token })
        })
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Only local paths are followed after login, so the form cannot be used to send people elsewhere.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/agenda".to_string(),
    }
}

fn secure(state: &AppState) -> bool {
    state.public_url.starts_with("https://")
}

/// Query of the login form.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// `GET /login`.
pub async fn login_form(
    state: web::Data<AppState>,
    web_state: web::Data<WebState>,
    req: HttpRequest,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, AppError> {
    render_login(&state, &web_state, &req, query.next.as_deref(), "", None, StatusCode::OK)
}

fn render_login(
    state: &AppState,
    web_state: &WebState,
    req: &HttpRequest,
    next: Option<&str>,
    email: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let locale = accept_language(req);
    let token = repo::tokens::generate_secret();
    let mut context = json!({ "page": "login", "title": web_state.pages.text(&locale, "login_title"),
                              "csrf": token, "next": safe_next(next), "email": email });
    if let Some(key) = error {
        context["errors"] = json!([{ "field": "", "message": web_state.pages.text(&locale, key) }]);
    }
    let body = web_state.pages.render("login", &locale, context)?;
    let mut response = html(status, body);
    let cookie = Cookie::build(LOGIN_CSRF_COOKIE, token)
        .path("/login")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure(state))
        .finish();
    response.add_cookie(&cookie).map_err(|e| AppError::Internal(e.into()))?;
    Ok(response)
}

/// The browser's preferred language, for pages shown before anyone logs in.
fn accept_language(req: &HttpRequest) -> String {
    req.headers()
        .get(actix_web::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .unwrap_or("en")
        .to_string()
}

/// The login form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    csrf: String,
    next: Option<String>,
}

/// `POST /login`.
pub async fn login(
    state: web::Data<AppState>,
    web_state: web::Data<WebState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    if form.email.contains('\0') || form.password.contains('\0') {
        let field = if form.email.contains('\0') { "email" } else { "password" };
        return Err(crate::routes::api::nul_error(field, "the value"));
    }
    let expected = req.cookie(LOGIN_CSRF_COOKIE).map(|c| c.value().to_string());
    if expected.as_deref() != Some(form.csrf.as_str()) {
        return Err(AppError::Forbidden("the login form is stale; reload it and retry".into()));
    }
    let email = form.email.trim().to_lowercase();
    let address = req.connection_info().realip_remote_addr().unwrap_or("unknown").to_string();
    let keys = [format!("email:{email}"), format!("ip:{address}")];
    if web_state.limiter.blocked(&keys) {
        return render_login(
            &state,
            &web_state,
            &req,
            form.next.as_deref(),
            &email,
            Some("login_limited"),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let now = state.clock.now().timestamp_millis();
    let lookup = email.clone();
    let agent = state.db.read(move |conn| Ok(repo::agents::find_by_email(conn, &lookup)?)).await?;
    let password = form.password;
    // argon2 is deliberately slow; it runs off the async workers.
    let verified = match agent {
        Some(agent) if agent.active && agent.password_hash.is_some() => {
            let hash = agent.password_hash.clone().unwrap_or_default();
            let ok = web::block(move || verify_password(&password, &hash))
                .await
                .map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
            ok.then_some(agent)
        }
        _ => None,
    };
    let Some(agent) = verified else {
        web_state.limiter.fail(&keys);
        return render_login(
            &state,
            &web_state,
            &req,
            form.next.as_deref(),
            &email,
            Some("login_failed"),
            StatusCode::UNAUTHORIZED,
        );
    };
    web_state.limiter.succeed(&keys[0]);
    let ttl = SESSION_TTL.as_millis() as i64;
    let agent_id = agent.id.clone();
    let (_, secret) = state.db.write(move |conn| Ok(repo::sessions::open(conn, &agent_id, now, ttl)?)).await?;
    let cookie = Cookie::build(SESSION_COOKIE, secret)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure(&state))
        .max_age(actix_web::cookie::time::Duration::seconds(SESSION_TTL.as_secs() as i64))
        .finish();
    let mut response = see_other(&safe_next(form.next.as_deref()));
    response.add_cookie(&cookie).map_err(|e| AppError::Internal(e.into()))?;
    Ok(response)
}

/// The logout form.
#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

/// `POST /logout`: ends the session and clears the cookie.
pub async fn logout(
    state: web::Data<AppState>,
    user: WebUser,
    req: HttpRequest,
    form: web::Form<LogoutForm>,
) -> Result<HttpResponse, AppError> {
    user.check_csrf(Some(&form.csrf))?;
    if let Some(secret) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string()) {
        state.db.write(move |conn| Ok(repo::sessions::close(conn, &secret)?)).await?;
    }
    let mut response = see_other("/login");
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").http_only(true).same_site(SameSite::Lax).finish();
    gone.make_removal();
    response.add_cookie(&gone).map_err(|e| AppError::Internal(e.into()))?;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(safe_next(Some("/customers/cus_1")), "/customers/cus_1");
        assert_eq!(safe_next(Some("//evil.example")), "/agenda");
        assert_eq!(safe_next(Some("https://evil.example")), "/agenda");
        assert_eq!(safe_next(None), "/agenda");
    }

    #[test]
    fn the_limiter_blocks_after_five_failures_and_forgets_on_success() {
        let limiter = LoginLimiter::default();
        let keys = ["email:a@b".to_string(), "ip:1".to_string()];
        for _ in 0..LIMIT_FAILURES {
            assert!(!limiter.blocked(&keys));
            limiter.fail(&keys);
        }
        assert!(limiter.blocked(&keys));
        limiter.succeed("email:a@b");
        // The address is still over the limit.
        assert!(limiter.blocked(&keys));
        assert!(!limiter.blocked(&["email:a@b".to_string()]));
    }
}
