//! The decision use case: may this worker run this capability, here, on
//! this data, for this tenant? One call of [`Hall::decide`] gathers the
//! facts (from this process's in-memory copies), applies the visibility
//! rule, runs the policy engine (`crates/policy`, pure), takes the
//! human-approval steps ([`approval`]), and appends the signed receipt
//! (`registry::receipts`, group commit) before it answers. With an
//! `Idempotency-Key` ([`idempotency`]) it runs at most once per key.
//!
//! A deny is a decision like an allow: `Ok`, with its receipt. An `Err` means
//! no decision was made and no receipt appended (an approval used on the way
//! is given back, a claimed key released), so the request may be repeated.

pub mod approval;
pub mod idempotency;

use audit::{Outcome, UnsignedReceipt};
use chrono::{SecondsFormat, Utc};
use policy::{AttestationFact, BanFact, Facts, Request, WorkerFact};
use registry::attestations::AttestationKind;
use registry::decisions::LoggedDecision;
use registry::idempotency::IdempotencyClaim;
use registry::receipts::PendingReceipt;
use registry::workers::{Worker, WorkerRef, WorkerStatus};
use registry::{Entity, StoreError, Unavailable};
use uuid::Uuid;
use wcp::{CapabilityId, DataLabel, Env, SpeciesId, TenantId};

pub use approval::Supervision;
pub use idempotency::{Fingerprint, Idempotency, IdempotencyKey, InvalidIdempotencyKey};

use crate::{Caller, Hall, NotYourTenant};

/// A decision request, parsed: every field a domain value, the requesting
/// tenant settled ([`Caller::decides_for`]). Nothing is looked up or claimed
/// before this exists.
#[derive(Debug, Clone)]
pub struct DecisionCommand {
    pub worker: WorkerRef,
    /// The worker as the caller named it (the receipt's `worker_id` when
    /// the registry does not know it).
    pub worker_named: String,
    pub capability: CapabilityId,
    pub env: Env,
    /// `None`: the tenant's default label (`TenantPolicy::default_data_label`),
    /// which the receipt records.
    pub data_label: Option<DataLabel>,
    /// The tenant the decision is made for (its receipt goes in this tenant's chain).
    pub tenant: TenantId,
    pub correlation_id: String,
    /// SHA-256 (64 lowercase hex) of the caller's request, bound into the receipt.
    pub request_hash: Option<String>,
    pub dry_run: bool,
    /// An approval the caller brought (WCP §5.8).
    pub approval: Option<Uuid>,
}

/// A decision made (or made earlier and answered again).
#[derive(Debug, Clone)]
pub struct Decided {
    /// The committed receipt and the human reason of a deny.
    pub decision: LoggedDecision,
    /// The human-approval fields of the answer.
    pub supervision: Supervision,
    /// The worker decided on, when the tenant may see it (`None` for an
    /// unknown or hidden worker).
    pub selected: Option<SelectedWorker>,
    /// True when this is the decision of an earlier request with the same
    /// idempotency key: no receipt was appended now.
    pub replayed: bool,
}

/// What the answer tells about the worker decided on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectedWorker {
    /// Its species (`wrk.…`), when its record names one.
    pub species: Option<SpeciesId>,
    /// The SHA-256 of its current attestation, when it has one.
    pub artifact_hash: Option<String>,
}

