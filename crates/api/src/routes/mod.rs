//! HTTP handlers, one module per area. Handlers parse, call the store or a
//! rule, and map errors; nothing else.

pub mod health;

use actix_web::{web, HttpRequest, Resource};

use crate::error::ApiError;

/// A resource whose unsupported methods get a JSON 405 with an `Allow` header.
pub fn resource(path: &str, allow: &'static [&'static str]) -> Resource {
    web::resource(path).default_service(web::to(move |req: HttpRequest| async move {
        Err::<actix_web::HttpResponse, _>(ApiError::method_not_allowed(
            req.method().as_str(),
            req.path(),
            allow,
        ))
    }))
}

/// Registers every route of the API.
pub fn configure(cfg: &mut web::ServiceConfig) {
    health::configure(cfg);
}

/// The answer for paths no route matches.
pub async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}
