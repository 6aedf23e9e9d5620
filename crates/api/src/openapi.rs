//! The OpenAPI 3.1 document. `openapi/openapi.json` is this document, checked
//! in; regenerate it with
//! `cargo run --bin hall-registry -- openapi > openapi/openapi.json`.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, ErrorDetail};
use crate::routes::{
    account, api_keys, approvals, attestations, audit, auth, banlist, decisions, discovery,
    dispatches, health, keys, namespaces, policy, route, routing_rules, telemetry, tenants, verify,
    webhooks, workers,
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
        discovery::capabilities, discovery::workers, discovery::contract_workers, discovery::wcp_health, discovery::catalog,
        discovery::import_catalog,
        attestations::attest_hash, attestations::attest_card, attestations::attestation_status,
        attestations::approve, policy::get_policy, policy::put_policy,
        banlist::ban_list, banlist::report, banlist::reports, banlist::confirm, banlist::reject,
        banlist::history, banlist::lift,
        decisions::make_decision, decisions::route, decisions::query_decisions,
        decisions::get_decision, route::route, route::telemetry_events, dispatches::recent_dispatches, keys::keys, keys::rotate_key,
        approvals::pending, approvals::one, approvals::resolve, approvals::escalate,
        telemetry::report, telemetry::daily_counts, audit::export_receipts, audit::latest_checkpoint, audit::checkpoints, audit::inclusion_proof, audit::consistency_proof, audit::cosign_checkpoint, audit::witnesses, audit::register_witness, audit::remove_witness,
        routing_rules::get_rules, routing_rules::put_rules, routing_rules::list_versions,
        routing_rules::get_version, routing_rules::activate_version, routing_rules::test_rules,
        routing_rules::get_snapshots, routing_rules::put_snapshots,
        webhooks::create_webhook, webhooks::list_webhooks, webhooks::get_webhook,
        webhooks::update_webhook, webhooks::delete_webhook, webhooks::rotate_webhook_secret,
        webhooks::list_deliveries, webhooks::redeliver_delivery,
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
        discovery::Behaviour, discovery::Requirement, discovery::WcpHealth, discovery::CatalogEntityView, discovery::CatalogList,
        discovery::ImportResult,
        attestations::AttestHash, attestations::AttestCard, attestations::AttestationView,
        attestations::AttestationStatusView, policy::AttestationPolicyView, policy::PolicyView,
        banlist::BanEntry, banlist::ReportHash, banlist::ReportView, banlist::ReportList,
        banlist::ReviewNote, banlist::ConfirmedBan, banlist::BanRecord, banlist::BanHistory,
        policy::DecisionPolicyView,
        decisions::DecisionRequest, decisions::EnvName, decisions::DataLabelName, decisions::DecisionView, decisions::DecisionPage,
        decisions::RouteCallRequest, route::RouteRequest, route::RouteFields, route::RouteAnswer, route::TenantRiskName, route::QosClassName, route::TelemetryEvents, dispatches::Dispatches,
        keys::PublicKeyView, keys::KeyList, keys::RotatedKey,
        approvals::ApprovalView, approvals::PendingApprovals, approvals::ResolveApproval, approvals::EscalateApproval,
        telemetry::TelemetryEntry, telemetry::TelemetryReport, telemetry::TelemetryAccepted, telemetry::DailyCountView, telemetry::DailyCounts, audit::ReceiptExport, api_types::audit::ReceiptSchema, audit::CheckpointView, audit::CheckpointList, audit::InclusionProofView, audit::ConsistencyProofView, audit::CosignatureView, audit::WitnessView, audit::WitnessList, audit::RegisterWitness, audit::CosignCheckpoint,
        api_types::routing::RulesVersionSummary, api_types::routing::RulesVersionList,
        api_types::routing::RulesVersionView, api_types::routing::ActiveRulesView,
        api_types::routing::RulesActivated, api_types::routing::SnapshotDifference,
        api_types::routing::RulesTestRequest, api_types::routing::RulesTestReport,
        api_types::routing::Snapshots, api_types::routing::SnapshotsFailedBody,
        api_types::routing::SnapshotsFailedDetail,
        api_types::webhooks::CreateWebhook, api_types::webhooks::UpdateWebhook,
        api_types::webhooks::WebhookView, api_types::webhooks::WebhookWithSecret,
        api_types::webhooks::WebhookList, api_types::webhooks::DeliveryView,
        api_types::webhooks::DeliveryList, api_types::webhooks::WebhookDeliveryBody,
        ::webhooks::payloads::ApprovalEvent, ::webhooks::payloads::ApprovalResolvedEvent,
        ::webhooks::payloads::BanReportedEvent, ::webhooks::payloads::BanEvent,
        ::webhooks::payloads::WorkerEvent, ::webhooks::payloads::AttestationEvent,
        ::webhooks::payloads::NamespaceEvent, ::webhooks::payloads::KeyRotatedEvent,
        ::webhooks::payloads::DecisionDeniedEvent, ::webhooks::payloads::EndpointDisabledEvent,
        ::webhooks::payloads::ChainIntegrityFailureEvent,
    )),
    modifiers(&SecuritySchemes, &Conformance),
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
        (name = "routing", description = "Routing rules, their versions and golden snapshots (WCP §5.1, §5.2)"),
        (name = "approvals", description = "Human approvals of REQUIRE_HUMAN decisions (WCP §5.8)"),
        (name = "webhooks", description = "Signed webhooks (Standard Webhooks): endpoints, secrets and the delivery log. Every delivery POSTs a `WebhookDeliveryBody`; the document's top-level `webhooks` describes each event's body and `data`, and docs/events.md when each is sent and to whom"),
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

