//! The one error shape of the HTTP API: `{"error": {"code", "message"}}`.
//!
//! Every error the server sends goes through [`ApiError`]: handler errors,
//! extractor errors (malformed JSON, wrong content type, oversize bodies) and,
//! through [`crate::middleware::normalize_errors`], the framework's own
//! responses (unknown route, wrong method).

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{error::JsonPayloadError, HttpRequest, HttpResponse, ResponseError};

pub use api_types::{ErrorBody, ErrorDetail};

#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    allow: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            allow: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn method_not_allowed(method: &str, path: &str, allow: &[&str]) -> Self {
        Self {
            allow: Some(allow.join(", ")),
            ..Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!(
                    "{method} is not allowed on {path}; allowed: {}",
                    allow.join(", ")
                ),
            )
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// A failure of ours. The detail goes to the log, not to the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log has the details (look for this request's id)",
        )
    }

    /// The canonical code for a status the framework produced on its own.
    pub fn for_status(status: StatusCode, method: &str, path: &str) -> Self {
        let (code, message) = match status.as_u16() {
            400 => ("bad_request", "the request is malformed".to_string()),
            404 => ("not_found", format!("no route for {method} {path}")),
            405 => (
                "method_not_allowed",
                format!("{method} is not allowed on {path}"),
            ),
            408 => (
                "request_timeout",
                "the request took too long to arrive".into(),
            ),
            411 => (
                "length_required",
                "a Content-Length header is required".into(),
            ),
            413 => ("payload_too_large", "the request body is too large".into()),
            414 => ("uri_too_long", "the request URI is too long".into()),
            415 => (
                "unsupported_media_type",
                "unsupported Content-Type; send application/json".into(),
            ),
            429 => ("rate_limited", "too many requests".into()),
            431 => (
                "request_header_fields_too_large",
                "request headers are too large".into(),
            ),
            s if s >= 500 => ("internal", "internal error".into()),
            _ => (
                "client_error",
                status.canonical_reason().unwrap_or("error").to_string(),
            ),
        };
        Self::new(status, code, message)
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message.clone(),
            },
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status);
        if let Some(allow) = &self.allow {
            if let Ok(v) = HeaderValue::from_str(allow) {
                resp.insert_header((header::ALLOW, v));
            }
        }
        resp.json(self.body())
    }
}

/// Maps JSON body extraction failures to 400 / 413 / 415.
pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than the {limit}-byte limit"),
        ),
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be JSON, sent with Content-Type: application/json",
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::bad_request(
            "invalid_request",
            crate::routes::body::describe(&e.to_string(), ""),
        ),
        JsonPayloadError::Deserialize(e) => {
            ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {e}"))
        }
        other => ApiError::bad_request("invalid_body", format!("could not read the body: {other}")),
    };
    api.into()
}

/// Maps query-string extraction failures to 400.
pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _req: &HttpRequest,
) -> actix_web::Error {
    use actix_web::error::QueryPayloadError;
    let detail = match &err {
        QueryPayloadError::Deserialize(e) => {
            let msg = e.to_string();
            if msg.starts_with("missing field") || msg.starts_with("unknown field") {
                crate::routes::body::describe(&msg, "")
            } else {
                msg
            }
        }
        other => other.to_string(),
    };
    ApiError::bad_request(
        "invalid_query",
        format!("the query string is invalid: {detail}"),
    )
    .into()
}

/// Maps path-parameter extraction failures to 400.
pub fn path_error(err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::bad_request("invalid_path", format!("invalid path parameter: {err}")).into()
}

impl From<registry::StoreError> for ApiError {
    /// The one place the store's outcomes become what clients read.
    fn from(e: registry::StoreError) -> Self {
        use registry::StoreError as E;
        match e {
            E::NotFound(what) => ApiError::not_found(format!("{} not found", entity(&what))),
            E::Conflict(what, conflict) => conflict_error(&what, &conflict),
            E::Unavailable(e) => {
                tracing::warn!(error = %e, "store unavailable");
                ApiError::unavailable(match e {
                    registry::Unavailable::Database(_) => {
                        "the database is unavailable; retry shortly"
                    }
                    registry::Unavailable::WriterStopped
                    | registry::Unavailable::NotCommitted(_)
                    | registry::Unavailable::CommitUnknown(_) => {
                        "the receipt could not be committed; retry shortly"
                    }
                })
            }
            other => ApiError::internal(other),
        }
    }
}

