//! A tenant's routing rules (`/api/v1/routing/rules…`, `/api/v1/routing/snapshots`):
//! storing a rules document as a new immutable version, reading versions
//! back, activating one (roll back or forward), golden snapshots (§5.2),
//! and the rule set in force, compiled, for the router ([`Hall::active_rules`]).
//!
//! The rules themselves (parsing, reachability, matching, snapshot checks)
//! are the pure crate `routing`; the rows are `registry::routing_rules`.
//!
//! The compiled set in force is kept per tenant in this process and trusted
//! as the other decision facts are (`registry::facts`): while the change feed
//! is followed and no change was announced since it was read. A document is
//! compiled once per version: after a change announcement the version in
//! force is read again (a small row) and the compiled set is reused when it
//! is the same version.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use chrono::{DateTime, Utc};
use registry::routing_rules::{Activation, NewRulesVersion, RulesVersionInfo, StoredSnapshots};
use registry::StoreError;
use routing::snapshot::{self, Case, CasesError, Difference};
use routing::{RuleSet, RuleSetError, RulesVersion};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;
use wcp::TenantId;

use crate::Hall;

/// The rule set in force for a tenant, compiled once per version.
#[derive(Debug)]
pub struct ActiveRules {
    pub version: RulesVersion,
    pub rules: RuleSet,
    /// Hex SHA-256 of the stored canonical document.
    pub sha256: String,
}

/// Tenants' compiled rule sets in force, in this process.
#[derive(Default)]
pub struct RulesCache {
    entries: RwLock<HashMap<TenantId, Cached>>,
}

struct Cached {
    rules: Option<Arc<ActiveRules>>,
    /// The facts generation the entry was read in.
    generation: u64,
    read_at: Instant,
}

/// Tenants one process keeps compiled rule sets for before it starts over.
const MAX_TENANTS: usize = 10_000;

impl RulesCache {
    /// The copy for `tenant` if it is current in `generation`.
    fn current(&self, tenant: &TenantId, generation: u64) -> Option<Option<Arc<ActiveRules>>> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .get(tenant)
            .filter(|c| {
                c.generation == generation && c.read_at.elapsed() < registry::facts::MAX_AGE
            })
            .map(|c| c.rules.clone())
    }

    /// The compiled set of `version` kept for `tenant`, current or not: a
    /// version never changes, so its compilation never goes stale.
    fn compiled(
        &self,
        tenant: &TenantId,
        version: RulesVersion,
        sha256: &str,
    ) -> Option<Arc<ActiveRules>> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .get(tenant)
            .and_then(|c| c.rules.clone())
            .filter(|r| r.version == version && r.sha256 == sha256)
    }

    fn put(
        &self,
        tenant: &TenantId,
        rules: Option<Arc<ActiveRules>>,
        generation: u64,
        read_at: Instant,
    ) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_TENANTS && !entries.contains_key(tenant) {
            entries.clear();
        }
        entries.insert(
            tenant.clone(),
            Cached {
                rules,
                generation,
                read_at,
            },
        );
    }
}

/// A rules document to store as the tenant's next version.
#[derive(Debug, Clone)]
pub struct PutRules {
    pub tenant: TenantId,
    /// The PyHall rules document as sent.
    pub document: Value,
    /// Make it the version in force (the default).
    pub activate: bool,
    /// Store it even when the tenant's stored snapshots fail on it (for a
    /// deliberate change of behaviour, before the snapshots are updated).
    pub skip_snapshots: bool,
    pub comment: Option<String>,
    /// The API key that acts.
    pub by: Uuid,
}

/// A stored version and its document.
#[derive(Debug, Clone)]
pub struct RulesDocument {
    pub info: RulesVersionInfo,
    /// The document as stored (canonical JSON, parsed back).
    pub document: Value,
}

/// The version in force with its document.
#[derive(Debug, Clone)]
pub struct ActiveDocument {
    pub version: RulesVersion,
    pub sha256: String,
    pub activated_at: DateTime<Utc>,
    pub document: Value,
}

