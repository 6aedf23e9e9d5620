//! Building and running the HTTP server.

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{http::header, web, App, HttpResponse, HttpServer};
use utoipa_swagger_ui::SwaggerUi;

use crate::auth;
use crate::error;
use crate::middleware;
use crate::openapi;
use crate::routes;
use crate::state::AppState;

/// How the HTTP server behaves.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub workers: Option<usize>,
    pub max_body_bytes: usize,
    pub shutdown_timeout: Duration,
}

/// A bound, not yet awaited server: await `server` to run it; `handle`
/// stops it gracefully. SIGTERM and SIGINT stop it gracefully too.
pub struct BoundServer {
    pub server: actix_web::dev::Server,
    pub handle: actix_web::dev::ServerHandle,
    pub addr: SocketAddr,
}

/// The application: state, extractor limits and error mapping, middleware,
/// every route, the Swagger UI and the JSON 404 for everything else.
pub fn app(
    state: web::Data<AppState>,
    max_body_bytes: usize,
    openapi_doc: utoipa::openapi::OpenApi,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .app_data(
            web::JsonConfig::default()
                .limit(max_body_bytes)
                .error_handler(error::json_error),
        )
        .app_data(web::PayloadConfig::default().limit(max_body_bytes))
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        .app_data(middleware::BodyLimit(max_body_bytes))
        .wrap(actix_web::middleware::from_fn(middleware::inflate_bounded))
        .wrap(actix_web::middleware::from_fn(auth::authenticate))
        .wrap(actix_web::middleware::from_fn(middleware::normalize_errors))
        .wrap(actix_web::middleware::from_fn(middleware::observe))
        .configure(routes::configure)
        .service(
            routes::resource("/docs", &["GET"]).route(web::get().to(|| async {
                HttpResponse::PermanentRedirect()
                    .insert_header((header::LOCATION, "/docs/"))
                    .finish()
            })),
        )
        .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", openapi_doc))
        .default_service(web::to(routes::not_found))
}

/// Pending connections the kernel queues for the listener (actix-web's default).
const BACKLOG: i32 = 1024;

/// Binds the listening socket, as actix-web would (address reuse, backlog),
/// so that start-up can claim the address before touching anything else and
/// hand the socket to [`serve`]. Port 0 picks a free port.
pub fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Builds the server on a listener from [`listen`]; `addr` tells where it is.
pub fn serve(
    state: web::Data<AppState>,
    listener: std::net::TcpListener,
    options: &HttpOptions,
) -> std::io::Result<BoundServer> {
    let addr = listener.local_addr()?;
    let max_body = options.max_body_bytes;
    let openapi_doc = openapi::document();
    let mut http = HttpServer::new(move || app(state.clone(), max_body, openapi_doc.clone()))
        .shutdown_timeout(options.shutdown_timeout.as_secs());
    if let Some(workers) = options.workers {
        http = http.workers(workers.max(1));
    }
    let server = http.listen(listener)?.run();
    let handle = server.handle();
    Ok(BoundServer {
        server,
        handle,
        addr,
    })
}
