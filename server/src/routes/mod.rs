//! The whole route table, top to bottom. Each path is served with and without its trailing
//! slash (the reference redirects one to the other; answering both saves clients a round trip).

use actix_web::web;

pub mod composes;
pub mod events;
pub mod fallback;
pub mod openapi;
pub mod pages;
pub mod service;

/// Registers every route on `cfg`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/")
            .route(web::get().to(crate::dashboard::list))
            .default_service(web::to(fallback::allow_get)),
    )
    .service(
        web::resource(["/dashboard/composes/{id}", "/dashboard/composes/{id}/"])
            .route(web::get().to(crate::dashboard::detail))
            .default_service(web::to(fallback::allow_get)),
    )
    .service(
        web::resource("/dashboard/assets/{name}")
            .route(web::get().to(crate::dashboard::asset))
            .default_service(web::to(fallback::allow_get)),
    )
    .service(
        web::resource(["/api/1/", "/api/1"])
            .route(web::get().to(pages::api_doc))
            .default_service(web::to(fallback::allow_get)),
    )
    .service(
        web::resource(["/api/1/composes/", "/api/1/composes"])
            .route(web::get().to(composes::list))
            .route(web::post().to(composes::create))
            .default_service(web::to(fallback::allow_get_post)),
    )
    .service(
        web::resource(["/api/1/composes/{id}", "/api/1/composes/{id}/"])
            .route(web::get().to(composes::get))
            .route(web::patch().to(composes::renew))
            .route(web::delete().to(composes::delete))
            .default_service(web::to(fallback::allow_get_patch_delete)),
    )
    .service(
        web::resource([
            "/api/1/composes/{id}/events",
            "/api/1/composes/{id}/events/",
        ])
        .route(web::get().to(events::compose))
        .default_service(web::to(fallback::allow_get)),
    )
    .service(
        web::resource(["/api/1/events", "/api/1/events/"])
            .route(web::get().to(events::all))
            .default_service(web::to(fallback::allow_get)),
    )
    .service(
        web::resource(["/api/1/about/", "/api/1/about"])
            .route(web::get().to(service::about))
            .default_service(web::to(fallback::allow_get)),
    )
    .service(
        web::resource(["/api/1/metrics/", "/api/1/metrics"])
            .route(web::get().to(service::metrics))
            .default_service(web::to(fallback::allow_get)),
    )
    .service(
        web::resource("/api/1/openapi.json")
            .route(web::get().to(openapi::spec))
            .default_service(web::to(fallback::allow_get)),
    )
    .default_service(web::to(fallback::not_found));
}
