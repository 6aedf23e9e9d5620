//! Attestations (WCP §5.10): unsigned hash attestations (the SDK contract's
//! `PUT …/attest`), signed capability cards, the worker's attestation status
//! and operator approval. The use cases are `service::attest`; the tenant's
//! attestation policy is `routes::policy`.

use actix_web::http::StatusCode;
use actix_web::web;
use attestation::package::is_sha256_hex;
use attestation::{AttestationStatus, CapabilityCard};
use registry::attestations::{Attestation, Provenance};
use registry::workers::WorkerRef;
use registry::Scope;
use serde::Deserialize;
use service::attest::{AttestCommand, AttestError, Submission};
use utoipa::ToSchema;
use wcp::SpeciesId;

pub use api_types::attestations::{AttestationStatusView, AttestationView};

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::routes::worker_ref;
use crate::routes::{resource, text_field, JsonBody};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api/v1/workers/{id}/attest", &["PUT"]).route(web::put().to(attest_hash)),
    )
    .service(
        resource("/api/v1/workers/{id}/attestations", &["POST"]).route(web::post().to(attest_card)),
    )
    .service(
        resource("/api/v1/workers/{id}/attestation", &["GET"])
            .route(web::get().to(attestation_status)),
    )
    .service(
        resource("/api/v1/attestations/{attestation_id}/approve", &["POST"])
            .route(web::post().to(approve)),
    );
}

/// The provenance fields of an attestation body (where the package came
/// from, as the SDKs report it), read with the body's own fields (not
/// `#[serde(flatten)]`, so a malformed one is named in errors).
macro_rules! with_provenance {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            pub label: Option<String>,
            #[serde(default)]
            pub ai_generated: bool,
            pub ai_service: Option<String>,
            pub ai_model: Option<String>,
            pub ai_session_id: Option<String>,
            /// The Go and TypeScript SDKs' name for `ai_session_id`; sending
            /// both with different values is refused.
            pub ai_session_fingerprint: Option<String>,
        }

        impl $name {
            /// The provenance fields, checked as free text.
            fn provenance(&self) -> Result<Provenance, ApiError> {
                let session = one_of(
                    ("ai_session_id", &self.ai_session_id),
                    ("ai_session_fingerprint", &self.ai_session_fingerprint),
                )?;
                Ok(Provenance {
                    label: optional_text("label", &self.label, 200)?,
                    ai_generated: self.ai_generated,
                    ai_service: optional_text("ai_service", &self.ai_service, 200)?,
                    ai_model: optional_text("ai_model", &self.ai_model, 200)?,
                    ai_session_id: optional_text(session.0, session.1, 500)?,
                    ..Provenance::default()
                })
            }
        }
    };
}

with_provenance! {
    #[derive(Debug, Deserialize, ToSchema)]
    pub struct AttestHash {
        /// The worker's canonical package hash: 64 lowercase hex characters.
        /// Required unless `package_hash` is sent.
        #[schema(example = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")]
        pub sha256: Option<String>,
        /// The Go and TypeScript SDKs' name for `sha256`; sending both with
        /// different values is refused.
        pub package_hash: Option<String>,
        /// The worker (Go SDK), `wrk_…` or its WCP worker id: when sent, it
        /// must be the worker of the path.
        pub worker_id: Option<String>,
        /// The species the package implements (`wrk.<domain>.<role>`): when
        /// the worker is registered with a species, it must be that one.
        #[schema(example = "wrk.doc.summarizer")]
        pub worker_species_id: Option<String>,
        /// The package's version (recorded).
        #[schema(example = "1.2.0")]
        pub worker_version: Option<String>,
        /// Where the package's manifest is (recorded).
        #[schema(example = "workers/summarizer/manifest.json")]
        pub manifest_path: Option<String>,
    }
}

with_provenance! {
    #[derive(Debug, Deserialize, ToSchema)]
    pub struct AttestCard {
        /// The capability card: `worker_id`, `worker_species_id`?, `capabilities`,
        /// `sha256`, `issued_at`, `expires_at`?, `kid`.
        #[schema(value_type = Object)]
        pub card: serde_json::Value,
        /// Ed25519 signature over the card's canonical bytes (base64 or hex).
        pub signature: String,
    }
}

/// An attestation as the API shows it.
fn view(a: Attestation) -> AttestationView {
    let attested_at = (a.verdict.status == AttestationStatus::Attested).then(|| a.accepted_at());
    AttestationView {
        id: a.id,
        worker_id: a.worker_id,
        namespace: a.namespace.to_string(),
        package_hash: a.sha256.clone(),
        sha256: a.sha256,
        status: a.verdict.status.as_str().to_string(),
        reason: a.verdict.reason,
        kind: a.kind.as_str().to_string(),
        signed_by: a.signed_by,
        attested_at,
        created_at: a.created_at,
        label: a.label,
        ai_generated: a.ai_generated,
        ai_service: a.ai_service,
        ai_model: a.ai_model,
        worker_species_id: a.worker_species_id,
        worker_version: a.worker_version,
        manifest_path: a.manifest_path,
    }
}