/// Why no decision was made.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    /// The operator's own tenant has no workers and signs for none; the
    /// operator decides on a tenant's behalf, so it must say which.
    #[error(
        "a decision with the operator's key must name the tenant it is made for: \
         send tenant_id, or use an API key of that tenant"
    )]
    TenantRequired,
    /// A key decides for its own tenant only (the operator excepted).
    #[error(
        "tenant_id {named} is not your tenant ({caller}): omit tenant_id or send your own \
         ({caller}); a key decides for its own tenant only"
    )]
    Forbidden { named: TenantId, caller: TenantId },
    /// The operator's key decides for another tenant only with `admin`.
    #[error(
        "deciding for tenant {named} needs the operator's `admin` scope, which this key lacks; \
         use a key with `admin`, or an API key of that tenant"
    )]
    AdminRequired { named: TenantId, caller: TenantId },
    /// The operator named a tenant that does not exist.
    #[error("tenant {0} not found")]
    UnknownTenant(TenantId),
    #[error(
        "Idempotency-Key {0} was used in the last 24 hours with a different request body; \
         use a new key for a new request"
    )]
    IdempotencyKeyReused(IdempotencyKey),
    #[error("a request with Idempotency-Key {0} is still being decided; retry later")]
    IdempotencyKeyInFlight(IdempotencyKey),
    /// No receipt, so no decision.
    #[error("the decision's receipt could not be committed; retry")]
    ReceiptNotCommitted(#[source] StoreError),
    /// A completed key names a receipt the store does not have.
    #[error("idempotency key {key} names receipt {receipt_id} that is not there")]
    ReplayLost {
        key: IdempotencyKey,
        receipt_id: Uuid,
    },
    /// The approval fields could not be kept with the key.
    #[error("the approval fields of a decision could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Caller<'_> {
    /// The tenant a decision is made for: the one named, or the caller's.
    /// A key decides for its own tenant only; the operator must name the
    /// tenant, and decides for another only with `admin`
    /// ([`Caller::may_act_for`], the rule of `acts_on` too).
    pub fn decides_for(&self, named: Option<TenantId>) -> Result<TenantId, DecideError> {
        match named {
            None if self.operator => Err(DecideError::TenantRequired),
            None => Ok(self.tenant.clone()),
            Some(t) => {
                self.may_decide_for(&t)?;
                Ok(t)
            }
        }
    }

    /// [`Caller::may_act_for`], refused as a decision is: forbidden (the
    /// tenant is part of the decision asked for, so nothing is hidden).
    pub(crate) fn may_decide_for(&self, tenant: &TenantId) -> Result<(), DecideError> {
        self.may_act_for(tenant).map_err(|refused| match refused {
            NotYourTenant::NotFound(named) => DecideError::Forbidden {
                named,
                caller: self.tenant.clone(),
            },
            NotYourTenant::AdminRequired { named, caller } => {
                DecideError::AdminRequired { named, caller }
            }
        })
    }
}

impl Hall {
    /// Decides once per idempotency key: without a key, always; with one,
    /// only for its first request — a repeat gets the original decision
    /// (waiting while the first is still being decided).
    pub async fn decide(
        &self,
        caller: Caller<'_>,
        command: DecisionCommand,
        idempotency: Option<Idempotency>,
    ) -> Result<Decided, DecideError> {
        caller.may_decide_for(&command.tenant)?;
        if command.tenant != *caller.tenant {
            // Only the operator gets here; a receipt needs its tenant's chain.
            self.facts
                .decision_policy(&command.tenant)
                .await
                .map_err(|e| match e {
                    StoreError::NotFound(Entity::Tenant(t)) => DecideError::UnknownTenant(t),
                    e => DecideError::Store(e),
                })?;
        }
        let Some(this) = idempotency else {
            return self.run(caller, command, None).await;
        };
        match idempotency::take_turn(self, caller, &this).await? {
            idempotency::Turn::Replay(done) => {
                let decision: LoggedDecision = self
                    .store
                    .tenant(&done.receipt_tenant_id)
                    .decision(done.receipt_id)
                    .await?
                    .ok_or(DecideError::ReplayLost {
                        key: this.key,
                        receipt_id: done.receipt_id,
                    })?;
                let selected = self
                    .visible_worker(&decision.receipt.content.worker_id, &command.tenant)
                    .await?;
                Ok(Decided {
                    decision,
                    supervision: serde_json::from_value(done.response_extra).unwrap_or_default(),
                    selected,
                    replayed: true,
                })
            }
            idempotency::Turn::Decide(token) => {
                let claim = IdempotencyClaim {
                    tenant_id: caller.tenant.clone(),
                    key: this.key.as_str().to_string(),
                    token,
                    response_extra: serde_json::Value::Null,
                };
                let decided = self.run(caller, command, Some(claim)).await;
                if decided.is_err() {
                    // No receipt was made (a committed receipt completes the
                    // key, which release leaves alone): a retry may decide.
                    idempotency::release(self, caller, &this.key, token).await;
                }
                decided
            }
        }
    }

