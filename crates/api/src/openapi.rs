//! The OpenAPI 3.1 document. `openapi/openapi.json` is this document, checked
//! in; regenerate it with
//! `cargo run --bin hall-registry -- openapi > openapi/openapi.json`.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, ErrorDetail};
use crate::routes::{
    account, api_keys, approvals, attestations, audit, auth, banlist, decisions, discovery, health,
    keys, namespaces, policy, telemetry, tenants, verify, workers,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Hall Registry",
        description = "A self-hostable, multi-tenant registry for WCP (Worker Class Protocol) governance.\n\n\
            Authenticate with `Authorization: Bearer <API key or session token>`, `X-API-Key: <API key>` \
            or the `pyhall_session` cookie. Every error is `{\"error\": {\"code\", \"message\"}}`.",
        license(name = "Apache-2.0")
    ),
    paths(
        health::health, health::readyz, health::metrics,
        tenants::create_tenant, tenants::list_tenants, tenants::get_tenant,
        tenants::suspend_tenant, tenants::reactivate_tenant,
        api_keys::create_api_key, api_keys::list_api_keys, api_keys::revoke_api_key,
        auth::issue_token, auth::whoami,
        account::standing,
        namespaces::check_namespace, namespaces::claim_namespace, namespaces::list_namespaces,
        namespaces::reserve_namespace, namespaces::approve_namespace, namespaces::release_namespace,
        namespaces::transfer_namespace, namespaces::force_release_namespace,
        namespaces::force_transfer_namespace, namespaces::namespace_history, namespaces::add_key,
        namespaces::list_keys, namespaces::revoke_key,
        workers::register_worker, workers::list_workers, workers::get_worker, workers::update_worker,
        workers::revoke_worker,
        verify::verify,
        discovery::capabilities, discovery::workers, discovery::wcp_health, discovery::catalog,
        discovery::import_catalog,
        attestations::attest_hash, attestations::attest_card, attestations::attestation_status,
        attestations::approve, policy::get_policy, policy::put_policy,
        banlist::ban_list, banlist::report, banlist::reports, banlist::confirm, banlist::reject,
        banlist::history, banlist::lift,
        decisions::make_decision, decisions::route, decisions::query_decisions,
        decisions::get_decision, keys::keys, keys::rotate_key,
        approvals::pending, approvals::one, approvals::resolve, approvals::escalate,
        telemetry::report, telemetry::daily_counts, audit::export_receipts,
    ),
    components(schemas(
        ErrorBody, ErrorDetail,
        health::HealthResponse, health::ReadyResponse,
        tenants::CreateTenant, tenants::TenantView, tenants::TenantList,
        api_keys::CreateApiKey, api_keys::ApiKeyView, api_keys::CreatedApiKey, api_keys::ApiKeyList,
        auth::TokenRequest, auth::TokenResponse, auth::WhoAmI,
        account::Standing,
        namespaces::NamespaceStatus, namespaces::ClaimNamespace, namespaces::NamespaceView,
        namespaces::NamespaceList, namespaces::ReserveNamespace, namespaces::TransferNamespace,
        namespaces::AddNamespaceKey, namespaces::NamespaceKeyView, namespaces::NamespaceKeyList,
        namespaces::ForceRelease, namespaces::ForceTransfer, namespaces::NamespaceChangeView,
        namespaces::NamespaceHistory,
        workers::RegisterWorker, workers::WorkerView, workers::WorkerPage,
        verify::VerifyResponse,
        discovery::CapabilityView, discovery::CapabilityList, discovery::WcpWorkerList,
        discovery::Behaviour, discovery::WcpHealth, discovery::CatalogEntityView, discovery::CatalogList,
        discovery::ImportResult,
        attestations::AttestHash, attestations::AttestCard, attestations::AttestationView,
        attestations::AttestationStatusView, policy::AttestationPolicyView, policy::PolicyView,
        banlist::BanEntry, banlist::ReportHash, banlist::ReportView, banlist::ReportList,
        banlist::ReviewNote, banlist::ConfirmedBan, banlist::BanRecord, banlist::BanHistory,
        policy::DecisionPolicyView,
        decisions::DecisionRequest, decisions::EnvName, decisions::DataLabelName, decisions::DecisionView, decisions::DecisionPage,
        keys::PublicKeyView, keys::KeyList, keys::RotatedKey,
        approvals::ApprovalView, approvals::PendingApprovals, approvals::ResolveApproval, approvals::EscalateApproval,
        telemetry::TelemetryEntry, telemetry::TelemetryReport, telemetry::TelemetryAccepted, telemetry::DailyCountView, telemetry::DailyCounts, audit::ReceiptExport, api_types::audit::ReceiptSchema,
    )),
    modifiers(&SecuritySchemes),
    tags(
        (name = "health", description = "Liveness, readiness and metrics"),
        (name = "tenants", description = "Tenants (operator administration)"),
        (name = "api-keys", description = "Scoped, expiring, revocable API keys"),
        (name = "auth", description = "Session tokens, identity and account standing"),
        (name = "namespaces", description = "Authority namespaces and their signing keys"),
        (name = "workers", description = "Worker registration and lifecycle"),
        (name = "contract", description = "Endpoints existing PyHall clients call"),
        (name = "wcp", description = "WCP capability discovery and the catalog"),
        (name = "ban-list", description = "Ban-list review (operator)"),
        (name = "policy", description = "The tenant's policy"),
        (name = "decisions", description = "Decisions, receipts and receipt keys"),
        (name = "approvals", description = "Human approvals of REQUIRE_HUMAN decisions (WCP §5.8)"),
    )
)]
pub struct ApiDoc;

/// The three ways to present a credential.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key (`phk_…`) or a session token"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("pyhall_session"))),
        );
    }
}

/// The document as served at `/openapi.json` and checked in.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Pretty JSON with a trailing newline, byte for byte the checked-in file.
pub fn document_json() -> Result<String, serde_json::Error> {
    let mut json = document().to_pretty_json()?;
    json.push('\n');
    Ok(json)
}