/// The value of a field that has an alias: whichever is sent, named as sent
/// (`None` when neither is); both with different values are refused.
fn one_of<'a>(
    field: (&'static str, &'a Option<String>),
    alias: (&'static str, &'a Option<String>),
) -> Result<(&'static str, &'a Option<String>), ApiError> {
    match (field.1, alias.1) {
        (Some(a), Some(b)) if a != b => Err(ApiError::bad_request(
            "invalid_request",
            format!(
                "{} and {} are the same field under two names and differ; send one of them",
                field.0, alias.0
            ),
        )),
        (None, Some(_)) => Ok(alias),
        _ => Ok(field),
    }
}

fn optional_text(
    field: &str,
    value: &Option<String>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    value
        .as_deref()
        .map(|v| text_field(field, v, max))
        .transpose()
}

impl From<AttestError> for ApiError {
    /// What a refused submission tells the caller.
    fn from(e: AttestError) -> Self {
        let message = e.to_string();
        match e {
            AttestError::UnknownWorker(_) => ApiError::not_found(message),
            AttestError::WorkerRevoked(_) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message)
            }
            AttestError::CardForOtherWorker { .. }
            | AttestError::BodyForOtherWorker { .. }
            | AttestError::SpeciesMismatch { .. }
            | AttestError::SignatureMalformed(_) => {
                ApiError::bad_request("invalid_request", message)
            }
            AttestError::Store(e) => e.into(),
        }
    }
}

/// Records the attestation of the worker at `path`.
async fn record(
    principal: &Principal,
    state: &AppState,
    path: &str,
    submission: Submission,
    named_in_body: Option<WorkerRef>,
    provenance: impl FnOnce() -> Result<Provenance, ApiError>,
) -> Result<AttestationView, ApiError> {
    let command = AttestCommand {
        tenant: principal.tenant_id.clone(),
        worker: worker_ref(path)?,
        submission,
        provenance: provenance()?,
        named_in_body,
    };
    Ok(view(state.hall.attest(command).await?))
}

/// Attest a worker's package hash (`workers:write`), as the 0.3.0 SDKs do:
/// the Python body (`sha256`, `ai_session_id`) or the Go/TypeScript one
/// (`package_hash`, `ai_session_fingerprint`, `worker_id`?,
/// `worker_species_id`, `worker_version`, `manifest_path`?). One of `sha256`
/// and `package_hash` is required; sent together they (like the two session
/// fields) must be equal. `worker_id`, when sent, must name the path's
/// worker, and `worker_species_id` the species the worker is registered with.
#[utoipa::path(put, path = "/api/v1/workers/{id}/attest", tag = "contract",
    params(("id" = String, Path, description = "`wrk_…` or the WCP worker id")),
    request_body = AttestHash, security(("bearer" = [])),
    responses((status = 200, body = AttestationView),
        (status = 400, description = "sha256 (or package_hash) missing or not 64 lowercase hex, \
            sha256 and package_hash (or ai_session_id and ai_session_fingerprint) differ, \
            worker_id is not the path's worker, worker_species_id is not the worker's species, \
            or a text field is blank, too long or has control characters", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "Worker revoked", body = ErrorBody)))]
pub async fn attest_hash(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: JsonBody<AttestHash>,
) -> Result<web::Json<AttestationView>, ApiError> {
    principal.require(Scope::WorkersWrite)?;
    let body = body.into_inner();
    let (field, sha256) = match one_of(
        ("sha256", &body.sha256),
        ("package_hash", &body.package_hash),
    )? {
        (field, Some(sha256)) => (field, sha256),
        (_, None) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "sha256 (or package_hash) is required",
            ))
        }
    };
    if !is_sha256_hex(sha256) {
        return Err(ApiError::bad_request(
            "invalid_sha256",
            format!("{field} must be 64 lowercase hex characters"),
        ));
    }
    let named_in_body = body
        .worker_id
        .as_deref()
        .map(WorkerRef::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_request", e.field("worker_id").to_string()))?;
    let worker_species_id = body
        .worker_species_id
        .as_deref()
        .map(SpeciesId::parse)
        .transpose()
        .map_err(|e| {
            ApiError::bad_request("invalid_request", e.field("worker_species_id").to_string())
        })?;
    let provenance = || {
        Ok(Provenance {
            worker_species_id,
            worker_version: optional_text("worker_version", &body.worker_version, 100)?,
            manifest_path: optional_text("manifest_path", &body.manifest_path, 1000)?,
            ..body.provenance()?
        })
    };
    let submission = Submission::Hash(sha256.clone());
    let view = record(
        &principal,
        &state,
        &path,
        submission,
        named_in_body,
        provenance,
    )
    .await?;
    Ok(web::Json(view))
}