/// What the server does on every route, said once: the credentials a secured
/// operation takes, the error answers common to many operations (each added
/// only where it is true), the grammar of the ids routes take as parameters,
/// and the links from a created resource to the operations on it.
struct Conformance;

/// Routes monitoring polls: never rate limited (`auth::rate_limit`).
const NOT_RATE_LIMITED: [&str; 3] = ["/health", "/readyz", "/metrics"];

/// Secured operations that answer a suspended tenant too (no 403).
const ANY_STANDING: [&str; 1] = ["standing"];

/// The shared error answers: (status, component name, description).
const COMMON_ERRORS: [(&str, &str, &str); 8] = [
    ("400", "BadRequest", "The request is malformed: a parameter or body field breaks its constraint (the message names it)"),
    ("401", "Unauthorized", "No credential, or an unknown, revoked or expired one"),
    ("403", "Forbidden", "The credential lacks a scope or role this needs, or its tenant is suspended"),
    ("404", "NotFound", "No such resource visible to the caller"),
    ("413", "PayloadTooLarge", "The body is larger than the server accepts (HALL_MAX_BODY_BYTES)"),
    ("415", "UnsupportedMediaType", "The body is not sent as `Content-Type: application/json`"),
    ("429", "TooManyRequests", "Rate limited; retry after `Retry-After` seconds"),
    ("503", "Unavailable", "The database is unavailable or overloaded; retry later"),
];

/// Path and query parameters that are the same WCP id wherever they appear.
const ID_PARAMETERS: [(&str, &str); 2] = [("tenant_id", "TenantId"), ("namespace", "Namespace")];

/// Operations that take any string where the grammar is usually required:
/// checking a namespace answers `invalid` rather than refusing the request.
const ANY_NAMESPACE: [&str; 1] = ["check_namespace"];

/// A SHA-256 as `PackageHash` reads it (any case; stored lowercase).
const SHA256_ANY_CASE: &str = "^[0-9a-fA-F]{64}$";

