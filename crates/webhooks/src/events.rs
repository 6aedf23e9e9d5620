//! The events a tenant's endpoints can subscribe to, and what an endpoint's
//! subscription selects.
//!
//! `decision.denied` is opt-in: it can be frequent (one per denied
//! decision), so only an endpoint that names it gets it — the wildcard `*`
//! selects every other event.

use std::fmt;

/// Every event Hall Registry sends. The wire name (`approval.pending`) is
/// what the endpoint subscribes to and what the body's `type` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    ApprovalPending,
    ApprovalResolved,
    ApprovalExpired,
    BanReported,
    BanConfirmed,
    BanLifted,
    WorkerRegistered,
    WorkerRevoked,
    AttestationSubmitted,
    AttestationApproved,
    NamespaceClaimed,
    KeyRotated,
    DecisionDenied,
    EndpointDisabled,
    /// A receipt chain failed its background verification (sev1).
    ChainIntegrityFailure,
}

impl EventType {
    /// Every event type, in the order the documentation lists them.
    pub const ALL: [EventType; 15] = [
        EventType::ApprovalPending,
        EventType::ApprovalResolved,
        EventType::ApprovalExpired,
        EventType::BanReported,
        EventType::BanConfirmed,
        EventType::BanLifted,
        EventType::WorkerRegistered,
        EventType::WorkerRevoked,
        EventType::AttestationSubmitted,
        EventType::AttestationApproved,
        EventType::NamespaceClaimed,
        EventType::KeyRotated,
        EventType::DecisionDenied,
        EventType::EndpointDisabled,
        EventType::ChainIntegrityFailure,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ApprovalPending => "approval.pending",
            EventType::ApprovalResolved => "approval.resolved",
            EventType::ApprovalExpired => "approval.expired",
            EventType::BanReported => "ban.reported",
            EventType::BanConfirmed => "ban.confirmed",
            EventType::BanLifted => "ban.lifted",
            EventType::WorkerRegistered => "worker.registered",
            EventType::WorkerRevoked => "worker.revoked",
            EventType::AttestationSubmitted => "attestation.submitted",
            EventType::AttestationApproved => "attestation.approved",
            EventType::NamespaceClaimed => "namespace.claimed",
            EventType::KeyRotated => "key.rotated",
            EventType::DecisionDenied => "decision.denied",
            EventType::EndpointDisabled => "endpoint.disabled",
            EventType::ChainIntegrityFailure => "chain.integrity_failure",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Whether only endpoints that name it get it (the wildcard does not
    /// select it).
    pub fn is_opt_in(self) -> bool {
        matches!(self, EventType::DecisionDenied)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The wildcard: every event that is not opt-in.
pub const WILDCARD: &str = "*";

/// The most names one subscription may list.
pub const MAX_NAMES: usize = 32;

/// What an endpoint subscribes to: named event types, or the wildcard
/// (every event that is not opt-in) with any opt-in ones named beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    wildcard: bool,
    named: Vec<EventType>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionError {
    #[error("event_types must name at least one event type (or \"*\")")]
    Empty,
    #[error("event_types may list at most {MAX_NAMES} names")]
    TooMany,
    #[error("unknown event type {0:?}; known: * and {known}", known = known_names())]
    Unknown(String),
}

fn known_names() -> String {
    EventType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Subscription {
    /// Parses the names an endpoint subscribes to; duplicates are folded.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, SubscriptionError> {
        if names.is_empty() {
            return Err(SubscriptionError::Empty);
        }
        if names.len() > MAX_NAMES {
            return Err(SubscriptionError::TooMany);
        }
        let mut wildcard = false;
        let mut named = Vec::new();
        for name in names {
            let name = name.as_ref();
            if name == WILDCARD {
                wildcard = true;
            } else {
                let t = EventType::from_name(name)
                    .ok_or_else(|| SubscriptionError::Unknown(name.to_string()))?;
                named.push(t);
            }
        }
        named.sort();
        named.dedup();
        Ok(Self { wildcard, named })
    }

    /// Whether an event of type `t` goes to this endpoint.
    pub fn selects(&self, t: EventType) -> bool {
        self.named.contains(&t) || (self.wildcard && !t.is_opt_in())
    }

    /// The names as stored and shown: `*` first, then the named types.
    pub fn names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.named.len() + 1);
        if self.wildcard {
            names.push(WILDCARD.to_string());
        }
        names.extend(self.named.iter().map(|t| t.as_str().to_string()));
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_reads_back_from_its_name() {
        for t in EventType::ALL {
            assert_eq!(EventType::from_name(t.as_str()), Some(t));
        }
        assert_eq!(EventType::from_name("approval.Pending"), None);
    }

    #[test]
    fn the_wildcard_selects_everything_but_opt_in_events() {
        let s = Subscription::parse(&["*"]).unwrap();
        assert!(s.selects(EventType::ApprovalPending));
        assert!(s.selects(EventType::BanLifted));
        assert!(!s.selects(EventType::DecisionDenied));
        let s = Subscription::parse(&["*", "decision.denied"]).unwrap();
        assert!(s.selects(EventType::DecisionDenied));
    }

    #[test]
    fn named_types_select_only_themselves() {
        let s = Subscription::parse(&["ban.confirmed", "ban.confirmed"]).unwrap();
        assert!(s.selects(EventType::BanConfirmed));
        assert!(!s.selects(EventType::BanLifted));
        assert_eq!(s.names(), vec!["ban.confirmed".to_string()]);
    }

    #[test]
    fn unknown_and_empty_subscriptions_are_refused() {
        assert_eq!(
            Subscription::parse::<&str>(&[]),
            Err(SubscriptionError::Empty)
        );
        let e = Subscription::parse(&["approval.forgotten"]).unwrap_err();
        assert!(e.to_string().contains("approval.forgotten"), "{e}");
        assert!(e.to_string().contains("ban.lifted"), "{e}");
    }
}
