//! Hall Registry's use cases, between the HTTP layer and the store:
//! `api → service → registry → {policy, attestation, audit} → wcp`.
//!
//! Each use case is one function or method with a typed command in and a
//! typed result or a domain error out. It owns the order of the steps and the
//! transaction boundaries; the rules it applies live in the pure crates
//! (`policy`, `attestation`, `audit`) and the rows in `registry`. It knows
//! nothing of HTTP: `api` parses a request into the command, calls the use
//! case once and maps its error to a status code in one place. So each use
//! case can be tested against a real PostgreSQL (`testkit::TestDb`) without
//! a server (`crates/service/tests`).
//!
//! The use cases, one module each (the HTTP resources they serve in brackets):
//! - [`decide`]: a governed decision and its signed receipt
//!   (`POST /api/v1/decisions`, `POST /api/route`).
//! - [`approvals`]: human approvals listed, read and resolved
//!   (`/wcp/approvals/*`).
//! - [`workers`]: registering, reading, changing and revoking workers
//!   (`/api/v1/workers…`).
//! - [`namespaces`]: claiming, checking and administering namespaces, and
//!   their signing keys (`/api/v1/namespaces…`).
//! - [`attest`]: submitting an attestation (a hash or a signed card) and the
//!   operator's approval of a pending one (`/api/v1/workers/{id}/attest…`,
//!   `/api/v1/attestations/{id}/approve`).
//! - [`tenant_policy`]: a tenant's attestation and decision policy
//!   (`/api/v1/policy`).
//! - [`bans`]: the ban list: reports, the operator's review, lifting a ban
//!   (`/api/v1/ban-list*`).
//! - [`api_keys`]: create, list and revoke a tenant's API keys
//!   (`/api/v1/api-keys`).
//! - [`tenants`]: the operator's tenant administration (`/api/v1/tenants`).
//! - [`receipt_keys`]: the published receipt signing keys and their rotation
//!   (`/api/v1/keys`, `POST /api/v1/keys/rotate`).
//! - [`route`]: the router: a capability request routed by the tenant's
//!   rules to a worker, with its receipt and telemetry (`POST /api/v1/route`,
//!   `POST /api/route` without `worker_id`, `GET /api/v1/telemetry/events`).
//! - [`decision_log`]: a tenant's decisions read back
//!   (`GET /api/v1/decisions`, `GET /api/v1/decisions/{id}`).
//! - [`receipts`]: the receipt export (`/api/v1/audit/receipts`).
//! - [`chain_check`]: the background verifier that re-checks every tenant's
//!   new receipts and announces a break (`chain.integrity_failure`).
//! - [`catalog`]: capability discovery and the imported catalog
//!   (`/wcp/capabilities`, `/wcp/workers`, `/api/v1/catalog*`).
//! - [`telemetry`]: the SDKs' usage counts (`/api/v1/telemetry/decisions`).
//! - [`verify`]: a worker verified (`/api/v1/verify/{worker_id}`).
//! - [`webhooks`]: a tenant's webhook endpoints and their delivery log
//!   (`/api/v1/webhooks…`), and the dispatcher that sends deliveries.
//! - [`routing_rules`]: a tenant's routing rules, their versions and golden
//!   snapshots (`/api/v1/routing/…`), and the compiled set in force for the
//!   router ([`Hall::active_rules`]).
//!
//! A use case that changes what this process keeps copies of (keys, tenants,
//! workers, namespaces, attestations, policies, routing rules) drops those copies itself
//! after its commit, and a ban change refreshes the ban set, so the caller's
//! next request sees it here at once; other replicas hear of it from
//! PostgreSQL.

pub mod api_keys;
pub mod approvals;
pub mod attest;
pub mod bans;
pub mod catalog;
pub mod chain_check;
pub mod decide;
pub mod decision_log;
pub mod namespaces;
pub mod receipt_keys;
pub mod receipts;
pub mod route;
pub mod routing_rules;
pub mod telemetry;
pub mod tenant_policy;
pub mod tenants;
pub mod transparency;
pub mod verify;
pub mod webhooks;
pub mod witnesses;
pub mod workers;

use std::sync::Arc;

use registry::bans::BanCache;
use registry::facts::FactsCache;
use registry::receipts::ReceiptWriter;
use registry::{Store, StoreError};
use uuid::Uuid;
use wcp::TenantId;

pub use crate::webhooks::{WebhookError, WebhookSettings};
pub use api_keys::{ApiKeyError, CreatedApiKey, NewApiKey};
pub use approvals::{Answer, ApprovalError, ResolveCommand};
pub use attest::{AttestCommand, AttestError, Submission};
pub use catalog::Capability;
pub use decide::{DecideError, Decided, DecisionCommand};
pub use decision_log::DecisionLogPage;
pub use namespaces::{
    AddKeyCommand, AdminError, ChangeCommand, Changed, ClaimCommand, ClaimError, Claimed, KeyError,
};
pub use receipt_keys::{KeySource, KeySourceError, RotateError, Rotated};
pub use receipts::ReceiptPage;
pub use routing_rules::{ActiveRules, RulesError};
pub use tenant_policy::TenantPolicies;
pub use tenants::{NewTenant, TenantError};
pub use verify::{Verified, VerifiedStatus};
pub use workers::{RegisterError, WorkerError, WorkerPage};