/// What the server enforces on a parameter beyond its type:
/// (operation, parameter, constraints merged into its schema).
fn parameter_constraints() -> Vec<(&'static str, &'static str, serde_json::Value)> {
    use serde_json::json;
    use wcp::{PageLimit, PageSize};
    let limit = |size: PageSize| json!({"minimum": 1, "maximum": PageLimit::max_of(size).get()});
    vec![
        ("export_receipts", "limit", limit(PageSize::RECEIPT_EXPORT)),
        ("ban_list", "limit", limit(PageSize::BANS)),
        ("query_decisions", "limit", limit(PageSize::DECISIONS)),
        ("recent_dispatches", "limit", limit(PageSize::DECISIONS)),
        ("list_workers", "limit", limit(PageSize::WORKERS)),
        (
            "list_deliveries",
            "limit",
            limit(PageSize::WEBHOOK_DELIVERIES),
        ),
        // A page's `next_cursor`: the last delivery's id.
        (
            "list_deliveries",
            "cursor",
            json!({"pattern": "^whdl_[0-9a-f]{32}$"}),
        ),
        ("telemetry_events", "limit", limit(PageSize::ROUTE_EVENTS)),
        ("checkpoints", "limit", limit(PageSize::CHECKPOINTS)),
        (
            "telemetry_events",
            "correlation_id",
            json!({"pattern": UUID_PATTERN}),
        ),
        (
            "list_workers",
            "status",
            json!({"enum": ["active", "revoked"]}),
        ),
        (
            "list_workers",
            "visibility",
            json!({"enum": ["public", "private"]}),
        ),
        // A page's `next_cursor`: the last worker's registry id, the last receipt's id.
        (
            "list_workers",
            "cursor",
            json!({"pattern": "^wrk_[0-9a-fA-F]{32}$"}),
        ),
        ("query_decisions", "cursor", json!({"format": "uuid"})),
        ("query_decisions", "since", json!({"format": "date-time"})),
        ("query_decisions", "until", json!({"format": "date-time"})),
        ("daily_counts", "since", json!({"format": "date"})),
        (
            "get_version",
            "version",
            json!({"minimum": 1, "maximum": routing::RulesVersion::MAX}),
        ),
        (
            "activate_version",
            "version",
            json!({"minimum": 1, "maximum": routing::RulesVersion::MAX}),
        ),
        (
            "put_rules",
            "comment",
            json!({"pattern": TEXT_PATTERN, "maxLength": 500}),
        ),
        (
            "reports",
            "status",
            json!({"enum": ["pending", "confirmed", "rejected"]}),
        ),
        (
            "catalog",
            "type",
            json!({"enum": wcp::catalog::EntityType::names().collect::<Vec<_>>()}),
        ),
        ("reports", "sha256", json!({"pattern": SHA256_ANY_CASE})),
        (
            "reports",
            "reporter_tenant",
            json!({"pattern": TENANT_ID_PATTERN, "maxLength": wcp::id::MAX_ID_LEN}),
        ),
        // A page's `next_cursor`: the last report's id.
        (
            "reports",
            "cursor",
            json!({"pattern": "^rpt_[0-9a-fA-F]{32}$"}),
        ),
        ("history", "sha256", json!({"pattern": SHA256_ANY_CASE})),
        ("lift", "sha256", json!({"pattern": SHA256_ANY_CASE})),
        (
            "list_workers",
            "capability",
            json!({"pattern": CAPABILITY_ID_PATTERN, "maxLength": wcp::id::MAX_ID_LEN}),
        ),
    ]
}