    /// Runs the chain and commits the receipt, which names the caller's key
    /// (`acting_key_id`), before answering.
    async fn run(
        &self,
        caller: Caller<'_>,
        command: DecisionCommand,
        claim: Option<IdempotencyClaim>,
    ) -> Result<Decided, DecideError> {
        let DecisionCommand {
            worker: worker_ref,
            worker_named,
            capability,
            env,
            data_label,
            tenant,
            correlation_id,
            request_hash,
            dry_run,
            approval: brought_approval,
        } = command;
        let data_label = match data_label {
            Some(label) => label,
            None => {
                self.facts
                    .decision_policy(&tenant)
                    .await?
                    .default_data_label
            }
        };
        let found = self.facts.worker(&worker_ref).await?;
        let request = Request {
            capability: capability.clone(),
            env,
            data_label,
            tenant: tenant.clone(),
        };
        let mut known = None;
        let mut selected = None;
        let chained = match &found {
            None => None,
            Some(w) => self.chain(w, request.clone()).await?,
        };
        let (worker_label, facts, decision) = match (found, chained) {
            (Some(w), Some(c)) => {
                selected = Some(SelectedWorker {
                    species: w.record.species.clone(),
                    artifact_hash: c.artifact_hash,
                });
                let label = w.record.worker_id.to_string();
                known = Some(w);
                (label, c.facts, c.decision)
            }
            _ => {
                let facts = unknown_worker(request);
                let decision = policy::decide(&self.policy, &facts);
                (worker_named, facts, decision)
            }
        };
        let receipt_id = Uuid::now_v7();
        let (decision, approval_id, pending, opens) = match (&known, decision.deny_code) {
            (Some(w), Some(policy::deny::REQUIRES_HUMAN_APPROVAL)) => {
                let this = approval::InFlight {
                    brought: brought_approval,
                    receipt_id,
                    correlation_id: &correlation_id,
                    dry_run,
                };
                let h = approval::require_human(self, w, facts, decision, this).await?;
                (h.decision, h.approval_id, h.pending, h.opens)
            }
            (Some(w), None) if decision.advisory_human && !dry_run => {
                let opened = approval::open_advisory(
                    self,
                    w,
                    &facts,
                    &decision,
                    receipt_id,
                    &correlation_id,
                )
                .await?;
                (decision, Some(opened.id), Some(opened), true)
            }
            _ => (decision, None, None, false),
        };
        // Opened with the receipt, in its transaction.
        let opens = pending.clone().filter(|_| opens);
        let supervision = Supervision::new(decision.advisory_human, pending.clone());
        let idempotency = claim
            .map(|c| -> Result<IdempotencyClaim, DecideError> {
                Ok(IdempotencyClaim {
                    response_extra: serde_json::to_value(&supervision)?,
                    ..c
                })
            })
            .transpose()?;
        let now = Utc::now();
        let content = UnsignedReceipt {
            receipt_id: receipt_id.to_string(),
            spec_version: wcp::SPEC_VERSION.to_string(),
            tenant_id: tenant.to_string(),
            correlation_id,
            decided_at: now.to_rfc3339_opts(SecondsFormat::Micros, true),
            worker_id: worker_label,
            capability_id: capability.to_string(),
            env: env.to_string(),
            data_label: data_label.to_string(),
            outcome: Outcome::of(decision.denied()),
            deny_code: decision.deny_code.map(str::to_string),
            tier: decision.tier,
            policy_version: self.policy.version.clone(),
            controls_verified: decision.controls_verified.clone(),
            request_hash,
            dry_run,
            prev_receipt_hash: None,
            signing_key_id: String::new(),
            approval_id: approval_id.map(|a| a.to_string()),
            receipt_version: audit::ReceiptVersion::CURRENT,
            acting_key_id: Some(caller.key_id.to_string()),
            matched_rule_id: None,
            rules_version: None,
            rules_sha256: None,
            selected_worker_species_id: None,
        };
        let used = approval_id.filter(|_| pending.is_none());
        let receipt = self
            .commit_receipt(
                PendingReceipt {
                    content,
                    decided_at: now,
                    denied: decision.denied(),
                    deny_reason: decision.deny_reason.clone(),
                    idempotency,
                    telemetry: None,
                    announce_denied: false,
                    opens,
                },
                used,
            )
            .await
            .map_err(DecideError::ReceiptNotCommitted)?;
        Ok(Decided {
            decision: LoggedDecision {
                receipt: receipt.receipt,
                deny_reason: decision.deny_reason,
                leaf_index: receipt.leaf_index,
            },
            supervision,
            selected,
            replayed: false,
        })
    }