/// What the use cases work with: the store, this process's in-memory copies
/// of decision facts and of the ban set, the receipt writer and the tier
/// table in force. One per process, shared by every request; every field is a
/// handle, so cloning it clones no data.
#[derive(Clone)]
pub struct Hall {
    pub store: Store,
    /// This process's copies of keys, workers, policies and attestations.
    pub facts: Arc<FactsCache>,
    /// This process's copy of the confirmed ban set.
    pub bans: Arc<BanCache>,
    /// Appends receipts to tenants' chains (group commit).
    pub receipts: ReceiptWriter,
    /// The tier table in force.
    pub policy: policy::PolicyDocument,
    /// The registry's setting (`HALL_ORG_CLAIMS_NEED_APPROVAL`): free
    /// `org.*` claims wait for the operator.
    pub org_claims_need_approval: bool,
    /// The registry's setting (`HALL_TELEMETRY_IDS_PER_DAY`): how many
    /// different ids one tenant's usage totals may hold for one day.
    pub telemetry_ids_per_day: u32,
    /// The registry's setting (`HALL_BAN_REPORTS_PER_DAY`): how many ban
    /// reports one tenant may file a day (the operator's are not counted).
    pub ban_reports_per_day: u32,
    /// This process's compiled routing rule sets in force, per tenant.
    pub rules_cache: Arc<routing_rules::RulesCache>,
    /// The operator's webhook settings (URL rule, rotation overlap, retries).
    pub webhooks: webhooks::WebhookSettings,
    /// Per tenant, whether an endpoint wants `decision.denied`, in this process.
    pub denied_subscribers: Arc<webhooks::DeniedSubscribers>,
    /// What the background chain verifier has done and found.
    pub chain_checks: Arc<chain_check::ChainCheckStatus>,
    /// What this process's webhook dispatcher has sent.
    pub dispatch_stats: Arc<webhooks::dispatch::DispatchStats>,
    /// The registry's setting (`HALL_LOG_ORIGIN`): the name of its
    /// verifiable log; a tenant's checkpoints have origin
    /// `<log_origin>/<tenant id>` and are signed under this key name.
    pub log_origin: transparency::LogOrigin,
    /// The registry's setting (`HALL_WITNESS_KEYS`): the operator's
    /// witnesses, trusted to cosign every tenant's checkpoints.
    pub operator_witnesses: Arc<[audit::cosignature::WitnessKey]>,
}

impl Hall {
    /// The use cases over these handles, with the default tier table and
    /// every claim settled at once (set [`Hall::org_claims_need_approval`]
    /// to make `org.*` claims wait for the operator).
    pub fn new(
        store: Store,
        facts: Arc<FactsCache>,
        bans: Arc<BanCache>,
        receipts: ReceiptWriter,
    ) -> Self {
        Self {
            store,
            facts,
            bans,
            receipts,
            policy: policy::PolicyDocument::default_policy(),
            org_claims_need_approval: false,
            telemetry_ids_per_day: wcp::telemetry::DEFAULT_IDS_PER_DAY,
            ban_reports_per_day: policy::ban_review::DEFAULT_REPORTS_PER_DAY,
            rules_cache: Arc::default(),
            webhooks: webhooks::WebhookSettings::default(),
            denied_subscribers: Arc::default(),
            chain_checks: Arc::default(),
            dispatch_stats: Arc::default(),
            log_origin: transparency::LogOrigin::default(),
            operator_witnesses: Arc::from(Vec::new()),
        }
    }
}

/// Runs `task` every `every` in the background (the first at once) until
/// the store closes at shutdown; a failed round is logged (`what` says what
/// it could not do) and tried again at the next tick.
pub(crate) fn every<F, Fut>(hall: Hall, every: std::time::Duration, what: &'static str, task: F)
where
    F: Fn(Hall) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), StoreError>> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if hall.store.is_closed() {
                return;
            }
            if let Err(e) = task(hall.clone()).await {
                if hall.store.is_closed() {
                    return;
                }
                tracing::warn!(error = %e, "cannot {what}; trying again");
            }
        }
    });
}

/// One page of a listing, and where the next one starts (`None` on the
/// last page): a cursor, or a position.
#[derive(Debug, Clone)]
pub struct Page<T, Next = String> {
    pub items: Vec<T>,
    pub next: Option<Next>,
}

