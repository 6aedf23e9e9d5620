//! Who may claim a namespace, register workers under it and use its signing
//! keys: the one home of the claiming rule. Pure: each function judges a
//! namespace's row as stored (or its absence) for one tenant; the store locks
//! the row, asks, and writes what the answer says, in one transaction
//! (`registry::namespaces`), so a race between two claimants stays
//! impossible.
//!
//! The rule, in short: a namespace is held by one tenant, or reserved (by
//! the registry itself, [`BUILTIN_RESERVED`], or by the operator with a
//! reason), or free. A free `x.*` namespace is claimed at once, even on the
//! way by a worker registration; an `org.*` one only by an explicit claim,
//! which waits for the operator when the registry says so. Only the holder
//! registers workers or keys under a namespace, and not while its claim
//! waits.

use wcp::{Namespace, TenantId};

/// Names reserved by the registry itself, before any operator reservation.
pub const BUILTIN_RESERVED: [&str; 6] = [
    "org.wcp",
    "org.workerclassprotocol",
    "org.pyhall",
    "org.hall",
    "x.hall",
    "x.wcp",
];

/// The reason shown for a name in [`BUILTIN_RESERVED`].
pub const BUILTIN_REASON: &str = "reserved by the registry for the WCP project";

/// Whether the registry itself reserves `ns`.
pub fn is_builtin_reserved(ns: &Namespace) -> bool {
    BUILTIN_RESERVED.contains(&ns.as_str())
}

/// How a namespace's row holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimStatus {
    Claimed,
    /// Claimed, waiting for the operator's approval.
    Pending,
    /// Reserved by the operator (no tenant).
    Reserved,
}

impl ClaimStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimStatus::Claimed => "claimed",
            ClaimStatus::Pending => "pending",
            ClaimStatus::Reserved => "reserved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "claimed" => Some(ClaimStatus::Claimed),
            "pending" => Some(ClaimStatus::Pending),
            "reserved" => Some(ClaimStatus::Reserved),
            _ => None,
        }
    }
}

/// A namespace's row as the rule reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holding<'a> {
    /// The holder (none for a reservation).
    pub tenant: Option<&'a TenantId>,
    pub status: ClaimStatus,
    /// Why it is reserved.
    pub reason: Option<&'a str>,
}

impl Holding<'_> {
    fn is(&self, tenant: &TenantId) -> bool {
        self.tenant == Some(tenant)
    }
}

/// Who holds a namespace, when it is not the caller (or not yet usable by it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceHeld {
    /// Nobody (and only `x.*` namespaces are claimed on the way).
    Unclaimed,
    /// The caller, but the claim awaits the operator's approval.
    PendingApproval,
    /// Reserved by the registry itself ([`BUILTIN_RESERVED`]).
    Builtin,
    /// Reserved by the operator, with the reason given.
    Reserved(Option<String>),
    /// Another tenant.
    OtherTenant,
}

/// What the store does with the namespace's row once the rule said yes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The caller holds it already: nothing to write.
    Held,
    /// Nobody holds it: write a claim of the caller with this status.
    Claim(ClaimStatus),
}

/// An explicit claim of `ns` by `claimant`. Claiming one's own namespace
/// again (even while it waits) is [`Step::Held`]; a free `org.*` claim waits
/// for the operator when `org_claims_need_approval`.
pub fn claim(
    ns: &Namespace,
    row: Option<Holding<'_>>,
    claimant: &TenantId,
    org_claims_need_approval: bool,
) -> Result<Step, NamespaceHeld> {
    match row {
        Some(h) if h.is(claimant) => Ok(Step::Held),
        Some(h) if h.status == ClaimStatus::Reserved => {
            Err(NamespaceHeld::Reserved(h.reason.map(str::to_string)))
        }
        Some(_) => Err(NamespaceHeld::OtherTenant),
        None if is_builtin_reserved(ns) => Err(NamespaceHeld::Builtin),
        None if org_claims_need_approval && ns.family() == "org" => {
            Ok(Step::Claim(ClaimStatus::Pending))
        }
        None => Ok(Step::Claim(ClaimStatus::Claimed)),
    }
}