/// What the server enforces on a body field beyond its type:
/// (schema, property, constraints merged into the property's schema).
fn property_constraints() -> Vec<(&'static str, &'static str, serde_json::Value)> {
    use serde_json::json;
    let tenant = json!({"pattern": TENANT_ID_PATTERN, "maxLength": wcp::id::MAX_ID_LEN});
    let namespace = json!({"pattern": NAMESPACE_PATTERN, "maxLength": wcp::id::MAX_ID_LEN});
    let scopes = json!({"minItems": 1, "items": {"type": "string", "enum": ["admin", "workers:write", "decisions:write", "read"]}});
    // `routes::text_field`: not blank, no control characters, at most `max` characters.
    let text = |max: usize| json!({"pattern": TEXT_PATTERN, "maxLength": max});
    let webhook_url =
        json!({"maxLength": ::webhooks::address::MAX_URL_LEN, "pattern": "^https?://"});
    let event_types = json!({
        "minItems": 1,
        "maxItems": ::webhooks::events::MAX_NAMES,
        "items": {"type": "string", "enum": std::iter::once(::webhooks::events::WILDCARD)
            .chain(::webhooks::EventType::ALL.iter().map(|t| t.as_str()))
            .collect::<Vec<_>>()},
    });
    vec![
        ("CreateTenant", "id", tenant.clone()),
        ("CreateTenant", "display_name", text(200)),
        ("CreateApiKey", "name", text(100)),
        ("ReserveNamespace", "reason", text(500)),
        ("ForceRelease", "reason", text(500)),
        ("ForceTransfer", "reason", text(500)),
        ("AddNamespaceKey", "label", text(200)),
        ("ReportHash", "reason", text(1000)),
        ("CreateWebhook", "description", text(500)),
        ("UpdateWebhook", "description", text(500)),
        ("CreateWebhook", "url", webhook_url.clone()),
        ("UpdateWebhook", "url", webhook_url),
        ("CreateWebhook", "event_types", event_types.clone()),
        ("UpdateWebhook", "event_types", event_types),
        ("ReviewNote", "note", text(1000)),
        ("ResolveApproval", "note", text(1000)),
        (
            "ResolveApproval",
            "resolution",
            json!({"enum": ["approve", "deny", "escalate"]}),
        ),
        ("EscalateApproval", "note", text(1000)),
        ("AttestHash", "label", text(200)),
        ("AttestHash", "ai_service", text(200)),
        ("AttestHash", "ai_model", text(200)),
        ("AttestHash", "ai_session_id", text(500)),
        ("AttestHash", "ai_session_fingerprint", text(500)),
        ("AttestHash", "worker_version", text(100)),
        ("AttestHash", "manifest_path", text(1000)),
        (
            "AttestHash",
            "worker_species_id",
            json!({"pattern": SPECIES_ID_PATTERN, "maxLength": wcp::id::MAX_ID_LEN}),
        ),
        (
            "AttestHash",
            "worker_id",
            json!({"pattern": WORKER_REF_PATTERN, "maxLength": wcp::id::MAX_WORKER_ID_LEN}),
        ),
        ("AttestCard", "label", text(200)),
        ("AttestCard", "ai_service", text(200)),
        ("AttestCard", "ai_model", text(200)),
        ("AttestCard", "ai_session_id", text(500)),
        ("AttestCard", "ai_session_fingerprint", text(500)),
        (
            "DecisionRequest",
            "request_hash",
            json!({"pattern": "^[0-9a-f]{64}$"}),
        ),
        (
            "DecisionPolicyView",
            "attestation_max_age_days",
            json!({"minimum": 1}),
        ),
        (
            "DecisionPolicyView",
            "approval_ttl_seconds",
            json!({
                "minimum": ::policy::approvals::ApprovalTtl::MIN_SECONDS,
                "maximum": ::policy::approvals::ApprovalTtl::MAX_SECONDS,
            }),
        ),
        (
            "DecisionPolicyView",
            "egress_allowlist",
            json!({"additionalProperties": {
                "type": "array",
                "maxItems": ::policy::privilege::MAX_ALLOWLIST_PER_ENV,
                "items": {
                    "type": "string",
                    "pattern": wcp::privilege::DESTINATION_PATTERN,
                    "maxLength": wcp::privilege::MAX_DESTINATION_LEN,
                },
            }}),
        ),
        ("CreateApiKey", "tenant_id", tenant.clone()),
        ("TransferNamespace", "tenant_id", tenant.clone()),
        ("ForceTransfer", "tenant_id", tenant.clone()),
        ("ResolveApproval", "tenant_id", tenant.clone()),
        ("EscalateApproval", "tenant_id", tenant.clone()),
        ("DecisionRequest", "tenant_id", tenant.clone()),
        // `routing::RouteInput::parse`.
        ("RouteRequest", "tenant_id", tenant),
        (
            "RouteRequest",
            "capability_id",
            json!({"pattern": CAPABILITY_ID_PATTERN, "maxLength": wcp::id::MAX_ID_LEN}),
        ),
        (
            "RouteRequest",
            "correlation_id",
            json!({"pattern": UUID_PATTERN}),
        ),
        (
            "RouteRequest",
            "approval_id",
            json!({"pattern": UUID_PATTERN}),
        ),
        (
            "RouteRequest",
            "tenant_credential",
            json!({"maxLength": routing::input::MAX_CREDENTIAL_LEN}),
        ),
        ("RouteRequest", "blast_radius", blast_radius()),
        // A ban report's evidence: blank, or an http(s) URL without spaces (at most 2048 bytes).
        (
            "ReportHash",
            "evidence_url",
            json!({"pattern": r"^\s*(https?://[^\s\x00-\x1f\x7f-\x9f]*)?\s*$"}),
        ),
        ("ClaimNamespace", "namespace", namespace.clone()),
        ("RegisterWorker", "namespace", namespace),
        (
            "RegisterWorker",
            "worker_id",
            json!({"pattern": WORKER_ID_PATTERN, "maxLength": wcp::id::MAX_WORKER_ID_LEN}),
        ),
        ("CreateApiKey", "scopes", scopes.clone()),
        ("TokenRequest", "scopes", scopes),
        (
            "TokenRequest",
            "ttl_seconds",
            json!({"minimum": 1, "maximum": 86400}),
        ),
        ("AttestHash", "sha256", json!({"pattern": "^[0-9a-f]{64}$"})),
        (
            "AttestHash",
            "package_hash",
            json!({"pattern": "^[0-9a-f]{64}$"}),
        ),
        ("ReportHash", "sha256", json!({"pattern": SHA256_ANY_CASE})),
        (
            "DecisionRequest",
            "correlation_id",
            json!({"pattern": "^[!-~]{1,128}$"}),
        ),
        (
            "TelemetryReport",
            "decisions",
            json!({"minItems": 1, "maxItems": 1000}),
        ),
    ]
}

