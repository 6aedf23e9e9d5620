//! The privilege-envelope rule (WCP-Full, spec §7): may a worker with this
//! envelope handle this data label in this env, under the tenant's egress
//! allowlist?
//!
//! It fails closed exactly where the spec cares — production-like envs
//! (prod, edge) with RESTRICTED data:
//! - a worker that declares no envelope is denied (nothing bounds it);
//! - `network_egress` `broad` or `unrestricted` is denied (no allowlist can
//!   bound it);
//! - every declared egress destination must be on the tenant's allowlist
//!   for that env; with no allowlist, any declared destination is denied.
//!
//! Elsewhere (dev/stage, or PUBLIC/INTERNAL data) an envelope is allowed,
//! as pyhall's `policy_allows_privilege` allows it. The reasons for egress
//! use pyhall's words (`egress_not_allowlisted:<dest>`,
//! `egress_denied_no_allowlist_configured`) so receipts read alike.

use wcp::{DataLabel, Env, NetworkEgress, PrivilegeEnvelope};

use crate::TenantPolicy;

pub use crate::deny::PRIVILEGE_ENVELOPE_VIOLATED as DENY_CODE;

/// Most destinations a tenant may allow per env.
pub const MAX_ALLOWLIST_PER_ENV: usize = 100;

/// Why the envelope is refused; the deny code is
/// [`crate::deny::PRIVILEGE_ENVELOPE_VIOLATED`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct PrivilegeDenied {
    pub reason: String,
}

impl PrivilegeDenied {
    fn new(reason: impl Into<String>) -> Self {
        PrivilegeDenied {
            reason: reason.into(),
        }
    }

    /// The deny code a decision records.
    pub fn code(&self) -> &'static str {
        DENY_CODE
    }
}

/// Whether the rule applies at all: production-like env and RESTRICTED data.
pub fn applies(env: Env, label: DataLabel) -> bool {
    env.is_production() && label == DataLabel::Restricted
}

/// Checks `envelope` (the worker's, `None` when it declares none) for a
/// request in `env` with `label`, under `tenant`'s egress allowlist.
pub fn check(
    envelope: Option<&PrivilegeEnvelope>,
    env: Env,
    label: DataLabel,
    tenant: &TenantPolicy,
) -> Result<(), PrivilegeDenied> {
    if !applies(env, label) {
        return Ok(());
    }
    let Some(envelope) = envelope else {
        return Err(PrivilegeDenied::new(format!(
            "the worker declares no privilege envelope, which {env} needs for {label} data"
        )));
    };
    if let Some(egress @ (NetworkEgress::Broad | NetworkEgress::Unrestricted)) =
        envelope.network_egress
    {
        return Err(PrivilegeDenied::new(format!(
            "network_egress_not_allowed:{egress} ({env} allows only none or allowlisted egress \
             for {label} data)"
        )));
    }
    if envelope.egress_destinations.is_empty() {
        return Ok(());
    }
    let allowed = tenant
        .egress_allowlist
        .get(&env)
        .filter(|list| !list.is_empty());
    let Some(allowed) = allowed else {
        return Err(PrivilegeDenied::new(
            "egress_denied_no_allowlist_configured",
        ));
    };
    match envelope
        .egress_destinations
        .iter()
        .find(|dest| !allowed.iter().any(|a| a.as_str() == dest.as_str()))
    {
        Some(dest) => Err(PrivilegeDenied::new(format!(
            "egress_not_allowlisted:{dest}"
        ))),
        None => Ok(()),
    }
}

