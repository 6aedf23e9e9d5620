//! Who may see a worker: the one home of the visibility rule.
//!
//! A public worker is seen by anyone, a caller without a tenant included. A
//! private worker is seen by its own tenant and by the tenants its owner
//! accepts requests from (its signatories, WCP §5.9). Everyone else is told
//! nothing about it, exactly as for a worker that does not exist.
//!
//! Verification and discovery ask about a viewer with no signatories to
//! consider (`&[]`); a decision passes the owner's signatories. The one SQL
//! filter that counts visible workers (`registry::workers`,
//! `visible_capabilities`) is this rule without signatories, and names it.

use wcp::{TenantId, Visibility};

/// Whether `viewer` (none: an anonymous caller) may see a worker of `owner`
/// with `visibility`, when `owner` accepts requests from `signatories`.
pub fn may_see(
    owner: &TenantId,
    visibility: Visibility,
    viewer: Option<&TenantId>,
    signatories: &[TenantId],
) -> bool {
    match (visibility, viewer) {
        (Visibility::Public, _) => true,
        (Visibility::Private, None) => false,
        (Visibility::Private, Some(v)) => v == owner || signatories.contains(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: &str) -> TenantId {
        TenantId::parse(id).unwrap()
    }

    #[test]
    fn a_public_worker_is_seen_by_anyone() {
        let owner = t("org.acme");
        assert!(may_see(&owner, Visibility::Public, None, &[]));
        assert!(may_see(
            &owner,
            Visibility::Public,
            Some(&t("org.other")),
            &[]
        ));
        assert!(may_see(&owner, Visibility::Public, Some(&owner), &[]));
    }

    #[test]
    fn a_private_worker_is_seen_by_its_tenant_only() {
        let owner = t("org.acme");
        assert!(may_see(&owner, Visibility::Private, Some(&owner), &[]));
        assert!(!may_see(
            &owner,
            Visibility::Private,
            Some(&t("org.other")),
            &[]
        ));
        assert!(!may_see(&owner, Visibility::Private, None, &[]));
    }

    #[test]
    fn a_signatory_of_the_owner_sees_its_private_workers() {
        let owner = t("org.acme");
        let signatory = t("org.partner");
        let signatories = [signatory.clone()];
        assert!(may_see(
            &owner,
            Visibility::Private,
            Some(&signatory),
            &signatories
        ));
        assert!(!may_see(
            &owner,
            Visibility::Private,
            Some(&t("org.other")),
            &signatories
        ));
        assert!(!may_see(&owner, Visibility::Private, None, &signatories));
    }
}