/// Merges `patch`'s keys into `schema`.
fn merge(schema: &mut serde_json::Value, patch: &serde_json::Value) {
    if let (Some(schema), Some(patch)) = (schema.as_object_mut(), patch.as_object()) {
        for (k, v) in patch {
            schema.insert(k.clone(), v.clone());
        }
    }
}

/// Response links for the stateful conformance run: (operation, status,
/// link name, target operation, target parameter, runtime expression).
const LINKS: &[(&str, &str, &str, &str, &str, &str)] = &[
    (
        "register_worker",
        "201",
        "GetWorker",
        "get_worker",
        "id",
        "$response.body#/id",
    ),
    (
        "register_worker",
        "201",
        "UpdateWorker",
        "update_worker",
        "id",
        "$response.body#/id",
    ),
    (
        "register_worker",
        "201",
        "RevokeWorker",
        "revoke_worker",
        "id",
        "$response.body#/id",
    ),
    (
        "register_worker",
        "201",
        "AttestWorkerHash",
        "attest_hash",
        "id",
        "$response.body#/id",
    ),
    (
        "register_worker",
        "201",
        "AttestWorkerCard",
        "attest_card",
        "id",
        "$response.body#/id",
    ),
    (
        "register_worker",
        "201",
        "WorkerAttestation",
        "attestation_status",
        "id",
        "$response.body#/id",
    ),
    (
        "register_worker",
        "201",
        "VerifyWorker",
        "verify",
        "worker_id",
        "$response.body#/id",
    ),
    (
        "create_tenant",
        "201",
        "GetTenant",
        "get_tenant",
        "tenant_id",
        "$response.body#/id",
    ),
    (
        "create_tenant",
        "201",
        "SuspendTenant",
        "suspend_tenant",
        "tenant_id",
        "$response.body#/id",
    ),
    (
        "create_tenant",
        "201",
        "ReactivateTenant",
        "reactivate_tenant",
        "tenant_id",
        "$response.body#/id",
    ),
    (
        "create_api_key",
        "201",
        "RevokeApiKey",
        "revoke_api_key",
        "key_id",
        "$response.body#/id",
    ),
    (
        "claim_namespace",
        "201",
        "CheckNamespace",
        "check_namespace",
        "namespace",
        "$response.body#/namespace",
    ),
    (
        "claim_namespace",
        "201",
        "ListNamespaceKeys",
        "list_keys",
        "namespace",
        "$response.body#/namespace",
    ),
    (
        "claim_namespace",
        "201",
        "AddNamespaceKey",
        "add_key",
        "namespace",
        "$response.body#/namespace",
    ),
    (
        "claim_namespace",
        "201",
        "ReleaseNamespace",
        "release_namespace",
        "namespace",
        "$response.body#/namespace",
    ),
    (
        "make_decision",
        "200",
        "GetDecision",
        "get_decision",
        "id",
        "$response.body#/id",
    ),
];

