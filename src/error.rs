//! The error policy: repo code returns diesel's `QueryResult`, domain code returns its own precise errors, and
//! handlers turn everything into [`AppError`], which answers as RFC 9457 `application/problem+json` naming the
//! field and the reason. Internal details are logged, never sent to the client.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::Value;

/// One problem with one input field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field, as a JSON path in the request body or the query parameter's name.
    pub field: String,
    /// A stable snake_case code, e.g. `unknown_time_zone`.
    pub code: String,
    /// A sentence for humans.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: impl Into<String>, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), code: code.into(), message: message.into() }
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// Field-level problems, for validation failures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extra, problem-specific members (e.g. `current_status`, `nearest_slots`).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub extra: Option<Value>,
}

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the request could not be read (bad JSON, wrong types, bad query string).
    #[error("{detail}")]
    BadRequest { detail: String, errors: Vec<FieldError> },
    /// 401: no token, or a token that is not valid.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated, but the role or team does not allow it.
    #[error("{0}")]
    Forbidden(String),
    /// 404: the named resource does not exist (or is not visible to the caller).
    #[error("{resource} `{id}` not found")]
    NotFound { resource: &'static str, id: String },
    /// 409: the resource is in a state that does not allow the change, or its version moved on.
    #[error("{detail}")]
    Conflict { detail: String, extra: Option<Value> },
    /// 413: the body is over the limit.
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// 422: well-formed but semantically wrong (unknown zone, a time that does not exist, outside the window...).
    #[error("{detail}")]
    Unprocessable { detail: String, errors: Vec<FieldError>, extra: Option<Value> },
    /// 503: the database is not reachable.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug or an unexpected failure; details are logged only.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    /// A 422 for one field.
    pub fn invalid(field: impl Into<String>, code: impl Into<String>, message: impl Into<String>) -> Self {
        let error = FieldError::new(field, code, message);
        Self::Unprocessable { detail: error.message.clone(), errors: vec![error], extra: None }
    }

    /// A 422 for several fields at once.
    pub fn invalid_fields(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => one.message.clone(),
            _ => format!("{} fields are invalid", errors.len()),
        };
        Self::Unprocessable { detail, errors, extra: None }
    }

    /// A 400 for one field that could not be read at all.
    pub fn malformed(field: impl Into<String>, message: impl Into<String>) -> Self {
        let error = FieldError::new(field, "malformed", message);
        Self::BadRequest { detail: error.message.clone(), errors: vec![error] }
    }

    /// A 404 for a resource kind and id.
    pub fn not_found(resource: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound { resource, id: id.into() }
    }

    /// A 409 with a detail.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::Conflict { detail: detail.into(), extra: None }
    }

    fn slug_and_title(&self) -> (&'static str, &'static str) {
        match self {
            Self::BadRequest { .. } => ("malformed-request", "Malformed request"),
            Self::Unauthorized(_) => ("unauthorized", "Authentication required"),
            Self::Forbidden(_) => ("forbidden", "Not allowed"),
            Self::NotFound { .. } => ("not-found", "Not found"),
            Self::Conflict { .. } => ("conflict", "Conflict with the current state"),
            Self::PayloadTooLarge { .. } => ("payload-too-large", "Request body too large"),
            Self::Unprocessable { .. } => ("validation-failed", "The request is not valid"),
            Self::Unavailable(_) => ("unavailable", "Service unavailable"),
            Self::Internal(_) => ("internal", "Internal error"),
        }
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        let (slug, title) = self.slug_and_title();
        let status = self.status_code().as_u16();
        let (errors, extra) = match self {
            Self::BadRequest { errors, .. } => (errors.clone(), None),
            Self::Unprocessable { errors, extra, .. } => (errors.clone(), extra.clone()),
            Self::Conflict { extra, .. } => (Vec::new(), extra.clone()),
            _ => (Vec::new(), None),
        };
        let detail = match self {
            Self::Internal(_) => "an unexpected error occurred; it has been logged".to_string(),
            other => other.to_string(),
        };
        Problem { kind: format!("/problems/{slug}"), title: title.into(), status, detail, errors, extra }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(e) = self {
            tracing::error!(error = ?e, "internal error");
        }
        let mut response = HttpResponse::build(self.status_code());
        if let Self::Unauthorized(_) = self {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        response.content_type("application/problem+json").json(self.problem())
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => Self::NotFound { resource: "record", id: String::new() },
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                Self::conflict(format!("already exists: {}", info.message()))
            }
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => Self::invalid(
                "",
                "unknown_reference",
                format!("a referenced record does not exist: {}", info.message()),
            ),
            // Two transactions that waited on each other's rows (PostgreSQL aborts one of them): nothing of this
            // request was kept, and the same request again will go through.
            Error::DatabaseError(kind, info)
                if matches!(kind, DatabaseErrorKind::SerializationFailure)
                    || info.message().starts_with("deadlock detected") =>
            {
                Self::Unavailable(format!("a concurrent change got in the way; try again ({})", info.message()))
            }
            other => Self::Internal(other.into()),
        }
    }
}