/// Registering a worker of `tenant` under `ns`: only the holder may, once
/// its claim is approved; a free `x.*` namespace is claimed on the way, an
/// `org.*` one never is.
pub fn register_in(
    ns: &Namespace,
    row: Option<Holding<'_>>,
    tenant: &TenantId,
) -> Result<Step, NamespaceHeld> {
    match row {
        Some(h) if h.is(tenant) && h.status == ClaimStatus::Pending => {
            Err(NamespaceHeld::PendingApproval)
        }
        Some(h) if h.is(tenant) => Ok(Step::Held),
        Some(h) if h.status == ClaimStatus::Reserved => {
            Err(NamespaceHeld::Reserved(h.reason.map(str::to_string)))
        }
        Some(_) => Err(NamespaceHeld::OtherTenant),
        None if ns.family() != "x" => Err(NamespaceHeld::Unclaimed),
        None if is_builtin_reserved(ns) => Err(NamespaceHeld::Builtin),
        None => Ok(Step::Claim(ClaimStatus::Claimed)),
    }
}

/// Why a tenant may not use a namespace's signing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeysRefused {
    /// The tenant does not hold the namespace (told as "not found").
    NotYours,
    /// Its claim still waits for the operator.
    Pending,
}

/// Whether `tenant` may register or list signing keys of the namespace.
pub fn use_keys(row: Option<Holding<'_>>, tenant: &TenantId) -> Result<(), KeysRefused> {
    match row {
        Some(h) if h.is(tenant) => match h.status {
            ClaimStatus::Claimed => Ok(()),
            ClaimStatus::Pending => Err(KeysRefused::Pending),
            ClaimStatus::Reserved => Err(KeysRefused::NotYours),
        },
        _ => Err(KeysRefused::NotYours),
    }
}

/// What the operator does to a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceChange {
    Release,
    Transfer,
}

/// What lives under a namespace: active workers and unrevoked signing keys,
/// and the revoked ones, which are history (kept, with the namespace's name)
/// and never keep a namespace from being released or transferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Active workers.
    pub workers: i64,
    /// Unrevoked signing keys.
    pub keys: i64,
    pub revoked_workers: i64,
    pub revoked_keys: i64,
}

impl Usage {
    /// Nothing active lives under the namespace (revoked items do not count).
    fn is_empty(self) -> bool {
        self.workers == 0 && self.keys == 0
    }
}

/// Why the operator's change to a namespace is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeRefused {
    /// Reserving a namespace a tenant holds (claimed or pending).
    HeldByTenant,
    /// Transferring a reservation (release it, then claim it).
    Reserved,
    /// Releasing or transferring (unforced) a namespace that is still in use.
    InUse(NamespaceChange, Usage),
}

/// Whether the operator may reserve `ns` (or change a reservation's reason):
/// not while a tenant holds it.
pub fn reserve(row: Option<Holding<'_>>) -> Result<(), ChangeRefused> {
    match row {
        Some(h) if h.status != ClaimStatus::Reserved => Err(ChangeRefused::HeldByTenant),
        _ => Ok(()),
    }
}

/// Whether the operator forces a release or transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Force {
    /// Refused while anything active lives under the namespace.
    No,
    /// Whatever is active under it is revoked first (a squatted namespace is
    /// reclaimed this way); the store records the reason with the change.
    Yes,
}

/// What the store does under the namespace before releasing or transferring
/// it, once the rule said yes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sweep {
    /// Nothing active lives under it: nothing to do.
    Nothing,
    /// Revoke its active workers and signing keys (they were the previous
    /// holder's: they must not speak for the namespace's next holder).
    RevokeActive,
}

/// Whether the operator may release or transfer the namespace held as
/// `row`, and what must be revoked first: a reservation is never
/// transferred; unforced, nothing is released or transferred while active
/// workers or keys live under it; forced, they are revoked.
pub fn change(
    change: NamespaceChange,
    row: Holding<'_>,
    usage: Usage,
    force: Force,
) -> Result<Sweep, ChangeRefused> {
    if change == NamespaceChange::Transfer && row.status == ClaimStatus::Reserved {
        return Err(ChangeRefused::Reserved);
    }
    match (usage.is_empty(), force) {
        (true, _) => Ok(Sweep::Nothing),
        (false, Force::Yes) => Ok(Sweep::RevokeActive),
        (false, Force::No) => Err(ChangeRefused::InUse(change, usage)),
    }
}