impl Modify for Conformance {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        // Edited as JSON: utoipa's builders cannot add to what the path macros made.
        let Ok(mut doc) = serde_json::to_value(&*openapi) else {
            return;
        };
        conform(&mut doc);
        if let Ok(conformed) = serde_json::from_value(doc) {
            *openapi = conformed;
        }
        add_links(openapi);
        add_webhooks(openapi);
    }
}

/// Each event's payload schema (`webhooks::payloads`), what it is, and the
/// event types that carry it.
fn event_payloads() -> Vec<(::webhooks::EventType, &'static str, &'static str)> {
    use ::webhooks::EventType as E;
    E::ALL
        .into_iter()
        .map(|e| {
            let (schema, what) = match e {
                E::ApprovalPending => ("ApprovalEvent", "A decision needs a human (REQUIRE_HUMAN, WCP §5.8): an approval was opened, in the decision's receipt transaction."),
                E::ApprovalResolved => ("ApprovalResolvedEvent", "A human approved or denied an approval."),
                E::ApprovalExpired => ("ApprovalEvent", "A pending approval's deadline passed without an answer."),
                E::BanReported => ("BanReportedEvent", "A package hash was reported for the ban list (to the operator and the reporter)."),
                E::BanConfirmed => ("BanEvent", "The operator confirmed a ban (to every tenant)."),
                E::BanLifted => ("BanEvent", "A ban was lifted (to every tenant)."),
                E::WorkerRegistered => ("WorkerEvent", "A worker was registered."),
                E::WorkerRevoked => ("WorkerEvent", "A worker was revoked."),
                E::AttestationSubmitted => ("AttestationEvent", "An attestation was submitted, whatever its verdict."),
                E::AttestationApproved => ("AttestationEvent", "The operator approved a pending attestation."),
                E::NamespaceClaimed => ("NamespaceEvent", "A namespace was claimed."),
                E::KeyRotated => ("KeyRotatedEvent", "A new receipt signing key was published (to every tenant)."),
                E::DecisionDenied => ("DecisionDeniedEvent", "Opt-in: a decision was denied (in its receipt's transaction)."),
                E::EndpointDisabled => ("EndpointDisabledEvent", "The registry disabled one of the tenant's endpoints (sent to its others)."),
                E::ChainIntegrityFailure => ("ChainIntegrityFailureEvent", "Sev1: the background verifier found a break in the tenant's receipt chain (to the tenant and the operator)."),
            };
            (e, schema, what)
        })
        .collect()
}

/// The top-level `webhooks` (OpenAPI 3.1): for every event type, the POST
/// a subscribed endpoint receives — the Standard Webhooks headers and a
/// `WebhookDeliveryBody` whose `type` is the event and whose `data` is its
/// payload schema. utoipa has no field for it; it goes in as a raw member.
fn add_webhooks(openapi: &mut utoipa::openapi::OpenApi) {
    use serde_json::json;
    let mut hooks = serde_json::Map::new();
    for (event, schema, what) in event_payloads() {
        hooks.insert(
            event.as_str().to_string(),
            json!({"post": {
                "operationId": format!("webhook_{}", event.as_str().replace('.', "_")),
                "tags": ["webhooks"],
                "summary": format!("`{}`", event.as_str()),
                "description": format!("{what} Verify the signature before trusting the body (docs/events.md)."),
                "parameters": [
                    {"name": "webhook-id", "in": "header", "required": true, "schema": {"type": "string"},
                     "description": "The event's id (`msg_…`), the same on every retry: deduplicate on it"},
                    {"name": "webhook-timestamp", "in": "header", "required": true, "schema": {"type": "string"},
                     "description": "Unix seconds when this attempt was signed"},
                    {"name": "webhook-signature", "in": "header", "required": true, "schema": {"type": "string"},
                     "description": "`v1,<base64 HMAC-SHA256 of id.timestamp.body>`; two, space-separated, during a secret rotation"},
                ],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "allOf": [
                        {"$ref": "#/components/schemas/WebhookDeliveryBody"},
                        {"type": "object", "properties": {
                            "type": {"const": event.as_str()},
                            "data": {"$ref": format!("#/components/schemas/{schema}")},
                        }},
                    ],
                }}}},
                "responses": {
                    "2XX": {"description": "Received: the delivery is done"},
                    "default": {"description": "Anything else (or no answer within the timeout) is a failed attempt, retried"},
                },
            }}),
        );
    }
    openapi
        .extensions
        .get_or_insert_with(Default::default)
        .insert("webhooks".to_string(), serde_json::Value::Object(hooks));
}