    /// What an answer tells about the worker a receipt names (`worker_id`
    /// as recorded), looked up now: `None` when the tenant may not see it.
    async fn visible_worker(
        &self,
        recorded: &str,
        tenant: &TenantId,
    ) -> Result<Option<SelectedWorker>, StoreError> {
        let Ok(worker_ref) = WorkerRef::parse(recorded) else {
            return Ok(None);
        };
        let Some(w) = self.facts.worker(&worker_ref).await? else {
            return Ok(None);
        };
        let (owner_policy, current) = tokio::join!(
            self.facts.decision_policy(&w.tenant_id),
            self.facts.current_attestation(&w.id, Utc::now())
        );
        if hidden(&w, &*owner_policy?, tenant) {
            return Ok(None);
        }
        Ok(Some(SelectedWorker {
            species: w.record.species.clone(),
            artifact_hash: current?.map(|a| a.sha256),
        }))
    }

    /// Appends a decision's receipt. When it surely was not stored, the
    /// approval the decision used (`used`) is given back: it was used by a
    /// decision that never happened. (After a COMMIT whose answer was lost
    /// it stays used: the receipt may be stored, and the store gives back
    /// no approval whose receipt is.)
    ///
    /// A denial is marked for `decision.denied` when one of the tenant's
    /// endpoints wants it (asked of this process's copy; when that cannot
    /// be read, marked anyway: the receipt writer's statement finds no
    /// endpoint then and writes nothing).
    pub(crate) async fn commit_receipt(
        &self,
        mut pending: PendingReceipt,
        used: Option<Uuid>,
    ) -> Result<registry::receipts::Appended, StoreError> {
        let tenant = TenantId::parse(&pending.content.tenant_id)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if pending.denied {
            pending.announce_denied = self.announces_denied(&tenant).await.unwrap_or(true);
        }
        let receipt_id = Uuid::parse_str(&pending.content.receipt_id)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        match self.receipts.append_at(pending).await {
            Ok(r) => Ok(r),
            Err(e) => {
                tracing::error!(error = %e, "no receipt, so no decision");
                let surely_not_stored = matches!(
                    e,
                    StoreError::Unavailable(
                        Unavailable::NotCommitted(_) | Unavailable::WriterStopped
                    )
                );
                if let (Some(id), true) = (used, surely_not_stored) {
                    if let Err(e) = self
                        .store
                        .tenant(&tenant)
                        .release_approval(id, receipt_id)
                        .await
                    {
                        tracing::warn!(error = %e, approval = %id, "could not give the approval back");
                    }
                }
                Err(e)
            }
        }
    }

    /// The governance chain (registration, ban list, attestation, tier
    /// policy) for a known worker and a request: `None` when the requesting
    /// tenant may not see the worker (it is then unknown to it). Shared by
    /// decisions about a named worker and the router's candidates.
    pub(crate) async fn chain(
        &self,
        w: &Worker,
        request: Request,
    ) -> Result<Option<Chained>, StoreError> {
        let (owner_policy, current) = tokio::join!(
            self.facts.decision_policy(&w.tenant_id),
            self.facts.current_attestation(&w.id, Utc::now())
        );
        let owner_policy = owner_policy?;
        if hidden(w, &owner_policy, &request.tenant) {
            return Ok(None);
        }
        let current = current?;
        let artifact_hash = current.as_ref().map(|a| a.sha256.clone());
        let facts = self
            .gather(w, (*owner_policy).clone(), current, request)
            .await;
        let decision = policy::decide(&self.policy, &facts);
        Ok(Some(Chained {
            facts,
            decision,
            artifact_hash,
        }))
    }

