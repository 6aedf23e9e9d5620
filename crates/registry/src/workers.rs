//! Workers' rows: registration (claiming an `x.*` namespace on the way when
//! the caller's rule says so: `policy::namespaces::register_in`), reads,
//! updates and revocation. Workers are revoked, never deleted. Who may see a
//! worker is `policy::visibility`; `visible_to` here is its one SQL form.

use chrono::{DateTime, Utc};
use policy::namespaces::{Holding, Step};
use sqlx::Row;
use uuid::Uuid;
use wcp::{IdError, TenantId, Visibility, WorkerId, WorkerRecord};

use crate::namespaces::settle_claim;
use crate::webhooks::Audience;
use crate::{is_unique_violation, Conflict, Entity, Store, StoreError, TenantStore};
use ::webhooks::EventType;

/// Prefix of the opaque registry id.
pub const REGISTRY_ID_PREFIX: &str = "wrk_";

/// A worker named either way: registry id (`wrk_…`) or WCP worker id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerRef {
    Registry(String),
    Wcp(WorkerId),
}

impl WorkerRef {
    /// Either form. A dotted value is read as a WCP worker id and refused
    /// with the rule it breaks; anything else (a `wrk_…` of the wrong length,
    /// a bare word) is refused as neither form. Errors name `worker id`;
    /// callers name their field with [`IdError::field`].
    pub fn parse(s: &str) -> Result<Self, IdError> {
        match s.strip_prefix(REGISTRY_ID_PREFIX) {
            Some(rest) if rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Ok(WorkerRef::Registry(s.to_ascii_lowercase()))
            }
            None if s.contains('.') => WorkerId::parse(s).map(WorkerRef::Wcp),
            _ if s.is_empty() => Err(IdError::Empty {
                what: "worker id".into(),
            }),
            _ => Err(IdError::NotWorkerRef {
                what: "worker id".into(),
                id: s.to_string(),
            }),
        }
    }

    fn condition(&self, param: usize) -> String {
        match self {
            WorkerRef::Registry(_) => format!("id = ${param}"),
            WorkerRef::Wcp(_) => format!("worker_id = ${param}"),
        }
    }

    /// A key naming this reference unambiguously among both forms.
    pub fn cache_key(&self) -> String {
        match self {
            WorkerRef::Registry(id) => format!("r:{id}"),
            WorkerRef::Wcp(id) => format!("w:{id}"),
        }
    }

    fn value(&self) -> &str {
        match self {
            WorkerRef::Registry(id) => id,
            WorkerRef::Wcp(id) => id.as_str(),
        }
    }
}

impl std::fmt::Display for WorkerRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.value())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerStatus {
    Active,
    Revoked,
}