/// Adds [`LINKS`]. Built here rather than in JSON: utoipa 5 writes a link's
/// `operationId` as `operation_id`, so it goes in as a raw field.
fn add_links(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::extensions::Extensions;
    use utoipa::openapi::link::LinkBuilder;
    use utoipa::openapi::RefOr;
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in operations.into_iter().flatten() {
            let id = op.operation_id.clone().unwrap_or_default();
            for (_, status, name, to, parameter, expression) in
                LINKS.iter().filter(|(from, ..)| *from == id)
            {
                if let Some(RefOr::T(response)) = op.responses.responses.get_mut(*status) {
                    let link = LinkBuilder::new()
                        .parameter(*parameter, *expression)
                        .extensions(Some(Extensions::from_iter([("operationId", *to)])))
                        .build();
                    response.links.insert(name.to_string(), RefOr::T(link));
                }
            }
        }
    }
}

fn conform(doc: &mut serde_json::Value) {
    use serde_json::json;
    let components = &mut doc["components"];
    for (_, name, description) in COMMON_ERRORS {
        let mut response = json!({
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        });
        if name == "TooManyRequests" {
            response["headers"] = json!({"Retry-After": {
                "description": "Seconds until the window resets",
                "schema": {"type": "integer", "minimum": 1},
            }});
        }
        components["responses"][name] = response;
    }
    components["schemas"]["TenantId"] = json!({
        "type": "string",
        "description": "A tenant id: 2 to 4 dot-separated segments of lowercase a-z, digits and hyphens, at most 64 characters",
        "pattern": TENANT_ID_PATTERN,
        "maxLength": wcp::id::MAX_ID_LEN,
        "example": "org.acme",
    });
    components["schemas"]["Namespace"] = json!({
        "type": "string",
        "description": "An authority namespace: `x.<name>` or `org.<name>`, lowercase a-z, digits and hyphens, at most 64 characters",
        "pattern": NAMESPACE_PATTERN,
        "maxLength": wcp::id::MAX_ID_LEN,
        "example": "x.alice",
    });
    for (schema, property, patch) in property_constraints() {
        if let Some(target) = components["schemas"][schema]["properties"].get_mut(property) {
            merge(target, &patch);
        }
    }
    let parameters = parameter_constraints();
    let security = json!([{"bearer": []}, {"api_key": []}, {"session_cookie": []}]);
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (_, op) in item.iter_mut() {
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            if secured {
                op["security"] = security.clone();
            }
            let id = op["operationId"].as_str().unwrap_or_default().to_string();
            let any_id = ANY_NAMESPACE.contains(&id.as_str());
            let mut in_query = false;
            let mut in_path = false;
            if let Some(params) = op["parameters"].as_array_mut() {
                for param in params {
                    in_query |= param["in"] == "query";
                    in_path |= param["in"] == "path";
                    let name = param["name"].as_str().unwrap_or_default();
                    if param["in"] != "header" && !any_id {
                        if let Some((_, schema)) = ID_PARAMETERS.iter().find(|(n, _)| *n == name) {
                            param["schema"] =
                                json!({"$ref": format!("#/components/schemas/{schema}")});
                        }
                    }
                }
            }
            if let Some(params) = op["parameters"].as_array_mut() {
                for param in params {
                    let found = parameters
                        .iter()
                        .find(|(op_id, name, _)| *op_id == id && param["name"] == *name);
                    if let Some((_, _, patch)) = found {
                        merge(&mut param["schema"], patch);
                    }
                }
            }
            // An optional body is absent or an object, never JSON `null`.
            if let Some(content) = op
                .get_mut("requestBody")
                .and_then(|b| b["content"]["application/json"].as_object_mut())
            {
                let single = content["schema"]["oneOf"]
                    .as_array()
                    .filter(|alts| alts.len() == 2 && alts[0] == json!({"type": "null"}))
                    .map(|alts| alts[1].clone());
                if let Some(schema) = single {
                    content.insert("schema".into(), schema);
                }
            }
            if id == "import_catalog" {
                op["requestBody"]["content"]["application/json"]["schema"] = json!({
                    "type": "object",
                    "description": "A WCP catalog: `entities`, each with `id`, `type` and `name`; `_meta.version` optional",
                    "required": ["entities"],
                    "properties": {"entities": {"type": "array", "items": {"type": "object"}}},
                });
            }
            let has_body = op.get("requestBody").is_some();
            let mut wanted: Vec<&str> = Vec::new();
            let id_in_path = !any_id
                && op["parameters"].as_array().is_some_and(|ps| {
                    ps.iter().any(|p| {
                        p["in"] == "path" && ID_PARAMETERS.iter().any(|(n, _)| p["name"] == *n)
                    })
                });
            if has_body || in_query || id_in_path {
                wanted.push("400");
            }
            if secured {
                wanted.push("401");
                if !ANY_STANDING.contains(&id.as_str()) {
                    wanted.push("403");
                }
                wanted.push("503");
            }
            if in_path {
                wanted.push("404");
            }
            if has_body {
                wanted.extend(["413", "415"]);
            }
            if !NOT_RATE_LIMITED.contains(&path.as_str()) {
                wanted.push("429");
            }
            let responses = &mut op["responses"];
            for status in wanted {
                if responses.get(status).is_none() {
                    if let Some((_, name, _)) = COMMON_ERRORS.iter().find(|(s, ..)| *s == status) {
                        responses[status] =
                            json!({"$ref": format!("#/components/responses/{name}")});
                    }
                }
            }
        }
    }
}

