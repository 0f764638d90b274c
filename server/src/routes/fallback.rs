//! Answers for unknown routes and wrong methods: JSON errors, never HTML or a 500.

use actix_web::{HttpResponse, ResponseError};

use crate::error::ApiError;

/// Any path no route matches.
pub async fn not_found() -> HttpResponse {
    ApiError::NotFound("The requested URL was not found on the server.".into()).error_response()
}

/// A collection route called with a method other than GET or POST.
pub async fn allow_get_post() -> HttpResponse {
    ApiError::MethodNotAllowed("GET, POST").error_response()
}

/// A compose route called with a method other than GET, PATCH or DELETE.
pub async fn allow_get_patch_delete() -> HttpResponse {
    ApiError::MethodNotAllowed("GET, PATCH, DELETE").error_response()
}

/// A read-only route called with a method other than GET.
pub async fn allow_get() -> HttpResponse {
    ApiError::MethodNotAllowed("GET").error_response()
}