impl WorkerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerStatus::Active => "active",
            WorkerStatus::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(WorkerStatus::Active),
            "revoked" => Some(WorkerStatus::Revoked),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Worker {
    /// `wrk_…`
    pub id: String,
    pub tenant_id: TenantId,
    pub record: WorkerRecord,
    pub status: WorkerStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const WORKER_COLUMNS: &str = "tenant_id, id, record, status, created_at, updated_at, revoked_at";

/// `policy::visibility::may_see` without signatories, as SQL over the
/// `workers` row (`$param`: the viewer's tenant id, or NULL for an anonymous
/// caller): a public worker to anyone, a private one to its own tenant. The
/// registry's only SQL form of the visibility rule (single-worker reads
/// apply the rule in Rust: `facts::FactsCache::visible_worker`).
fn visible_to(param: usize) -> String {
    format!("(visibility = 'public' OR tenant_id = ${param})")
}

/// The `data` of `worker.registered` and `worker.revoked` (docs/events.md).
fn worker_data(w: &Worker) -> ::webhooks::payloads::WorkerEvent {
    ::webhooks::payloads::WorkerEvent {
        tenant_id: w.tenant_id.to_string(),
        worker_registry_id: w.id.clone(),
        worker_id: w.record.worker_id.to_string(),
        status: w.status.as_str().to_string(),
        created_at: w.created_at,
        revoked_at: w.revoked_at,
    }
}

fn worker_from_row(row: &sqlx::postgres::PgRow) -> Result<Worker, StoreError> {
    let tenant: String = row.try_get("tenant_id")?;
    let record: serde_json::Value = row.try_get("record")?;
    let status: String = row.try_get("status")?;
    Ok(Worker {
        id: row.try_get("id")?,
        tenant_id: TenantId::parse(&tenant).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        record: WorkerRecord::parse(&record).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        status: WorkerStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("worker status {status:?}")))?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

/// Filters for listing workers. `after` is the last registry id of the previous page.
#[derive(Debug, Clone)]
pub struct WorkerFilter {
    pub namespace: Option<wcp::Namespace>,
    pub capability: Option<wcp::CapabilityId>,
    pub status: Option<WorkerStatus>,
    pub visibility: Option<Visibility>,
    pub after: Option<String>,
    pub limit: wcp::PageLimit,
}

impl WorkerFilter {
    /// Every worker, `limit` at a time (the filters narrow it).
    pub fn all(limit: wcp::PageLimit) -> Self {
        Self {
            namespace: None,
            capability: None,
            status: None,
            visibility: None,
            after: None,
            limit,
        }
    }
}

/// The column values a record maps to (denormalised for filtering and decisions).
struct Columns {
    capabilities: Vec<String>,
    environments: Vec<String>,
    required: Vec<String>,
    implements: Vec<String>,
    blast: Option<serde_json::Value>,
    envelope: Option<serde_json::Value>,
    record: serde_json::Value,
}

fn columns(r: &WorkerRecord) -> Columns {
    Columns {
        capabilities: r.capabilities.iter().map(|c| c.to_string()).collect(),
        environments: r
            .allowed_environments
            .iter()
            .map(|e| e.to_string())
            .collect(),
        required: r.required_controls.iter().map(|c| c.to_string()).collect(),
        implements: r
            .currently_implements
            .iter()
            .map(|c| c.to_string())
            .collect(),
        blast: r.blast_radius.as_ref().map(|(_, v)| v.clone()),
        envelope: r.privilege_envelope.clone(),
        record: serde_json::Value::Object(r.record.clone()),
    }
}

/// Binds the record's 15 column values, in the order both the INSERT and the
/// UPDATE list them.
fn bind_record<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    record: &'q WorkerRecord,
    c: &'q Columns,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(record.species.as_ref().map(|s| s.as_str()))
        .bind(&c.capabilities)
        .bind(record.policy_tier as i16)
        .bind(record.risk_tier.map(|r| r.as_str()))
        .bind(&c.environments)
        .bind(&c.required)
        .bind(&c.implements)
        .bind(&c.blast)
        .bind(&c.envelope)
        .bind(record.owner.as_str())
        .bind(record.contact.as_deref())
        .bind(record.artifact_hash.as_deref())
        .bind(record.max_data_label.as_str())
        .bind(record.visibility.as_str())
        .bind(&c.record)
}

impl TenantStore<'_> {
    /// Registers a worker if `rule` allows it under its namespace, judging
    /// the namespace's row under lock (and claiming it on the way when the
    /// rule says so). All or nothing: a refusal leaves no rows.
    pub async fn register_worker<E>(
        &self,
        record: &WorkerRecord,
        rule: impl Fn(Option<Holding<'_>>) -> Result<Step, E>,
    ) -> Result<Result<Worker, E>, StoreError> {
        let ns = record.namespace();
        let mut tx = self.store.pool.begin().await?;
        if let Err(refused) = settle_claim(&mut tx, &ns, self.tenant, rule).await? {
            return Ok(Err(refused));
        }
        let c = columns(record);
        let id = format!("{REGISTRY_ID_PREFIX}{}", Uuid::now_v7().simple());
        let sql = format!(
            "INSERT INTO workers (tenant_id, id, worker_id, namespace, species_id, capabilities,
                policy_tier, risk_tier, allowed_environments, required_controls, currently_implements,
                blast_radius, privilege_envelope, owner, contact, artifact_hash, max_data_label,
                visibility, record)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
             RETURNING {WORKER_COLUMNS}"
        );
        let query = sqlx::query(&sql)
            .bind(self.tenant.as_str())
            .bind(&id)
            .bind(record.worker_id.as_str())
            .bind(ns.as_str());
        let row = bind_record(query, record, &c)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict(
                        Entity::Worker(record.worker_id.to_string()),
                        Conflict::Exists,
                    )
                } else {
                    e.into()
                }
            })?;
        let worker = worker_from_row(&row)?;
        crate::webhooks::emit(
            &mut tx,
            Audience::Tenant(self.tenant),
            EventType::WorkerRegistered,
            &worker_data(&worker),
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(worker))
    }

    pub async fn worker(&self, worker: &WorkerRef) -> Result<Option<Worker>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {WORKER_COLUMNS} FROM workers WHERE tenant_id = $1 AND {}",
            worker.condition(2)
        ))
        .bind(self.tenant.as_str())
        .bind(worker.value())
        .fetch_optional(&self.store.pool)
        .await?;
        row.as_ref().map(worker_from_row).transpose()
    }

    /// A page of this tenant's workers in registration order, and whether more follow.
    pub async fn list_workers(
        &self,
        filter: &WorkerFilter,
    ) -> Result<(Vec<Worker>, bool), StoreError> {
        let limit = filter.limit.as_i64();
        let rows = sqlx::query(&format!(
            "SELECT {WORKER_COLUMNS} FROM workers
             WHERE tenant_id = $1
               AND ($2::text IS NULL OR namespace = $2)
               AND ($3::text IS NULL OR capabilities @> ARRAY[$3::text])
               AND ($4::text IS NULL OR status = $4)
               AND ($5::text IS NULL OR visibility = $5)
               AND ($6::text IS NULL OR id > $6)
             ORDER BY id LIMIT $7"
        ))
        .bind(self.tenant.as_str())
        .bind(filter.namespace.as_ref().map(|n| n.as_str()))
        .bind(filter.capability.as_ref().map(|c| c.as_str()))
        .bind(filter.status.map(|s| s.as_str()))
        .bind(filter.visibility.map(|v| v.as_str()))
        .bind(filter.after.as_deref())
        .bind(limit + 1)
        .fetch_all(&self.store.pool)
        .await?;
        let more = rows.len() as i64 > limit;
        let workers = rows
            .iter()
            .take(limit as usize)
            .map(worker_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((workers, more))
    }

    /// Replaces an active worker's record (identity unchanged).
    pub async fn update_worker(
        &self,
        worker: &WorkerRef,
        record: &WorkerRecord,
    ) -> Result<Worker, StoreError> {
        let c = columns(record);
        let sql = format!(
            "UPDATE workers SET species_id = $3, capabilities = $4, policy_tier = $5, risk_tier = $6,
                allowed_environments = $7, required_controls = $8, currently_implements = $9,
                blast_radius = $10, privilege_envelope = $11, owner = $12, contact = $13,
                artifact_hash = $14, max_data_label = $15, visibility = $16, record = $17,
                updated_at = now()
             WHERE tenant_id = $1 AND {} AND status = 'active'
             RETURNING {WORKER_COLUMNS}",
            worker.condition(2)
        );
        let query = sqlx::query(&sql)
            .bind(self.tenant.as_str())
            .bind(worker.value());
        let row = bind_record(query, record, &c)
            .fetch_optional(&self.store.pool)
            .await?;
        match row {
            Some(row) => worker_from_row(&row),
            None => match self.worker(worker).await? {
                Some(w) => Err(StoreError::Conflict(
                    Entity::Worker(worker.to_string()),
                    Conflict::Status(w.status.as_str().to_string()),
                )),
                None => Err(StoreError::NotFound(Entity::Worker(worker.to_string()))),
            },
        }
    }

    /// Revokes a worker (idempotent). The row is kept.
    /// `worker.revoked` is emitted in the same transaction the first time.
    pub async fn revoke_worker(&self, worker: &WorkerRef) -> Result<Worker, StoreError> {
        let mut tx = self.store.pool.begin().await?;
        // `revoked_at = now()`: revoked by this transaction, not before.
        let row = sqlx::query(&format!(
            "UPDATE workers SET status = 'revoked', revoked_at = COALESCE(revoked_at, now()),
                updated_at = now()
             WHERE tenant_id = $1 AND {} RETURNING {WORKER_COLUMNS}, revoked_at = now() AS revoked_now",
            worker.condition(2)
        ))
        .bind(self.tenant.as_str())
        .bind(worker.value())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound(Entity::Worker(worker.to_string())));
        };
        let revoked = worker_from_row(&row)?;
        let revoked_now: bool = row.try_get("revoked_now")?;
        if revoked_now {
            crate::webhooks::emit(
                &mut tx,
                Audience::Tenant(self.tenant),
                EventType::WorkerRevoked,
                &worker_data(&revoked),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(revoked)
    }
}