    /// The facts of a decision about a known worker: its owner's policy and
    /// its current attestation (read together by the caller), then the ban
    /// status of its hash.
    async fn gather(
        &self,
        w: &Worker,
        owner_policy: policy::TenantPolicy,
        current: Option<registry::attestations::Attestation>,
        request: Request,
    ) -> Facts {
        let ban = match &current {
            None => BanFact::Clear,
            Some(a) => match self.bans.ban_reason(&a.sha256).await {
                Ok(None) => BanFact::Clear,
                Ok(Some(reason)) => BanFact::Banned(reason),
                Err(e) => {
                    tracing::warn!(error = %e, "ban status unknown; the decision fails closed");
                    BanFact::Unknown
                }
            },
        };
        let r = &w.record;
        Facts {
            request,
            worker: Some(WorkerFact {
                owner: w.tenant_id.clone(),
                revoked: w.status == WorkerStatus::Revoked,
                policy_tier: r.policy_tier,
                capabilities: r.capabilities.clone(),
                allowed_environments: r.allowed_environments.clone(),
                max_data_label: r.max_data_label,
                required_controls: r.required_controls.clone(),
                currently_implements: r.currently_implements.clone(),
                blast_score: r.blast_radius.as_ref().map(|(b, _)| b.score()),
            }),
            ban,
            attestation: current.map(|a| AttestationFact {
                signed: a.kind == AttestationKind::Card,
                accepted_at: a.accepted_at(),
            }),
            owner_policy,
            human_approval: false,
            now: Utc::now(),
        }
    }
}

/// A known worker through the governance chain ([`Hall::chain`]).
pub(crate) struct Chained {
    pub facts: Facts,
    pub decision: policy::Decision,
    /// The SHA-256 of its current attestation, when it has one.
    pub artifact_hash: Option<String>,
}

/// A worker `tenant` may not see (`policy::visibility`: a private worker of
/// another tenant that `tenant` does not sign for) is unknown to it.
fn hidden(w: &Worker, owner_policy: &policy::TenantPolicy, tenant: &TenantId) -> bool {
    !policy::visibility::may_see(
        &w.tenant_id,
        w.record.visibility,
        Some(tenant),
        &owner_policy.signatories,
    )
}

/// The facts of a decision about a worker that is not there (or not yours to see).
fn unknown_worker(request: Request) -> Facts {
    Facts {
        request,
        worker: None,
        ban: BanFact::Clear,
        attestation: None,
        owner_policy: Default::default(),
        human_approval: false,
        now: Utc::now(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{caller, t};

    #[test]
    fn a_key_decides_for_its_own_tenant_and_another_is_forbidden() {
        let (acme, other) = (t("org.acme"), t("org.other"));
        for admin in [false, true] {
            let key = caller(&acme, false, admin);
            assert_eq!(key.decides_for(None).unwrap(), acme);
            assert_eq!(key.decides_for(Some(acme.clone())).unwrap(), acme);
            let refused = key.decides_for(Some(other.clone())).unwrap_err();
            assert!(
                matches!(refused, DecideError::Forbidden { .. }),
                "{refused:?}"
            );
            assert_eq!(
                refused.to_string(),
                "tenant_id org.other is not your tenant (org.acme): omit tenant_id or send \
                 your own (org.acme); a key decides for its own tenant only"
            );
        }
    }

    #[test]
    fn the_operator_decides_for_another_tenant_only_with_admin() {
        let (op, acme) = (t("hall.operator"), t("org.acme"));
        let admin = caller(&op, true, true);
        assert_eq!(admin.decides_for(Some(acme.clone())).unwrap(), acme);
        let without = caller(&op, true, false);
        let refused = without.decides_for(Some(acme.clone())).unwrap_err();
        assert!(
            matches!(&refused, DecideError::AdminRequired { named, .. } if named == &acme),
            "{refused:?}"
        );
        assert!(refused.to_string().contains("`admin` scope"), "{refused}");
        // Its own tenant needs no admin; naming none is still asked to name one.
        assert_eq!(without.decides_for(Some(op.clone())).unwrap(), op);
        assert!(matches!(
            without.decides_for(None),
            Err(DecideError::TenantRequired)
        ));
    }
}
