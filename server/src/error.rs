//! The one error type of the HTTP layer, rendered as the reference's JSON error body.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use odcs_common::api::StatusMessage;
use odcs_common::db::DbError;
use odcs_common::request::InvalidRequest;
use thiserror::Error;

/// Everything a handler can answer besides success.
#[derive(Debug, Error)]
pub enum ApiError {
    /// The request is malformed or asks for something impossible (400).
    #[error("{0}")]
    BadRequest(String),
    /// The caller must be authenticated (401).
    #[error("{0}")]
    Unauthorized(String),
    /// The bearer token is invalid or expired (401, with a `WWW-Authenticate` challenge saying
    /// so).
    #[error("{0}")]
    InvalidToken(String),
    /// Credentials are needed and none (or unusable ones) were given (401), with a
    /// `WWW-Authenticate` challenge per scheme the server accepts (`Bearer realm="ODCS"`,
    /// `Negotiate`).
    #[error("{message}")]
    LoginRequired {
        /// Why the request is refused.
        message: String,
        /// The challenges to send.
        challenges: &'static [&'static str],
    },
    /// The caller may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such resource (404).
    #[error("{0}")]
    NotFound(String),
    /// The resource exists but not with this method (405); holds the allowed methods.
    #[error("The method is not allowed for the requested URL.")]
    MethodNotAllowed(&'static str),
    /// The request is well formed but contradicts one made before (422): an `Idempotency-Key`
    /// reused with another body.
    #[error("{0}")]
    Unprocessable(String),
    /// The body is larger than `max_body_bytes` (413).
    #[error("The request body is larger than the limit of {0} bytes.")]
    PayloadTooLarge(usize),
    /// The database cannot be reached right now (503); the cause is logged, not shown.
    #[error("The service is temporarily unavailable, try again later.")]
    Unavailable,
    /// A bug or an unexpected failure (500); the cause is logged, not shown.
    #[error("Internal server error.")]
    Internal,
}

impl ApiError {
    /// A 500 whose cause is logged once, here.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "request failed");
        ApiError::Internal
    }
}

impl From<InvalidRequest> for ApiError {
    fn from(err: InvalidRequest) -> Self {
        ApiError::BadRequest(err.0)
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(err: diesel::result::Error) -> Self {
        ApiError::internal(err)
    }
}

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::Pool(cause) => {
                tracing::error!(error = %cause, "database unavailable");
                ApiError::Unavailable
            }
            DbError::Connect(cause) => {
                tracing::error!(error = %cause, "database unavailable");
                ApiError::Unavailable
            }
            other => ApiError::internal(other),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_)
            | ApiError::InvalidToken(_)
            | ApiError::LoginRequired { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let body = StatusMessage {
            status: status.as_u16(),
            error: Some(status.canonical_reason().unwrap_or("Error").to_owned()),
            message: self.to_string(),
        };
        let mut response = HttpResponse::build(status);
        if let ApiError::MethodNotAllowed(allowed) = self {
            response.insert_header((header::ALLOW, *allowed));
        }
        if let ApiError::LoginRequired { challenges, .. } = self {
            for challenge in *challenges {
                response.append_header((header::WWW_AUTHENTICATE, *challenge));
            }
        }
        if let ApiError::InvalidToken(reason) = self {
            let description = reason.replace(['"', '\\'], "'");
            response.insert_header((
                header::WWW_AUTHENTICATE,
                format!(
                    "Bearer realm=\"ODCS\", error=\"invalid_token\", error_description=\"{description}\""
                ),
            ));
        }
        response.json(body)
    }
}
