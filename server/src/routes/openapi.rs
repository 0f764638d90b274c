//! The OpenAPI 3 description of the API, generated from the handlers' annotations.

use actix_web::HttpResponse;
use odcs_common::api::{About, ComposeJson, ComposeList, PageMeta, StatusMessage};
use utoipa::OpenApi;

use super::{composes, events, service};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "ODCS",
        description = "On Demand Compose Service, API version 1"
    ),
    paths(
        composes::list,
        composes::create,
        composes::get,
        composes::renew,
        composes::delete,
        events::compose,
        events::all,
        service::about,
        service::metrics,
    ),
    components(schemas(
        ComposeJson,
        ComposeList,
        PageMeta,
        StatusMessage,
        About,
        composes::CreateBody
    ))
)]
pub struct ApiDoc;

/// Serves the description as JSON.
pub async fn spec() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