/// A stored row as clients are told about it.
fn entity(e: &registry::Entity) -> String {
    use registry::Entity as R;
    match e {
        R::Tenant(t) => format!("tenant {t}"),
        R::ApiKey { tenant, name } => format!("API key {name:?} of tenant {tenant}"),
        R::Worker(w) => format!("worker {w}"),
        R::Attestation(a) => format!("attestation {a}"),
        R::Namespace(ns) => format!("namespace {ns}"),
        R::PendingClaim(ns) => format!("pending claim on {ns}"),
        R::NamespaceKey { namespace, kid } => format!("signing key {kid} on {namespace}"),
    }
}

fn conflict_error(what: &registry::Entity, conflict: &registry::Conflict) -> ApiError {
    use registry::{Conflict as C, Entity as R};
    let message = match (what, conflict) {
        (R::Worker(w), C::Exists) => format!("worker {w} is already registered"),
        (R::NamespaceKey { kid, .. }, C::Exists) => {
            format!("this public key is already registered (kid {kid})")
        }
        (R::Worker(w), C::Status(s)) => format!("worker {w} is {s} and cannot be changed"),
        (R::Attestation(_), C::Status(s)) => {
            format!("{} is {s}, not pending", entity(what))
        }
        (_, C::Exists) => format!("{} already exists", entity(what)),
        (_, C::Status(s)) => format!("{} is {s}", entity(what)),
    };
    ApiError::new(StatusCode::CONFLICT, "conflict", message)
}

impl From<wcp::IdError> for ApiError {
    /// Name the field first (`e.field("tenant_id")`) when the id came from one.
    fn from(e: wcp::IdError) -> Self {
        ApiError::bad_request("invalid_id", e.to_string())
    }
}

impl From<wcp::VocabError> for ApiError {
    /// Name the field first (`e.field("max_data_label")`) when it is not the
    /// vocabulary's own (`env`, `data_label`, `risk_tier`, `visibility`).
    fn from(e: wcp::VocabError) -> Self {
        ApiError::bad_request("invalid_field", e.to_string())
    }
}

impl From<registry::credentials::ScopeError> for ApiError {
    fn from(e: registry::credentials::ScopeError) -> Self {
        use registry::credentials::ScopeError as E;
        const CHOOSE: &str = "choose from admin, workers:write, decisions:write, read";
        ApiError::bad_request(
            "invalid_scope",
            match e {
                E::Empty => format!("scopes must not be empty; {CHOOSE}"),
                E::Unknown(name) => format!("scopes has an unknown scope {name:?}; {CHOOSE}"),
            },
        )
    }
}

impl From<wcp::PageLimitError> for ApiError {
    /// A `limit` query parameter out of its list's range.
    fn from(e: wcp::PageLimitError) -> Self {
        ApiError::bad_request("invalid_query", e.to_string())
    }
}

impl From<wcp::RecordError> for ApiError {
    fn from(e: wcp::RecordError) -> Self {
        match e {
            wcp::RecordError::Tampered { .. } => {
                ApiError::bad_request("DENY_WORKER_TAMPERED", e.to_string())
            }
            other => ApiError::bad_request("invalid_field", other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use registry::{StoreError, Unavailable};

    #[test]
    fn a_pool_timeout_is_503_unavailable() {
        for e in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(std::io::ErrorKind::ConnectionRefused.into()),
        ] {
            let api = ApiError::from(StoreError::from(e));
            assert_eq!(api.status_code(), StatusCode::SERVICE_UNAVAILABLE, "{api}");
            assert_eq!(api.code(), "unavailable");
        }
    }

    #[test]
    fn a_stopped_receipt_writer_is_503_unavailable() {
        for e in [
            Unavailable::WriterStopped,
            Unavailable::NotCommitted("the batch failed".into()),
            Unavailable::CommitUnknown("connection lost after COMMIT".into()),
        ] {
            let api = ApiError::from(StoreError::from(e));
            assert_eq!(api.status_code(), StatusCode::SERVICE_UNAVAILABLE, "{api}");
            assert_eq!(api.code(), "unavailable");
        }
    }

    #[test]
    fn a_missing_row_is_404_naming_it() {
        let api = ApiError::from(StoreError::NotFound(registry::Entity::Worker(
            "x.wrk.nope".into(),
        )));
        assert_eq!(api.status_code(), StatusCode::NOT_FOUND);
        assert_eq!(api.body().error.message, "worker x.wrk.nope not found");
    }
}