/// What a snapshot run found.
#[derive(Debug, Clone, PartialEq)]
pub struct TestReport {
    pub cases: usize,
    pub differences: Vec<Difference>,
}

impl TestReport {
    pub fn passed(&self) -> bool {
        self.differences.is_empty()
    }
}

/// What activating a version did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activated {
    Now,
    AlreadyActive,
}

/// Why a rules request was refused. Nothing of a refused request is written.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// The rules document was refused; the error names the place.
    #[error(transparent)]
    InvalidRules(#[from] RuleSetError),
    /// Snapshot cases were refused; the error names the place.
    #[error(transparent)]
    InvalidCases(#[from] CasesError),
    /// The tenant's stored snapshots fail on the new rule set.
    #[error("{} of the stored snapshot cases fail on this rule set", .0.len())]
    SnapshotsFailed(Vec<Difference>),
    /// The tenant has no rules in force.
    #[error("this tenant has no routing rules in force")]
    NoRules,
    #[error("routing rules version {0} not found")]
    NoSuchVersion(RulesVersion),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The canonical form of a document and its hex SHA-256.
fn canonical(document: &Value) -> (String, String) {
    let text = wcp::canonical::to_canonical_json(document);
    let sha = wcp::canonical::hex(&Sha256::digest(text.as_bytes()));
    (text, sha)
}

fn parse_stored(text: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("stored rules document: {e}")))
}