/// Submit a signed capability card (`workers:write`). The signature must
/// verify with an active key of the worker's own namespace, and the card must
/// match the worker. Well-formed cards are recorded even when denied.
#[utoipa::path(post, path = "/api/v1/workers/{id}/attestations", tag = "workers",
    params(("id" = String, Path)), request_body = AttestCard, security(("bearer" = [])),
    responses((status = 201, body = AttestationView),
        (status = 400, description = "Malformed card or signature", body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn attest_card(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: JsonBody<AttestCard>,
) -> Result<actix_web::HttpResponse, ApiError> {
    principal.require(Scope::WorkersWrite)?;
    let body = body.into_inner();
    let card = CapabilityCard::parse(&body.card)
        .map_err(|e| ApiError::bad_request("invalid_card", e.to_string()))?;
    let submission = Submission::Card {
        card,
        signature: body.signature.clone(),
    };
    let view = record(&principal, &state, &path, submission, None, || {
        body.provenance()
    })
    .await?;
    Ok(actix_web::HttpResponse::Created().json(view))
}

/// A worker's attestation status (`read`): that of its latest attestation,
/// judged against today's ban list and keys.
#[utoipa::path(get, path = "/api/v1/workers/{id}/attestation", tag = "workers",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = AttestationStatusView), (status = 404, body = ErrorBody)))]
pub async fn attestation_status(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<AttestationStatusView>, ApiError> {
    principal.require(Scope::Read)?;
    let worker = worker_ref(&path)?;
    let found = state
        .hall
        .latest_attestation(&principal.tenant_id, worker)
        .await?;
    Ok(web::Json(match found.latest {
        None => AttestationStatusView {
            worker_id: found.worker_id.to_string(),
            status: "none".into(),
            artifact_hash: None,
            attested_at: None,
            signed_by: None,
            reason: Some("no attestation has been submitted".into()),
        },
        Some(a) => {
            let view = view(a);
            AttestationStatusView {
                worker_id: view.worker_id,
                status: view.status,
                artifact_hash: Some(view.sha256),
                attested_at: view.attested_at,
                signed_by: view.signed_by,
                reason: view.reason,
            }
        }
    }))
}

/// Approve a pending attestation (operator only).
#[utoipa::path(post, path = "/api/v1/attestations/{attestation_id}/approve", tag = "workers",
    params(("attestation_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = AttestationView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "Not pending", body = ErrorBody)))]
pub async fn approve(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<AttestationView>, ApiError> {
    principal.require_operator()?;
    let a = state.hall.approve_attestation(&path).await?;
    Ok(web::Json(view(a)))
}

#[cfg(test)]
mod tests {
    use actix_web::ResponseError;

    use super::*;

    /// Status, code and message as clients read them.
    fn read(e: AttestError) -> (u16, String, String) {
        let api = ApiError::from(e);
        let body = api.body().error;
        (api.status_code().as_u16(), body.code, body.message)
    }

    #[test]
    fn refused_submissions_read_as_before() {
        let worker = || registry::workers::WorkerRef::parse("x.acme.w").unwrap();
        let id = |s| wcp::WorkerId::parse(s).unwrap();
        assert_eq!(
            read(AttestError::UnknownWorker(worker())),
            (404, "not_found".into(), "worker x.acme.w not found".into())
        );
        assert_eq!(
            read(AttestError::WorkerRevoked(worker())),
            (409, "conflict".into(), "worker x.acme.w is revoked".into())
        );
        assert_eq!(
            read(AttestError::CardForOtherWorker {
                card: id("x.acme.other"),
                sent_for: id("x.acme.w"),
            }),
            (
                400,
                "invalid_request".into(),
                "the card is for worker x.acme.other, but it was sent for x.acme.w".into()
            )
        );
        assert_eq!(
            read(AttestError::BodyForOtherWorker {
                body: registry::workers::WorkerRef::parse("x.acme.other").unwrap(),
                path: worker(),
            }),
            (
                400,
                "invalid_request".into(),
                "the body's worker_id x.acme.other is not the worker x.acme.w of the path".into()
            )
        );
        let species = |s| wcp::SpeciesId::parse(s).unwrap();
        assert_eq!(
            read(AttestError::SpeciesMismatch {
                claimed: species("wrk.doc.translator"),
                registered: species("wrk.doc.summarizer"),
                worker: id("x.acme.w"),
            }),
            (
                400,
                "invalid_request".into(),
                "worker_species_id wrk.doc.translator does not match the species \
                 wrk.doc.summarizer worker x.acme.w is registered with"
                    .into()
            )
        );
        let Err(malformed) = attestation::card::parse_signature("not a signature") else {
            panic!("a signature")
        };
        let why = malformed.to_string();
        assert_eq!(
            read(AttestError::SignatureMalformed(malformed)),
            (400, "invalid_request".into(), why)
        );
        let missing = registry::StoreError::NotFound(registry::Entity::Attestation("att_x".into()));
        assert_eq!(read(AttestError::Store(missing)).0, 404);
    }
}
