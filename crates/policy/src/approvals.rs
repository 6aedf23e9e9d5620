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
//!
//! How long an approval waits, and stays usable once approved, is the
//! tenant's [`ApprovalTtl`].

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `as_str` (the name it is stored and serialized by), `from_name`, `ALL`
/// and `Display` (the name) for an enum stored by name.
macro_rules! stored_names {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }

            /// The value named `s` (its [`as_str`](Self::as_str)), if any.
            pub fn from_name(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use stored_names;

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

stored_names!(SupervisorLevel {
    Advisory => "advisory",
    Gatekeeper => "gatekeeper",
    IncidentCommander => "incident_commander",
});

impl SupervisorLevel {
    /// L7's REQUIRE_HUMAN level as a tenant chose it: advisory or gatekeeper.
    pub fn l7(advisory: bool) -> Self {
        if advisory {
            Self::Advisory
        } else {
            Self::Gatekeeper
        }
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

stored_names!(ApprovalStatus {
    Pending => "pending",
    Approved => "approved",
    Denied => "denied",
    Expired => "expired",
});

impl ApprovalStatus {
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

/// How long a pending approval waits for a human, and how long an approved
/// one stays usable after the human said yes: a tenant's policy setting
/// (`decisions.approval_ttl_seconds`), from one minute to seven days. An
/// approval keeps the TTL it was opened (or approved) with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApprovalTtl(u32);

/// An approval TTL outside [`ApprovalTtl::MIN_SECONDS`]..=[`ApprovalTtl::MAX_SECONDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "must be from {min} to {max} seconds (1 minute to 7 days), not {0}",
    min = ApprovalTtl::MIN_SECONDS,
    max = ApprovalTtl::MAX_SECONDS
)]
pub struct TtlOutOfRange(pub u64);

impl ApprovalTtl {
    /// One minute: a human needs at least that to read and answer.
    pub const MIN_SECONDS: u32 = 60;
    /// Seven days: an approval waiting longer is forgotten, not answered.
    pub const MAX_SECONDS: u32 = 604_800;
    /// One hour, the TTL before it was a setting.
    pub const DEFAULT: ApprovalTtl = ApprovalTtl(3600);

    /// The TTL of `seconds`, if within the bounds.
    pub fn from_seconds(seconds: u64) -> Result<Self, TtlOutOfRange> {
        u32::try_from(seconds)
            .ok()
            .filter(|s| (Self::MIN_SECONDS..=Self::MAX_SECONDS).contains(s))
            .map(ApprovalTtl)
            .ok_or(TtlOutOfRange(seconds))
    }

    pub fn seconds(self) -> u32 {
        self.0
    }

    pub fn duration(self) -> chrono::Duration {
        chrono::Duration::seconds(i64::from(self.0))
    }
}

impl Default for ApprovalTtl {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for ApprovalTtl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0)
    }
}

/// What a human does with a pending approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Approve,
    Deny,
    /// Hand it from the gatekeeper to an incident commander; it stays pending.
    Escalate,
}

/// What a human's answer moves: an approval's status and supervisor level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage {
    pub status: ApprovalStatus,
    pub level: SupervisorLevel,
}

/// Why a human's answer does not apply to an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Only a pending approval is answered.
    #[error("it is {0}, not pending")]
    NotPending(ApprovalStatus),
    /// Only a gatekeeper approval escalates.
    #[error("it is at {0}; only gatekeeper approvals escalate")]
    NotGatekeeper(SupervisorLevel),
}

/// A human's answer to an approval at `stage` (its status as it reads
/// now): the stage it moves to. Only a pending approval is answered; an
/// approval or a denial is final, an escalation (of a gatekeeper approval
/// only) leaves it pending for the incident commander to answer.
pub fn answer(stage: Stage, answer: Answer) -> Result<Stage, Refused> {
    if stage.status != ApprovalStatus::Pending {
        return Err(Refused::NotPending(stage.status));
    }
    Ok(match answer {
        Answer::Approve => Stage {
            status: ApprovalStatus::Approved,
            ..stage
        },
        Answer::Deny => Stage {
            status: ApprovalStatus::Denied,
            ..stage
        },
        Answer::Escalate if stage.level == SupervisorLevel::Gatekeeper => Stage {
            level: SupervisorLevel::IncidentCommander,
            ..stage
        },
        Answer::Escalate => return Err(Refused::NotGatekeeper(stage.level)),
    })
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
    fn an_approval_ttl_is_from_one_minute_to_seven_days() {
        assert_eq!(
            ApprovalTtl::from_seconds(60).map(ApprovalTtl::seconds),
            Ok(60)
        );
        assert_eq!(
            ApprovalTtl::from_seconds(604_800).map(ApprovalTtl::seconds),
            Ok(604_800)
        );
        for out in [0, 59, 604_801, u64::from(u32::MAX) + 60] {
            assert_eq!(ApprovalTtl::from_seconds(out), Err(TtlOutOfRange(out)));
        }
        let e = ApprovalTtl::from_seconds(59).unwrap_err().to_string();
        assert_eq!(
            e,
            "must be from 60 to 604800 seconds (1 minute to 7 days), not 59"
        );
    }

    #[test]
    fn the_default_approval_ttl_is_the_hour_it_always_was() {
        assert_eq!(ApprovalTtl::default().seconds(), 3600);
        assert_eq!(ApprovalTtl::default().duration(), Duration::hours(1));
        assert_eq!(
            ApprovalTtl::from_seconds(90).unwrap().duration(),
            Duration::seconds(90)
        );
    }

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

    fn at(status: ApprovalStatus, level: SupervisorLevel) -> Stage {
        Stage { status, level }
    }

    const GATEKEEPER: SupervisorLevel = SupervisorLevel::Gatekeeper;
    const COMMANDER: SupervisorLevel = SupervisorLevel::IncidentCommander;

    #[test]
    fn only_a_pending_approval_is_answered() {
        for level in [GATEKEEPER, COMMANDER] {
            let pending = at(Pending, level);
            assert_eq!(answer(pending, Answer::Approve), Ok(at(Approved, level)));
            assert_eq!(answer(pending, Answer::Deny), Ok(at(Denied, level)));
        }
        for s in [Approved, Denied, Expired] {
            for a in [Answer::Approve, Answer::Deny, Answer::Escalate] {
                assert_eq!(answer(at(s, GATEKEEPER), a), Err(Refused::NotPending(s)));
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
            answer(at(Pending, GATEKEEPER), Answer::Escalate),
            Ok(at(Pending, COMMANDER)),
            "it stays pending"
        );
        for level in [COMMANDER, SupervisorLevel::Advisory] {
            assert_eq!(
                answer(at(Pending, level), Answer::Escalate),
                Err(Refused::NotGatekeeper(level))
            );
        }
        assert_eq!(
            answer(at(Approved, COMMANDER), Answer::Escalate),
            Err(Refused::NotPending(Approved)),
            "not pending is said first"
        );
        assert_eq!(
            Refused::NotGatekeeper(COMMANDER).to_string(),
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