/// Who asks: the credential's tenant, whether it is the operator's, whether
/// it carries `admin`, and which API key acts.
///
/// Which tenant a request may act for is decided here ([`Caller::may_act_for`],
/// the one rule) and applied by [`Caller::acts_on`] and
/// [`Caller::decides_for`] (decide/mod.rs), side by side. Acting for another
/// tenant takes the operator's key *with* `admin`, on top of the route's own
/// scope (a `workers:write` operator key manages the operator's own workers,
/// not every tenant's). The refusals differ in what they reveal:
/// - a key that is not the operator's naming another tenant, on an
///   administrative request, is told that tenant does not exist
///   ([`NotYourTenant::NotFound`], 404), so a key cannot probe which tenants
///   there are; on a decision it is refused as forbidden (403: the tenant is
///   part of the decision asked for, so the caller learns nothing new; the
///   contract of `POST /api/v1/decisions` says 403);
/// - the operator's key without `admin` is refused as forbidden
///   ([`NotYourTenant::AdminRequired`], 403) everywhere: the operator may
///   know every tenant, so there is nothing to hide, and the caller is told
///   which scope it lacks.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub tenant: &'a TenantId,
    pub operator: bool,
    /// Whether the credential carries the `admin` scope.
    pub admin: bool,
    /// The public id of the API key that acts (a session acts as the key it
    /// was minted from); every receipt records it (`acting_key_id`).
    pub key_id: Uuid,
}

/// Why a request may not act for the tenant it named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotYourTenant {
    /// Another tenant named by a key that is not the operator's: answered as
    /// if the tenant did not exist.
    #[error("tenant {0} not found")]
    NotFound(TenantId),
    /// Another tenant named by an operator key without `admin`.
    #[error(
        "acting for tenant {named} needs the operator's `admin` scope, which this key lacks;          without tenant_id it acts on its own tenant ({caller})"
    )]
    AdminRequired { named: TenantId, caller: TenantId },
}

impl Caller<'_> {
    /// Whether this caller may act for `tenant`: its own always; another
    /// only with the operator's key carrying `admin`.
    pub fn may_act_for(&self, tenant: &TenantId) -> Result<(), NotYourTenant> {
        if tenant == self.tenant {
            Ok(())
        } else if !self.operator {
            Err(NotYourTenant::NotFound(tenant.clone()))
        } else if !self.admin {
            Err(NotYourTenant::AdminRequired {
                named: tenant.clone(),
                caller: self.tenant.clone(),
            })
        } else {
            Ok(())
        }
    }

    /// The tenant an administrative request acts on: the caller's own, or
    /// the one it names when [`Caller::may_act_for`] allows it.
    pub fn acts_on(&self, named: Option<&TenantId>) -> Result<TenantId, NotYourTenant> {
        match named {
            None => Ok(self.tenant.clone()),
            Some(t) => {
                self.may_act_for(t)?;
                Ok(t.clone())
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn t(id: &str) -> TenantId {
        TenantId::parse(id).unwrap()
    }

    /// A caller of `tenant`, the operator's or not, with or without `admin`.
    pub(crate) fn caller(tenant: &TenantId, operator: bool, admin: bool) -> Caller<'_> {
        Caller {
            tenant,
            operator,
            admin,
            key_id: Uuid::nil(),
        }
    }

    #[test]
    fn a_key_acts_on_its_own_tenant_only_and_another_reads_as_missing() {
        let (acme, other) = (t("org.acme"), t("org.other"));
        for admin in [false, true] {
            let key = caller(&acme, false, admin);
            assert_eq!(key.acts_on(None), Ok(acme.clone()));
            assert_eq!(key.acts_on(Some(&acme)), Ok(acme.clone()));
            let refused = key.acts_on(Some(&other)).unwrap_err();
            assert_eq!(refused.to_string(), "tenant org.other not found");
        }
    }

    #[test]
    fn the_operator_with_admin_acts_on_any_tenant_it_names() {
        let (op, acme) = (t("hall.operator"), t("org.acme"));
        let operator = caller(&op, true, true);
        assert_eq!(operator.acts_on(Some(&acme)), Ok(acme));
        assert_eq!(operator.acts_on(None), Ok(op));
    }

    #[test]
    fn an_operator_key_without_admin_acts_on_its_own_tenant_only_and_is_told_why() {
        let (op, acme) = (t("hall.operator"), t("org.acme"));
        let operator = caller(&op, true, false);
        assert_eq!(operator.acts_on(None), Ok(op.clone()));
        assert_eq!(operator.acts_on(Some(&op)), Ok(op.clone()));
        let refused = operator.acts_on(Some(&acme)).unwrap_err();
        assert_eq!(
            refused,
            NotYourTenant::AdminRequired {
                named: acme,
                caller: op
            }
        );
        assert!(refused.to_string().contains("`admin` scope"), "{refused}");
    }
}
