//! When an attestation counts: the rules, as pure functions of the facts the
//! store gathers.

use chrono::{DateTime, Utc};
use wcp::{CapabilityId, Namespace, SpeciesId, WorkerId};

use crate::card::{CapabilityCard, MAX_CLOCK_SKEW_SECS};
use crate::keys::NamespacePublicKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttestationStatus {
    /// Accepted, and everything the tenant's policy asks is satisfied.
    Attested,
    /// Accepted, waiting on what the policy still asks (a signature, the operator).
    Pending,
    /// Refused: banned hash, bad or revoked signature, mismatch.
    Denied,
}

impl AttestationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AttestationStatus::Attested => "attested",
            AttestationStatus::Pending => "pending",
            AttestationStatus::Denied => "denied",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "attested" => Some(AttestationStatus::Attested),
            "pending" => Some(AttestationStatus::Pending),
            "denied" => Some(AttestationStatus::Denied),
            _ => None,
        }
    }
}

/// What the tenant's policy asks of attestations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AttestationPolicy {
    /// Unsigned hash attestations stay pending; only signed cards count.
    pub require_signature: bool,
    /// Every attestation waits for the operator's approval.
    pub require_approval: bool,
}

/// The worker an attestation is about.
#[derive(Debug, Clone)]
pub struct WorkerFacts<'a> {
    pub worker_id: &'a WorkerId,
    pub species: Option<&'a SpeciesId>,
    pub capabilities: &'a [CapabilityId],
}

/// The signing key a card names, as registered.
#[derive(Debug, Clone)]
pub struct KeyFacts {
    pub namespace: Namespace,
    pub public_key: NamespacePublicKey,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The outcome of checking a submission: status and, unless attested, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub status: AttestationStatus,
    pub reason: Option<String>,
}

impl Verdict {
    fn denied(reason: impl Into<String>) -> Self {
        Self {
            status: AttestationStatus::Denied,
            reason: Some(reason.into()),
        }
    }
}

/// Why an attestation waits for a signature.
const AWAITING_SIGNATURE: &str = "the tenant's policy requires a signed capability card";
/// Why an attestation waits for the operator.
const AWAITING_APPROVAL: &str = "the tenant's policy requires the operator's approval";

impl AttestationPolicy {
    /// Whether a submission waits for a signature: an unsigned hash, under a
    /// policy that asks for signed cards. The operator's approval does not
    /// end that wait (see [`approved`]); only a signed card can.
    pub fn awaits_signature(self, signed: bool) -> bool {
        self.require_signature && !signed
    }
}

/// The status of a pending attestation once the operator approves it:
/// attested, unless it still waits for a signature.
pub fn approved(awaiting_signature: bool) -> Verdict {
    if awaiting_signature {
        Verdict {
            status: AttestationStatus::Pending,
            reason: Some(AWAITING_SIGNATURE.into()),
        }
    } else {
        Verdict {
            status: AttestationStatus::Attested,
            reason: None,
        }
    }
}

/// When an attestation was accepted: when the operator approved it, or —
/// when no approval was asked — when the registry received it. Its age
/// (WCP L8's freshness) and the `attested_at` clients read count from here.
pub fn accepted_at(
    approved_at: Option<DateTime<Utc>>,
    received_at: DateTime<Utc>,
) -> DateTime<Utc> {
    approved_at.unwrap_or(received_at)
}

/// Status of a new attestation. `signature_ok` is `None` for an unsigned hash
/// attestation; for a card it is the result of checking the signature with
/// `key` (a card naming an unknown key has `key == None`).
pub fn judge_submission(
    worker: &WorkerFacts<'_>,
    card: Option<(&CapabilityCard, Option<&KeyFacts>, bool)>,
    ban_reason: Option<&str>,
    policy: AttestationPolicy,
    now: DateTime<Utc>,
) -> Verdict {
    if let Some(reason) = ban_reason {
        return Verdict::denied(format!("the package hash is on the ban list: {reason}"));
    }
    let signed = card.is_some();
    if let Some((card, key, signature_ok)) = card {
        let Some(key) = key else {
            return Verdict::denied(format!("unknown signing key {}", card.kid));
        };
        // Trust comes from the worker id's authority namespace, never from species or capability.
        let own = worker.worker_id.namespace();
        if key.namespace != own {
            return Verdict::denied(format!(
                "key {} belongs to namespace {}, not to the worker's namespace {own}",
                card.kid, key.namespace
            ));
        }
        if let Some(at) = key.revoked_at {
            return Verdict::denied(format!(
                "key {} was revoked at {}",
                card.kid,
                at.to_rfc3339()
            ));
        }
        if !signature_ok {
            return Verdict::denied("the signature does not verify with the named key");
        }
        if card.worker_id != *worker.worker_id {
            return Verdict::denied(format!(
                "the card is for worker {}, not {}",
                card.worker_id, worker.worker_id
            ));
        }
        if card.capabilities.as_slice() != worker.capabilities {
            return Verdict::denied(
                "the card's capabilities do not match the worker's declared capabilities",
            );
        }
        if let (Some(card_species), Some(species)) = (&card.species, worker.species) {
            if card_species != species {
                return Verdict::denied(format!(
                    "the card's species {card_species} is not the worker's species {species}"
                ));
            }
        }
        if card.issued_at > now + chrono::Duration::seconds(MAX_CLOCK_SKEW_SECS) {
            return Verdict::denied("the card is issued in the future");
        }
        if card.expires_at.is_some_and(|e| e <= now) {
            return Verdict::denied("the card has expired");
        }
    }
    let mut waiting = Vec::new();
    if policy.awaits_signature(signed) {
        waiting.push(AWAITING_SIGNATURE);
    }
    if policy.require_approval {
        waiting.push(AWAITING_APPROVAL);
    }
    if waiting.is_empty() {
        Verdict {
            status: AttestationStatus::Attested,
            reason: None,
        }
    } else {
        Verdict {
            status: AttestationStatus::Pending,
            reason: Some(waiting.join("; ")),
        }
    }
}