/// [`check`] on an envelope as stored on a worker record, which may predate
/// envelope checks at registration: an envelope that cannot be read is
/// denied where the rule applies (fail closed) and ignored elsewhere.
pub fn check_declared(
    envelope: Option<&serde_json::Value>,
    env: Env,
    label: DataLabel,
    tenant: &TenantPolicy,
) -> Result<(), PrivilegeDenied> {
    let parsed = match envelope.filter(|v| !v.is_null()) {
        None => None,
        Some(v) => match PrivilegeEnvelope::parse(v) {
            Ok(e) => Some(e),
            Err(e) if applies(env, label) => {
                return Err(PrivilegeDenied::new(format!(
                    "the worker's privilege envelope cannot be read: {e}"
                )))
            }
            Err(_) => return Ok(()),
        },
    };
    check(parsed.as_ref(), env, label, tenant)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wcp::EgressDestination;

    fn envelope(v: serde_json::Value) -> PrivilegeEnvelope {
        PrivilegeEnvelope::parse(&v).unwrap()
    }

    fn tenant_allowing(env: Env, dests: &[&str]) -> TenantPolicy {
        let mut t = TenantPolicy::default();
        t.egress_allowlist.insert(
            env,
            dests
                .iter()
                .map(|d| EgressDestination::parse(d).unwrap())
                .collect(),
        );
        t
    }

    fn egress_to(dests: &[&str]) -> PrivilegeEnvelope {
        envelope(json!({"network_egress": "allowlisted", "egress": {"allowlist": dests}}))
    }

    const R: DataLabel = DataLabel::Restricted;

    #[test]
    fn a_worker_without_an_envelope_is_denied_in_prod_and_edge_with_restricted_data() {
        for env in [Env::Prod, Env::Edge] {
            let err = check(None, env, R, &TenantPolicy::default()).unwrap_err();
            assert!(
                err.reason.contains("declares no privilege envelope"),
                "{}",
                err.reason
            );
            assert_eq!(err.code(), "DENY_PRIVILEGE_ENVELOPE_VIOLATED");
        }
    }

    #[test]
    fn a_worker_without_an_envelope_is_allowed_in_dev_and_stage_or_below_restricted() {
        let t = TenantPolicy::default();
        for env in [Env::Dev, Env::Stage] {
            assert_eq!(check(None, env, R, &t), Ok(()));
        }
        for label in [DataLabel::Public, DataLabel::Internal] {
            assert_eq!(check(None, Env::Prod, label, &t), Ok(()));
        }
    }

    #[test]
    fn broad_or_unrestricted_egress_is_denied_in_prod_with_restricted_data() {
        for word in ["broad", "Unrestricted"] {
            let e = envelope(json!({"network_egress": word}));
            let err = check(Some(&e), Env::Prod, R, &TenantPolicy::default()).unwrap_err();
            assert!(
                err.reason.starts_with(&format!(
                    "network_egress_not_allowed:{}",
                    word.to_lowercase()
                )),
                "{}",
                err.reason
            );
        }
    }

    #[test]
    fn broad_egress_is_allowed_in_stage_and_for_internal_data() {
        let e = envelope(json!({"network_egress": "broad"}));
        let t = TenantPolicy::default();
        assert_eq!(check(Some(&e), Env::Stage, R, &t), Ok(()));
        assert_eq!(check(Some(&e), Env::Prod, DataLabel::Internal, &t), Ok(()));
    }

    #[test]
    fn an_envelope_with_no_egress_is_allowed_in_prod_with_restricted_data() {
        let e = envelope(json!({
            "secrets_access": [], "network_egress": "none",
            "filesystem_writes": ["/tmp/summaries/"], "tools": ["ollama-embed"]
        }));
        assert_eq!(
            check(Some(&e), Env::Prod, R, &TenantPolicy::default()),
            Ok(())
        );
    }

    #[test]
    fn declared_egress_without_a_tenant_allowlist_is_denied() {
        let e = egress_to(&["api.example.com"]);
        let err = check(Some(&e), Env::Prod, R, &TenantPolicy::default()).unwrap_err();
        assert_eq!(err.reason, "egress_denied_no_allowlist_configured");
        // An allowlist for another env, or an empty one, is none for this env.
        let mut other_env = tenant_allowing(Env::Stage, &["api.example.com"]);
        assert_eq!(
            check(Some(&e), Env::Prod, R, &other_env)
                .unwrap_err()
                .reason,
            "egress_denied_no_allowlist_configured"
        );
        other_env.egress_allowlist.insert(Env::Prod, Vec::new());
        assert_eq!(
            check(Some(&e), Env::Prod, R, &other_env)
                .unwrap_err()
                .reason,
            "egress_denied_no_allowlist_configured"
        );
    }

    #[test]
    fn a_destination_missing_from_the_allowlist_is_denied_by_name() {
        let t = tenant_allowing(Env::Edge, &["api.example.com"]);
        let e = egress_to(&["api.example.com", "evil.example.net:443"]);
        let err = check(Some(&e), Env::Edge, R, &t).unwrap_err();
        assert_eq!(err.reason, "egress_not_allowlisted:evil.example.net:443");
    }

    #[test]
    fn a_port_is_part_of_the_destination() {
        let t = tenant_allowing(Env::Prod, &["api.example.com:443"]);
        let err = check(Some(&egress_to(&["api.example.com"])), Env::Prod, R, &t).unwrap_err();
        assert_eq!(err.reason, "egress_not_allowlisted:api.example.com");
    }

    #[test]
    fn destinations_all_on_the_allowlist_are_allowed_whatever_their_case() {
        let t = tenant_allowing(Env::Prod, &["API.example.com", "db.internal:5432"]);
        let e = egress_to(&["api.EXAMPLE.com", "db.internal:5432"]);
        assert_eq!(check(Some(&e), Env::Prod, R, &t), Ok(()));
    }

    #[test]
    fn declared_egress_is_not_checked_in_dev() {
        let e = egress_to(&["anywhere.example.org"]);
        assert_eq!(
            check(Some(&e), Env::Dev, R, &TenantPolicy::default()),
            Ok(())
        );
    }

    #[test]
    fn a_stored_envelope_that_cannot_be_read_is_denied_only_where_the_rule_applies() {
        let bad = json!({"network_egress": 7});
        let t = TenantPolicy::default();
        let err = check_declared(Some(&bad), Env::Prod, R, &t).unwrap_err();
        assert!(
            err.reason.contains("privilege_envelope.network_egress"),
            "{}",
            err.reason
        );
        assert_eq!(check_declared(Some(&bad), Env::Stage, R, &t), Ok(()));
        assert!(check_declared(Some(&json!(null)), Env::Prod, R, &t)
            .unwrap_err()
            .reason
            .contains("declares no privilege envelope"));
        let good = json!({"network_egress": "none"});
        assert_eq!(check_declared(Some(&good), Env::Prod, R, &t), Ok(()));
    }
}