/// [`wcp::TenantId`]'s grammar as a regular expression.
/// A UUID in its hyphenated form, any hex case (`routing::CorrelationId`).
pub const UUID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// A blast radius as `wcp::BlastRadius::from_json` reads it: five
/// dimensions 0–5 (reversibility also by name), a missing one 0.
fn blast_radius() -> serde_json::Value {
    let dim = serde_json::json!({"type": ["integer", "null"], "minimum": 0, "maximum": 5});
    serde_json::json!({
        "additionalProperties": false,
        "properties": {
            "data": dim, "network": dim, "financial": dim, "time": dim,
            "reversibility": {"anyOf": [
                dim,
                {"type": "string", "enum": ["reversible", "partially-reversible", "partial", "difficult", "irreversible"]}
            ]}
        }
    })
}

pub const TENANT_ID_PATTERN: &str = r"^[a-z0-9-]+(\.[a-z0-9-]+){1,3}$";

/// [`wcp::CapabilityId`]'s grammar as a regular expression.
pub const CAPABILITY_ID_PATTERN: &str = r"^cap(\.[a-z0-9-]+){1,3}$";

/// `routes::text_field`: something besides white space, and no control characters.
pub const TEXT_PATTERN: &str =
    r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$";

/// [`wcp::WorkerId`]'s grammar as a regular expression.
pub const WORKER_ID_PATTERN: &str = r"^(x|org)\.[a-z0-9-]+(\.[a-z0-9-]+){1,2}$";

/// [`wcp::SpeciesId`]'s grammar as a regular expression.
pub const SPECIES_ID_PATTERN: &str = r"^wrk(\.[a-z0-9-]+){1,3}$";

/// [`registry::workers::WorkerRef`]: a registry id (`wrk_` and 32 hex
/// characters) or a WCP worker id.
pub const WORKER_REF_PATTERN: &str =
    r"^(wrk_[0-9a-fA-F]{32}|(x|org)\.[a-z0-9-]+(\.[a-z0-9-]+){1,2})$";

/// [`wcp::Namespace`]'s grammar as a regular expression.
pub const NAMESPACE_PATTERN: &str = r"^(x|org)\.[a-z0-9-]+$";

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