/// A stored attestation re-judged against today's facts: a hash banned since,
/// a key revoked since (for cards received after the revocation), or a card
/// expired since, deny it.
pub fn current_status(
    stored: Verdict,
    received_at: DateTime<Utc>,
    key_revoked_at: Option<DateTime<Utc>>,
    card_expires_at: Option<DateTime<Utc>>,
    ban_reason: Option<&str>,
    now: DateTime<Utc>,
) -> Verdict {
    if stored.status == AttestationStatus::Denied {
        return stored;
    }
    if let Some(reason) = ban_reason {
        return Verdict::denied(format!("the package hash is on the ban list: {reason}"));
    }
    // The registry's own receipt time, not the card's claimed issue time,
    // decides: a stolen key cannot back-date its way past a revocation.
    if let Some(revoked) = key_revoked_at {
        if revoked <= received_at {
            return Verdict::denied(format!(
                "signed by a key revoked at {}",
                revoked.to_rfc3339()
            ));
        }
    }
    if card_expires_at.is_some_and(|e| e <= now) {
        return Verdict::denied("the card has expired");
    }
    stored
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ts(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    struct Fixture {
        worker_id: WorkerId,
        species: SpeciesId,
        caps: Vec<CapabilityId>,
        card: CapabilityCard,
        key: KeyFacts,
    }

    fn fixture() -> Fixture {
        let card = CapabilityCard::parse(
            &json!({"worker_id": "x.acme.sum", "capabilities": ["cap.doc.summarize"],
            "sha256": "b".repeat(64), "issued_at": "2026-11-24T12:00:00Z", "kid": "nsk_1",
            "worker_species_id": "wrk.doc.summarizer"}),
        )
        .unwrap();
        let pk = NamespacePublicKey::from_bytes(
            ed25519_dalek::SigningKey::from_bytes(&[1u8; 32])
                .verifying_key()
                .as_bytes(),
        )
        .unwrap();
        Fixture {
            worker_id: WorkerId::parse("x.acme.sum").unwrap(),
            species: SpeciesId::parse("wrk.doc.summarizer").unwrap(),
            caps: vec![CapabilityId::parse("cap.doc.summarize").unwrap()],
            card,
            key: KeyFacts {
                namespace: Namespace::parse("x.acme").unwrap(),
                public_key: pk,
                revoked_at: None,
            },
        }
    }

    /// The fixture's worker, registered without a species.
    fn speciesless(f: &Fixture) -> WorkerFacts<'_> {
        WorkerFacts {
            worker_id: &f.worker_id,
            species: None,
            capabilities: &f.caps,
        }
    }

    fn judge(
        f: &Fixture,
        key: Option<&KeyFacts>,
        sig_ok: bool,
        ban: Option<&str>,
        policy: AttestationPolicy,
    ) -> Verdict {
        let worker = WorkerFacts {
            worker_id: &f.worker_id,
            species: Some(&f.species),
            capabilities: &f.caps,
        };
        judge_submission(
            &worker,
            Some((&f.card, key, sig_ok)),
            ban,
            policy,
            ts("2026-11-24T12:01:00Z"),
        )
    }

    #[test]
    fn a_valid_card_from_the_workers_own_namespace_is_attested() {
        let f = fixture();
        let v = judge(&f, Some(&f.key), true, None, AttestationPolicy::default());
        assert_eq!(v.status, AttestationStatus::Attested, "{v:?}");
    }

    #[test]
    fn unknown_foreign_revoked_keys_and_bad_signatures_are_denied() {
        let f = fixture();
        assert!(judge(&f, None, true, None, Default::default())
            .reason
            .unwrap()
            .contains("unknown signing key"));
        let mut foreign = f.key.clone();
        foreign.namespace = Namespace::parse("x.other").unwrap();
        assert!(judge(&f, Some(&foreign), true, None, Default::default())
            .reason
            .unwrap()
            .contains("x.other"));
        let mut revoked = f.key.clone();
        revoked.revoked_at = Some(ts("2026-11-24T11:00:00Z"));
        assert!(judge(&f, Some(&revoked), true, None, Default::default())
            .reason
            .unwrap()
            .contains("revoked"));
        assert!(judge(&f, Some(&f.key), false, None, Default::default())
            .reason
            .unwrap()
            .contains("signature"));
        assert_eq!(
            judge(&f, Some(&f.key), true, Some("malware"), Default::default()).status,
            AttestationStatus::Denied
        );
    }

    #[test]
    fn cards_that_do_not_match_the_worker_are_denied() {
        let f = fixture();
        let why = |worker: &WorkerFacts<'_>, now: &str| {
            let card = Some((&f.card, Some(&f.key), true));
            let v = judge_submission(worker, card, None, Default::default(), ts(now));
            assert_eq!(v.status, AttestationStatus::Denied, "{v:?}");
            v.reason.unwrap_or_default()
        };
        let other_caps = vec![CapabilityId::parse("cap.web.fetch").unwrap()];
        let worker = WorkerFacts {
            worker_id: &f.worker_id,
            species: Some(&f.species),
            capabilities: &other_caps,
        };
        assert!(why(&worker, "2026-11-24T12:01:00Z").contains("capabilities"));
        let species = SpeciesId::parse("wrk.doc.other").unwrap();
        let worker = WorkerFacts {
            species: Some(&species),
            ..speciesless(&f)
        };
        assert!(why(&worker, "2026-11-24T12:01:00Z").contains("species"));
        assert!(why(&speciesless(&f), "2026-11-24T11:50:00Z").contains("future"));
    }

    #[test]
    fn policy_keeps_unsigned_or_unapproved_attestations_pending() {
        let f = fixture();
        let worker = speciesless(&f);
        let now = ts("2026-11-24T12:00:00Z");
        let unsigned = judge_submission(&worker, None, None, AttestationPolicy::default(), now);
        assert_eq!(unsigned.status, AttestationStatus::Attested);
        let needs_sig = AttestationPolicy {
            require_signature: true,
            require_approval: false,
        };
        let v = judge_submission(&worker, None, None, needs_sig, now);
        assert_eq!(v.status, AttestationStatus::Pending);
        assert!(v.reason.unwrap().contains("signed"));
        let v = judge(&f, Some(&f.key), true, None, needs_sig);
        assert_eq!(v.status, AttestationStatus::Attested);
        let needs_op = AttestationPolicy {
            require_signature: false,
            require_approval: true,
        };
        assert_eq!(
            judge(&f, Some(&f.key), true, None, needs_op).status,
            AttestationStatus::Pending
        );
    }

    #[test]
    fn approval_attests_unless_a_signature_is_still_awaited() {
        let f = fixture();
        let worker = speciesless(&f);
        let both = AttestationPolicy {
            require_signature: true,
            require_approval: true,
        };
        assert!(both.awaits_signature(false));
        assert!(!both.awaits_signature(true));
        assert!(!AttestationPolicy::default().awaits_signature(false));

        // An unsigned hash waits for both; approving ends only the operator's wait,
        // and what is left reads as the submission said it.
        let submitted = judge_submission(&worker, None, None, both, ts("2026-11-24T12:00:00Z"));
        assert_eq!(submitted.status, AttestationStatus::Pending);
        let after = approved(both.awaits_signature(false));
        assert_eq!(after.status, AttestationStatus::Pending);
        let left = after.reason.unwrap();
        assert!(left.contains("signed capability card"), "{left}");
        assert!(submitted.reason.unwrap().starts_with(&left));
        assert_eq!(
            approved(false),
            Verdict {
                status: AttestationStatus::Attested,
                reason: None
            }
        );
    }

    #[test]
    fn an_attestation_is_accepted_when_approved_or_else_when_received() {
        let received = ts("2026-11-24T12:00:00Z");
        let approved_at = ts("2026-11-25T09:30:00Z");
        assert_eq!(accepted_at(None, received), received);
        assert_eq!(accepted_at(Some(approved_at), received), approved_at);
    }

    #[test]
    fn a_later_revocation_denies_only_cards_received_after_it() {
        let received = ts("2026-11-24T12:00:00Z");
        let now = ts("2026-11-25T00:00:00Z");
        let judged = |revoked: Option<&str>, expires: Option<&str>, ban: Option<&str>| {
            current_status(
                approved(false),
                received,
                revoked.map(ts),
                expires.map(ts),
                ban,
                now,
            )
        };
        let before = judged(Some("2026-11-24T13:00:00Z"), None, None);
        assert_eq!(before.status, AttestationStatus::Attested);
        let after = judged(Some("2026-11-24T11:00:00Z"), None, None);
        assert_eq!(after.status, AttestationStatus::Denied);
        let banned = judged(None, None, Some("malware"));
        assert!(banned.reason.unwrap().contains("malware"));
        let expired = judged(None, Some("2026-11-24T18:00:00Z"), None);
        assert_eq!(expired.status, AttestationStatus::Denied);
    }
}
