//! Who is calling: the `Caller` of a request, from its Bearer token or else the web session cookie. Lives on the
//! HTTP side so that `auth` (roles and scopes, used by every layer) depends on nothing of it.

use std::future::Future;
use std::pin::Pin;

use actix_web::{web, FromRequest, HttpRequest};

use crate::app::AppState;
use crate::auth::{caller_of, Caller, TokenCache, CSRF_HEADER, SESSION_COOKIE};
use crate::error::AppError;
use crate::repo;

impl FromRequest for Caller {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    /// A Bearer token, or else the web session cookie. With the cookie, a request that changes something must
    /// carry the session's CSRF token in `X-CSRF-Token`, so another site cannot act with the agent's cookie.
    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let header = req.headers().get(actix_web::http::header::AUTHORIZATION).map(|v| v.to_str().map(str::to_owned));
        let cookie = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string());
        let csrf = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let safe = req.method().is_safe();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let state = state.ok_or_else(|| AppError::Internal(anyhow::anyhow!("application state missing")))?;
            let secret = match (header, cookie) {
                (None, Some(cookie)) => {
                    let now = state.clock.now().timestamp_millis();
                    let found = state.db.read(move |conn| Ok(repo::sessions::find(conn, &cookie, now)?)).await?;
                    let (session, agent) =
                        found.ok_or_else(|| AppError::Unauthorized("the session has ended; log in again".into()))?;
                    if !safe && csrf.as_deref() != Some(session.csrf_token.as_str()) {
                        return Err(AppError::Forbidden(
                            "a change made with the session cookie needs the page's X-CSRF-Token header".into(),
                        ));
                    }
                    return caller_of(agent);
                }
                (None, None) => {
                    return Err(AppError::Unauthorized("missing Authorization: Bearer <token> header".into()))
                }
                (Some(Err(_)), _) => {
                    return Err(AppError::Unauthorized("the Authorization header is not valid text".into()))
                }
                (Some(Ok(value)), _) => match value.strip_prefix("Bearer ").map(str::trim) {
                    Some(token) if !token.is_empty() => token.to_string(),
                    _ => {
                        return Err(AppError::Unauthorized("the Authorization header must be `Bearer <token>`".into()))
                    }
                },
            };
            let key = TokenCache::key(&secret);
            if let Some(caller) = state.tokens.get(&key) {
                return Ok(caller);
            }
            let changes = repo::tokens::credential_changes();
            let agent = state.db.read(move |conn| Ok(repo::tokens::authenticate(conn, &secret)?)).await?;
            let agent = agent.ok_or_else(|| AppError::Unauthorized("the token is unknown or revoked".into()))?;
            let caller = caller_of(agent)?;
            state.tokens.put(key, caller.clone(), changes);
            Ok(caller)
        })
    }
}