impl Hall {
    /// The rule set in force for `tenant`. `None`: the tenant has no rules
    /// (every route is denied: no rule matches).
    pub async fn active_rules(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<Arc<ActiveRules>>, StoreError> {
        let listening = self.facts.is_listening();
        let read_in = self.facts.generation();
        if listening {
            if let Some(hit) = self.rules_cache.current(tenant, read_in) {
                return Ok(hit);
            }
        }
        let read_at = Instant::now();
        let store = self.store.tenant(tenant);
        let rules = match store.active_rules_version().await? {
            None => None,
            Some(head) => match self
                .rules_cache
                .compiled(tenant, head.version, &head.sha256)
            {
                Some(same) => Some(same),
                None => {
                    let stored = store.rules_version(head.version).await?.ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "active rules version {} is missing",
                            head.version
                        ))
                    })?;
                    let rules = RuleSet::parse(&parse_stored(&stored.document)?).map_err(|e| {
                        StoreError::Corrupt(format!(
                            "stored rules version {} no longer parses: {e}",
                            head.version
                        ))
                    })?;
                    Some(Arc::new(ActiveRules {
                        version: head.version,
                        rules,
                        sha256: stored.info.sha256,
                    }))
                }
            },
        };
        // Kept even when not listening or when a change was announced
        // meanwhile: `current` is trusted only while listening and in the
        // same generation, and the compilation can be reused either way.
        self.rules_cache
            .put(tenant, rules.clone(), read_in, read_at);
        Ok(rules)
    }

    /// Checks a rules document (and, unless skipped, the tenant's stored
    /// snapshots against it), then stores it as the next version.
    pub async fn put_rules(&self, command: PutRules) -> Result<RulesVersionInfo, RulesError> {
        let rules = RuleSet::parse(&command.document)?;
        if command.activate && !command.skip_snapshots {
            let cases = self.stored_cases(&command.tenant).await?;
            let differences = snapshot::check(&rules, &cases);
            if !differences.is_empty() {
                return Err(RulesError::SnapshotsFailed(differences));
            }
        }
        let (text, sha256) = canonical(&command.document);
        let info = self
            .store
            .tenant(&command.tenant)
            .store_rules_version(NewRulesVersion {
                document: &text,
                sha256: &sha256,
                rule_count: u32::try_from(rules.rules().len()).unwrap_or(u32::MAX),
                created_by: command.by,
                comment: command.comment.as_deref(),
                activate: command.activate,
            })
            .await?;
        // This process's next route must see the new rules.
        self.facts.invalidate();
        Ok(info)
    }

    /// The version in force with its document.
    pub async fn active_rules_document(
        &self,
        tenant: &TenantId,
    ) -> Result<ActiveDocument, RulesError> {
        let store = self.store.tenant(tenant);
        let head = store
            .active_rules_version()
            .await?
            .ok_or(RulesError::NoRules)?;
        let stored = store.rules_version(head.version).await?.ok_or_else(|| {
            StoreError::Corrupt(format!("active rules version {} is missing", head.version))
        })?;
        Ok(ActiveDocument {
            version: head.version,
            sha256: head.sha256,
            activated_at: head.activated_at,
            document: parse_stored(&stored.document)?,
        })
    }

    /// Every stored version, newest first.
    pub async fn rules_versions(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<RulesVersionInfo>, RulesError> {
        Ok(self.store.tenant(tenant).rules_versions().await?)
    }

    /// One stored version with its document.
    pub async fn rules_version(
        &self,
        tenant: &TenantId,
        version: RulesVersion,
    ) -> Result<RulesDocument, RulesError> {
        let stored = self
            .store
            .tenant(tenant)
            .rules_version(version)
            .await?
            .ok_or(RulesError::NoSuchVersion(version))?;
        Ok(RulesDocument {
            document: parse_stored(&stored.document)?,
            info: stored.info,
        })
    }

    /// Makes a stored version the one in force; the one already in force is
    /// left as it is.
    pub async fn activate_rules(
        &self,
        tenant: &TenantId,
        version: RulesVersion,
        by: Uuid,
    ) -> Result<Activated, RulesError> {
        match self
            .store
            .tenant(tenant)
            .activate_rules_version(version, by)
            .await?
        {
            Activation::NoSuchVersion => Err(RulesError::NoSuchVersion(version)),
            Activation::AlreadyActive => Ok(Activated::AlreadyActive),
            Activation::Activated => {
                self.facts.invalidate();
                Ok(Activated::Now)
            }
        }
    }

    /// Runs snapshot cases against a rule set, writing nothing. `rules`
    /// absent: the set in force; `cases` absent: the stored snapshots.
    pub async fn test_rules(
        &self,
        tenant: &TenantId,
        rules: Option<Value>,
        cases: Option<Value>,
    ) -> Result<TestReport, RulesError> {
        // Both are checked before anything is run.
        let candidate = rules.as_ref().map(RuleSet::parse).transpose()?;
        let cases = match cases {
            Some(v) => snapshot::parse_cases(&v)?,
            None => self.stored_cases(tenant).await?,
        };
        let differences = match candidate {
            Some(set) => snapshot::check(&set, &cases),
            None => {
                let active = self
                    .active_rules(tenant)
                    .await?
                    .ok_or(RulesError::NoRules)?;
                snapshot::check(&active.rules, &cases)
            }
        };
        Ok(TestReport {
            cases: cases.len(),
            differences,
        })
    }

    /// The tenant's stored snapshot cases, as stored (an empty list when it
    /// has none).
    pub async fn routing_snapshots(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<StoredSnapshots>, RulesError> {
        Ok(self.store.tenant(tenant).routing_snapshots().await?)
    }

    /// Replaces the tenant's snapshot cases, every case checked first.
    pub async fn put_routing_snapshots(
        &self,
        tenant: &TenantId,
        cases: Value,
        by: Uuid,
    ) -> Result<StoredSnapshots, RulesError> {
        snapshot::parse_cases(&cases)?;
        Ok(self
            .store
            .tenant(tenant)
            .set_routing_snapshots(&cases, by)
            .await?)
    }

    async fn stored_cases(&self, tenant: &TenantId) -> Result<Vec<Case>, RulesError> {
        match self.store.tenant(tenant).routing_snapshots().await? {
            None => Ok(Vec::new()),
            Some(stored) => snapshot::parse_cases(&stored.cases)
                .map_err(|e| StoreError::Corrupt(format!("stored routing snapshots: {e}")).into()),
        }
    }
}
