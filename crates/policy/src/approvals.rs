//! Human approvals' state machine (WCP §5.8), pure: the statuses an approval
//! has, how its status reads as time passes, which changes a human may make
//! from which status, and why an approval does not let a decision through.
//! The store keeps the rows and makes each change atomically;
//! `service::approvals` applies these rules before it asks the store to.
//!
//! ```text
//! pending ──approve──▶ approved ──used once──▶ (approved, used)
//!    │ ╲──deny──▶ denied
//!    │  ╲─escalate (gatekeeper → incident_commander, still pending)
//!    └── past expires_at (pending, or approved and unused) ──▶ expired
//! ```

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who must act (WCP §5.8 supervisor levels this registry uses). Stored
/// and serialized by name: `advisory`, `gatekeeper`, `incident_commander`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupervisorLevel {
    /// A human is told; execution proceeds (L7, when the owner chose it).
    Advisory,
    /// A human must approve before execution.
    Gatekeeper,
    /// Escalated: a human takes full control.
    IncidentCommander,
}

impl SupervisorLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            SupervisorLevel::Advisory => "advisory",
            SupervisorLevel::Gatekeeper => "gatekeeper",
            SupervisorLevel::IncidentCommander => "incident_commander",
        }
    }

    /// The level named `s` ([`SupervisorLevel::as_str`]), if any.
    pub fn from_name(s: &str) -> Option<Self> {
        [Self::Advisory, Self::Gatekeeper, Self::IncidentCommander]
            .into_iter()
            .find(|l| l.as_str() == s)
    }

    /// L7's REQUIRE_HUMAN level as a tenant chose it: advisory or gatekeeper.
    pub fn l7(advisory: bool) -> Self {
        if advisory {
            Self::Advisory
        } else {
            Self::Gatekeeper
        }
    }
}

impl fmt::Display for SupervisorLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an approval stands. Stored as `pending`, `approved` or `denied`;
/// `expired` is how a pending approval, or an approved one never used,
/// reads once its deadline has passed ([`ApprovalStatus::seen`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Denied,
    Expired,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Expired => "expired",
        }
    }

    /// The status named `s` ([`ApprovalStatus::as_str`]), if any.
    pub fn from_name(s: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Denied, Self::Expired]
            .into_iter()
            .find(|st| st.as_str() == s)
    }

    /// How an approval stored with this status reads at `now`: still
    /// waiting (pending) or still usable (approved, not used) only until
    /// `expires_at`, expired after.
    pub fn seen(self, used: bool, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        let live = self == Self::Pending || (self == Self::Approved && !used);
        if live && expires_at <= now {
            Self::Expired
        } else {
            self
        }
    }
}

impl fmt::Display for ApprovalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A human's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Approve,
    Deny,
}

/// Why a human's change does not apply to an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Only a pending approval is answered or escalated.
    #[error("it is {0}, not pending")]
    NotPending(ApprovalStatus),
    /// Only a gatekeeper approval escalates.
    #[error("it is at {0}; only gatekeeper approvals escalate")]
    NotGatekeeper(SupervisorLevel),
}

/// A human's answer to an approval that reads `status`: the status it
/// moves to. Only a pending approval is answered, once.
pub fn resolve(status: ApprovalStatus, answer: Resolution) -> Result<ApprovalStatus, Refused> {
    match status {
        ApprovalStatus::Pending => Ok(match answer {
            Resolution::Approve => ApprovalStatus::Approved,
            Resolution::Deny => ApprovalStatus::Denied,
        }),
        other => Err(Refused::NotPending(other)),
    }
}

/// Escalating an approval that reads `status` at `level`: the level it
/// moves to. A pending gatekeeper approval goes to an incident commander;
/// it stays pending.
pub fn escalate(
    status: ApprovalStatus,
    level: SupervisorLevel,
) -> Result<SupervisorLevel, Refused> {
    match (status, level) {
        (ApprovalStatus::Pending, SupervisorLevel::Gatekeeper) => {
            Ok(SupervisorLevel::IncidentCommander)
        }
        (ApprovalStatus::Pending, other) => Err(Refused::NotGatekeeper(other)),
        (other, _) => Err(Refused::NotPending(other)),
    }
}

/// Why an approval a decision names does not let it through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    NotFound,
    Pending,
    Denied,
    Expired,
    AlreadyUsed,
    OtherRequest,
}