impl TenantStore<'_> {
    /// The workers of `species` this tenant may route to (WCP §5.9): its
    /// own, and those of tenants that list it as a signatory — revoked ones
    /// included, so the router can say why it skipped them. In `worker_id`
    /// order, so the same state always gives the same candidates.
    /// Visibility is the caller's to apply (`policy::visibility`), as for
    /// decisions.
    pub async fn workers_of_species(
        &self,
        species: &wcp::SpeciesId,
    ) -> Result<Vec<Worker>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {WORKER_COLUMNS} FROM workers w
             WHERE species_id = $2
               AND (tenant_id = $1 OR EXISTS (
                   SELECT 1 FROM tenants t WHERE t.id = w.tenant_id AND $1 = ANY (t.signatories)))
             ORDER BY worker_id
             LIMIT 1000"
        ))
        .bind(self.tenant.as_str())
        .bind(species.as_str())
        .fetch_all(&self.store.pool)
        .await?;
        rows.iter().map(worker_from_row).collect()
    }
}

impl Store {
    /// A worker whatever its tenant and visibility. Only for decisions, which
    /// apply the owner's signatory rules and visibility themselves.
    pub(crate) async fn worker_in_any_tenant(
        &self,
        worker: &WorkerRef,
    ) -> Result<Option<Worker>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {WORKER_COLUMNS} FROM workers WHERE {}",
            worker.condition(1)
        ))
        .bind(worker.value())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(worker_from_row).transpose()
    }

    /// The worker a decision names, whoever owns it: the requesting tenant
    /// may be a signatory of the owner (WCP §5.9). Visibility is the
    /// caller's to apply.
    pub async fn worker_for_decision(
        &self,
        worker: &WorkerRef,
    ) -> Result<Option<Worker>, StoreError> {
        self.worker_in_any_tenant(worker).await
    }

    /// Capabilities declared by active workers `viewer` may see, with how many declare each.
    pub async fn visible_capabilities(
        &self,
        viewer: Option<&TenantId>,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
            "SELECT cap, count(*) FROM workers, unnest(capabilities) AS cap
             WHERE status = 'active' AND {}
             GROUP BY cap ORDER BY cap",
            visible_to(1)
        ))
        .bind(viewer.map(|t| t.as_str()))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_id_form_parses() {
        let r = WorkerRef::parse("wrk_0193a1b2c3d4e5f60718293a4b5c6d7e").unwrap();
        assert!(matches!(r, WorkerRef::Registry(_)));
        let w = WorkerRef::parse("x.myagent.my-agent").unwrap();
        assert!(matches!(w, WorkerRef::Wcp(_)));
        assert!(WorkerRef::parse("wrk_short").is_err());
        assert!(WorkerRef::parse("wrk.doc.summarizer").is_err());
    }

    #[test]
    fn the_seeds_placeholder_is_neither_form() {
        for bad in [
            "wrk_abc123",
            "my-agent",
            "WRK_0193A1B2C3D4E5F60718293A4B5C6D7E",
        ] {
            let err = WorkerRef::parse(bad).unwrap_err().field("worker_id");
            assert!(matches!(err, IdError::NotWorkerRef { .. }), "{bad}: {err}");
            let msg = err.to_string();
            assert!(msg.starts_with(&format!("worker_id {bad:?} is neither a registry id")));
            assert!(msg.contains("x.myagent.my-agent"), "{msg}");
        }
        // A dotted value is a WCP id with a fault, and the fault is named.
        let err = WorkerRef::parse("wrk.doc.summarizer").unwrap_err();
        assert!(matches!(err, IdError::NotAuthority { .. }), "{err}");
    }
}