/// How a namespace stands for a tenant asking about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    Available,
    Yours,
    /// Yours, waiting for the operator.
    Pending,
    /// Reserved, with the reason when one was given.
    Reserved(Option<String>),
    /// Another tenant's.
    Taken,
}

/// How `ns` stands for `viewer`. A built-in reservation shows as reserved
/// whatever the row says.
pub fn standing(ns: &Namespace, row: Option<Holding<'_>>, viewer: &TenantId) -> Standing {
    if is_builtin_reserved(ns) {
        return Standing::Reserved(Some(BUILTIN_REASON.to_string()));
    }
    match row {
        None => Standing::Available,
        Some(h) if h.status == ClaimStatus::Reserved => {
            Standing::Reserved(h.reason.map(str::to_string))
        }
        Some(h) if h.is(viewer) && h.status == ClaimStatus::Pending => Standing::Pending,
        Some(h) if h.is(viewer) => Standing::Yours,
        Some(_) => Standing::Taken,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(s: &str) -> Namespace {
        Namespace::parse(s).unwrap()
    }

    fn t(s: &str) -> TenantId {
        TenantId::parse(s).unwrap()
    }

    fn held<'a>(tenant: &'a TenantId, status: ClaimStatus) -> Option<Holding<'a>> {
        Some(Holding {
            tenant: Some(tenant),
            status,
            reason: None,
        })
    }

    fn reserved(reason: Option<&str>) -> Option<Holding<'_>> {
        Some(Holding {
            tenant: None,
            status: ClaimStatus::Reserved,
            reason,
        })
    }

    /// Rows as the tests name them: `me`/`other` claimed or pending,
    /// reserved (with a reason or without), or none.
    fn row<'a>(me: &'a TenantId, other: &'a TenantId, name: &str) -> Option<Holding<'a>> {
        match name {
            "none" => None,
            "mine" => held(me, ClaimStatus::Claimed),
            "mine pending" => held(me, ClaimStatus::Pending),
            "other's" => held(other, ClaimStatus::Claimed),
            "other's pending" => held(other, ClaimStatus::Pending),
            "reserved" => reserved(None),
            "reserved: brand" => reserved(Some("brand")),
            _ => panic!("no row {name}"),
        }
    }

    #[test]
    fn only_the_holder_registers_x_namespaces_are_claimed_on_the_way_and_waiting_claims_wait() {
        use NamespaceHeld as H;
        let (me, other) = (t("org.me"), t("org.other"));
        let cases = [
            ("x.free", "none", Ok(Step::Claim(ClaimStatus::Claimed))),
            ("org.free", "none", Err(H::Unclaimed)),
            // Built-in names: never claimed on the way; org.* never is anyway.
            ("x.hall", "none", Err(H::Builtin)),
            ("org.wcp", "none", Err(H::Unclaimed)),
            ("org.acme", "mine", Ok(Step::Held)),
            ("org.acme", "mine pending", Err(H::PendingApproval)),
            ("org.acme", "other's", Err(H::OtherTenant)),
            ("org.acme", "other's pending", Err(H::OtherTenant)),
            (
                "x.acme",
                "reserved: brand",
                Err(H::Reserved(Some("brand".into()))),
            ),
        ];
        for (name, held, expected) in cases {
            let got = register_in(&ns(name), row(&me, &other, held), &me);
            assert_eq!(got, expected, "{name}, {held}");
        }
    }

    #[test]
    fn claiming_again_is_a_no_op_taken_reserved_and_builtin_names_are_refused() {
        use NamespaceHeld as H;
        let (me, other) = (t("org.me"), t("org.other"));
        let claimed = Ok(Step::Claim(ClaimStatus::Claimed));
        let cases = [
            ("x.alice", "none", true, claimed.clone()),
            // org.* claims wait for the operator only when the registry says so.
            (
                "org.acme",
                "none",
                true,
                Ok(Step::Claim(ClaimStatus::Pending)),
            ),
            ("org.acme", "none", false, claimed),
            ("x.alice", "mine", false, Ok(Step::Held)),
            ("x.alice", "mine pending", false, Ok(Step::Held)),
            ("x.alice", "other's pending", false, Err(H::OtherTenant)),
            (
                "x.alice",
                "reserved: brand",
                false,
                Err(H::Reserved(Some("brand".into()))),
            ),
            ("org.wcp", "none", false, Err(H::Builtin)),
            // An operator's reservation row speaks for itself.
            ("x.wcp", "reserved", false, Err(H::Reserved(None))),
        ];
        for (name, held, approval, expected) in cases {
            let got = claim(&ns(name), row(&me, &other, held), &me, approval);
            assert_eq!(got, expected, "{name}, {held}, approval {approval}");
        }
    }

    #[test]
    fn keys_are_the_approved_holders_only() {
        let (me, other) = (t("org.me"), t("org.other"));
        let cases = [
            ("mine", Ok(())),
            ("mine pending", Err(KeysRefused::Pending)),
            ("other's", Err(KeysRefused::NotYours)),
            ("none", Err(KeysRefused::NotYours)),
            ("reserved", Err(KeysRefused::NotYours)),
        ];
        for (held, expected) in cases {
            assert_eq!(use_keys(row(&me, &other, held), &me), expected, "{held}");
        }
    }

    #[test]
    fn the_operator_changes_only_what_nothing_active_lives_under() {
        use NamespaceChange::{Release, Transfer};
        let (me, other) = (t("org.me"), t("org.other"));
        let unused = Usage::default();
        let used = Usage {
            workers: 0,
            keys: 1,
            ..Usage::default()
        };
        // Revoked workers and keys are history: they never block.
        let history = Usage {
            revoked_workers: 2,
            revoked_keys: 1,
            ..Usage::default()
        };
        for (held, expected) in [
            ("none", Ok(())),
            ("reserved: brand", Ok(())),
            ("mine pending", Err(ChangeRefused::HeldByTenant)),
        ] {
            assert_eq!(reserve(row(&me, &other, held)), expected, "{held}");
        }
        let cases = [
            (Release, "mine", unused, Ok(Sweep::Nothing)),
            (Transfer, "mine", unused, Ok(Sweep::Nothing)),
            (
                Release,
                "mine",
                used,
                Err(ChangeRefused::InUse(Release, used)),
            ),
            (
                Transfer,
                "mine",
                used,
                Err(ChangeRefused::InUse(Transfer, used)),
            ),
            (Release, "mine", history, Ok(Sweep::Nothing)),
            (Transfer, "mine", history, Ok(Sweep::Nothing)),
            (Release, "reserved", unused, Ok(Sweep::Nothing)),
            (Transfer, "reserved", unused, Err(ChangeRefused::Reserved)),
        ];
        for (c, held, usage, expected) in cases {
            let Some(h) = row(&me, &other, held) else {
                panic!("{held} is a row")
            };
            assert_eq!(change(c, h, usage, Force::No), expected, "{c:?} {held}");
        }
    }

    #[test]
    fn a_forced_change_revokes_what_is_active_but_never_transfers_a_reservation() {
        use NamespaceChange::{Release, Transfer};
        let (me, other) = (t("org.me"), t("org.other"));
        let used = Usage {
            workers: 3,
            ..Usage::default()
        };
        let cases = [
            (Release, "other's", used, Ok(Sweep::RevokeActive)),
            (Transfer, "other's", used, Ok(Sweep::RevokeActive)),
            (Transfer, "other's pending", used, Ok(Sweep::RevokeActive)),
            (Release, "mine", Usage::default(), Ok(Sweep::Nothing)),
            (Transfer, "reserved", used, Err(ChangeRefused::Reserved)),
        ];
        for (c, held, usage, expected) in cases {
            let Some(h) = row(&me, &other, held) else {
                panic!("{held} is a row")
            };
            assert_eq!(change(c, h, usage, Force::Yes), expected, "{c:?} {held}");
        }
    }

    #[test]
    fn a_namespace_stands_for_the_one_who_asks() {
        let (me, other) = (t("org.me"), t("org.other"));
        let cases = [
            ("x.alice", "none", Standing::Available),
            ("x.alice", "mine", Standing::Yours),
            ("x.alice", "mine pending", Standing::Pending),
            ("x.alice", "other's", Standing::Taken),
            (
                "x.alice",
                "reserved: brand",
                Standing::Reserved(Some("brand".into())),
            ),
            (
                "x.hall",
                "none",
                Standing::Reserved(Some(BUILTIN_REASON.into())),
            ),
        ];
        for (name, held, expected) in cases {
            assert_eq!(
                standing(&ns(name), row(&me, &other, held), &me),
                expected,
                "{name}, {held}"
            );
        }
    }
}