impl Unusable {
    /// Why an approval that reads `status` does not let a decision through:
    /// it is for another request, was used, or is not (or no longer) approved.
    pub fn of(status: ApprovalStatus, used: bool, same_request: bool) -> Self {
        if !same_request {
            Unusable::OtherRequest
        } else if used {
            Unusable::AlreadyUsed
        } else {
            match status {
                ApprovalStatus::Pending => Unusable::Pending,
                ApprovalStatus::Denied => Unusable::Denied,
                ApprovalStatus::Approved | ApprovalStatus::Expired => Unusable::Expired,
            }
        }
    }
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unusable::NotFound => "no such approval for this tenant",
            Unusable::Pending => "it is still waiting for a human",
            Unusable::Denied => "a human denied it",
            Unusable::Expired => "it expired",
            Unusable::AlreadyUsed => "it was already used by another decision",
            Unusable::OtherRequest => {
                "it approves a different worker, capability, env or data label"
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use ApprovalStatus::*;

    #[test]
    fn statuses_and_levels_keep_their_stored_names() {
        for s in [Pending, Approved, Denied, Expired] {
            assert_eq!(ApprovalStatus::from_name(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(
            [Pending, Approved, Denied, Expired].map(ApprovalStatus::as_str),
            ["pending", "approved", "denied", "expired"]
        );
        assert_eq!(ApprovalStatus::from_name("Pending"), None);
        for l in [
            SupervisorLevel::Advisory,
            SupervisorLevel::Gatekeeper,
            SupervisorLevel::IncidentCommander,
        ] {
            assert_eq!(SupervisorLevel::from_name(l.as_str()), Some(l));
            assert_eq!(serde_json::to_value(l).unwrap(), l.as_str());
        }
        assert_eq!(
            SupervisorLevel::IncidentCommander.as_str(),
            "incident_commander"
        );
    }

    #[test]
    fn only_a_pending_approval_is_answered() {
        assert_eq!(resolve(Pending, Resolution::Approve), Ok(Approved));
        assert_eq!(resolve(Pending, Resolution::Deny), Ok(Denied));
        for s in [Approved, Denied, Expired] {
            for answer in [Resolution::Approve, Resolution::Deny] {
                assert_eq!(resolve(s, answer), Err(Refused::NotPending(s)));
            }
        }
        assert_eq!(
            Refused::NotPending(Denied).to_string(),
            "it is denied, not pending"
        );
    }

    #[test]
    fn only_a_pending_gatekeeper_approval_escalates() {
        assert_eq!(
            escalate(Pending, SupervisorLevel::Gatekeeper),
            Ok(SupervisorLevel::IncidentCommander)
        );
        assert_eq!(
            escalate(Pending, SupervisorLevel::IncidentCommander),
            Err(Refused::NotGatekeeper(SupervisorLevel::IncidentCommander))
        );
        assert_eq!(
            escalate(Pending, SupervisorLevel::Advisory),
            Err(Refused::NotGatekeeper(SupervisorLevel::Advisory))
        );
        assert_eq!(
            escalate(Approved, SupervisorLevel::Gatekeeper),
            Err(Refused::NotPending(Approved)),
            "not pending is said first"
        );
        assert_eq!(
            Refused::NotGatekeeper(SupervisorLevel::IncidentCommander).to_string(),
            "it is at incident_commander; only gatekeeper approvals escalate"
        );
    }

    #[test]
    fn a_waiting_or_unused_approval_expires_at_its_deadline() {
        let now = Utc::now();
        let past = now - Duration::seconds(1);
        let future = now + Duration::seconds(1);
        assert_eq!(Pending.seen(false, past, now), Expired);
        assert_eq!(
            Pending.seen(false, now, now),
            Expired,
            "the deadline is exclusive"
        );
        assert_eq!(Pending.seen(false, future, now), Pending);
        assert_eq!(Approved.seen(false, past, now), Expired);
        assert_eq!(Approved.seen(false, future, now), Approved);
        assert_eq!(Approved.seen(true, past, now), Approved, "used in time");
        assert_eq!(Denied.seen(false, past, now), Denied);
    }

    #[test]
    fn why_an_approval_is_unusable() {
        assert_eq!(Unusable::of(Approved, false, false), Unusable::OtherRequest);
        assert_eq!(Unusable::of(Approved, true, true), Unusable::AlreadyUsed);
        assert_eq!(Unusable::of(Pending, false, true), Unusable::Pending);
        assert_eq!(Unusable::of(Denied, false, true), Unusable::Denied);
        assert_eq!(Unusable::of(Expired, false, true), Unusable::Expired);
        assert_eq!(Unusable::of(Approved, false, true), Unusable::Expired);
        assert_eq!(Unusable::Denied.to_string(), "a human denied it");
    }
}
