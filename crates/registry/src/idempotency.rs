//! Idempotency keys of decisions: the rows behind `Idempotency-Key`.
//!
//! A request claims its key before its decision runs ([`TenantStore::claim_idempotency`]);
//! the receipt writer completes the claim in the receipt's own transaction
//! (see [`crate::receipts`]), so a key is completed exactly when its receipt
//! is committed. A claim whose holder died is taken over once its lease has
//! run out; the writer refuses to commit a receipt for a claim it no longer
//! holds, so two receipts for one key cannot both commit.

use std::time::Duration;

use sqlx::Row;
use uuid::Uuid;
use wcp::TenantId;

use crate::{Store, StoreError, TenantStore};

/// How long a key is remembered.
pub const RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// The claim a request holds on its key; given to the receipt writer so the
/// key is completed with the receipt.
#[derive(Debug, Clone)]
pub struct IdempotencyClaim {
    /// The tenant whose key it is (the caller's, not necessarily the receipt's).
    pub tenant_id: TenantId,
    pub key: String,
    pub token: Uuid,
    /// What the answer carries besides the receipt, stored for replays.
    pub response_extra: serde_json::Value,
}

/// A completed key: where its receipt is.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletedKey {
    pub receipt_tenant_id: TenantId,
    pub receipt_id: Uuid,
    pub response_extra: serde_json::Value,
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    /// The key is this request's: run the decision with this token.
    Claimed(Uuid),
    /// The key's decision was made: answer it again.
    Completed(CompletedKey),
    /// Another request holds the key and has not finished.
    InFlight,
    /// The key was used with another request body.
    OtherRequest,
}

impl TenantStore<'_> {
    /// Claims `key` for a request whose body hashes to `request_hash`, for
    /// `lease`. A key older than [`RETENTION`] is forgotten and claimed anew;
    /// an unfinished claim whose lease ran out is taken over by a request with
    /// the same body.
    pub async fn claim_idempotency(
        &self,
        key: &str,
        request_hash: &str,
        lease: Duration,
    ) -> Result<ClaimOutcome, StoreError> {
        let token = Uuid::new_v4();
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let retention_s = RETENTION.as_secs() as i64;
        // A row locked by a receipt batch makes this wait for its commit, and
        // the WHERE then sees the completed row.
        let claimed: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO decision_idempotency (tenant_id, idempotency_key, request_hash, claim, lease_until)
             VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5::double precision / 1000))
             ON CONFLICT (tenant_id, idempotency_key) DO UPDATE
                SET request_hash = EXCLUDED.request_hash, claim = EXCLUDED.claim,
                    lease_until = EXCLUDED.lease_until, receipt_tenant_id = NULL,
                    receipt_id = NULL, response_extra = NULL, created_at = now()
              WHERE decision_idempotency.created_at < now() - make_interval(secs => $6)
                 OR (decision_idempotency.receipt_id IS NULL
                     AND decision_idempotency.lease_until < now()
                     AND decision_idempotency.request_hash = EXCLUDED.request_hash)
             RETURNING claim",
        )
        .bind(self.tenant.as_str())
        .bind(key)
        .bind(request_hash)
        .bind(token)
        .bind(lease_ms)
        .bind(retention_s as f64)
        .fetch_optional(&self.store.pool)
        .await?;
        if claimed == Some(token) {
            return Ok(ClaimOutcome::Claimed(token));
        }
        let row = sqlx::query(
            "SELECT request_hash, receipt_tenant_id, receipt_id, response_extra
             FROM decision_idempotency WHERE tenant_id = $1 AND idempotency_key = $2",
        )
        .bind(self.tenant.as_str())
        .bind(key)
        .fetch_optional(&self.store.pool)
        .await?;
        let Some(row) = row else {
            // Released between the two statements: the caller tries again.
            return Ok(ClaimOutcome::InFlight);
        };
        let stored_hash: String = row.try_get("request_hash")?;
        if stored_hash != request_hash {
            return Ok(ClaimOutcome::OtherRequest);
        }
        let receipt_id: Option<Uuid> = row.try_get("receipt_id")?;
        let Some(receipt_id) = receipt_id else {
            return Ok(ClaimOutcome::InFlight);
        };
        let tenant: Option<String> = row.try_get("receipt_tenant_id")?;
        let receipt_tenant_id = TenantId::parse(tenant.as_deref().unwrap_or_default())
            .map_err(|e| StoreError::Corrupt(format!("decision_idempotency tenant: {e}")))?;
        let extra: Option<serde_json::Value> = row.try_get("response_extra")?;
        Ok(ClaimOutcome::Completed(CompletedKey {
            receipt_tenant_id,
            receipt_id,
            response_extra: extra.unwrap_or(serde_json::Value::Null),
        }))
    }

    /// Gives a claim back when its decision did not happen (bad input, no
    /// receipt), so a retry can run. A completed key is never released.
    pub async fn release_idempotency(&self, key: &str, token: Uuid) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM decision_idempotency
             WHERE tenant_id = $1 AND idempotency_key = $2 AND claim = $3 AND receipt_id IS NULL",
        )
        .bind(self.tenant.as_str())
        .bind(key)
        .bind(token)
        .execute(&self.store.pool)
        .await?;
        Ok(())
    }
}

impl Store {
    /// Forgets keys older than [`RETENTION`], at most `batch` rows at a time.
    /// Returns how many were deleted.
    pub async fn prune_idempotency_keys(&self, batch: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM decision_idempotency WHERE ctid = ANY (ARRAY(
                SELECT ctid FROM decision_idempotency
                WHERE created_at < now() - make_interval(secs => $1)
                LIMIT $2))",
        )
        .bind(RETENTION.as_secs() as f64)
        .bind(batch)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Prunes old keys every few minutes, for as long as the process runs.
    pub fn prune_idempotency_keys_forever(&self) {
        let store = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(300));
            loop {
                every.tick().await;
                loop {
                    match store.prune_idempotency_keys(5000).await {
                        Ok(5000) => continue,
                        Ok(_) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "could not prune old idempotency keys");
                            break;
                        }
                    }
                }
            }
        });
    }
}

/// Locks the claims of a receipt batch and returns, per claim, whether it is
/// still held by its token (in the order given). Runs in the transaction of
/// a batch written the locked way (`receipts::locked`); the one-round-trip
/// way takes every claim as held and its call fails whole if one is not.
pub(crate) async fn lock_claims(
    tx: &mut sqlx::PgConnection,
    claims: &[&IdempotencyClaim],
) -> Result<Vec<bool>, StoreError> {
    if claims.is_empty() {
        return Ok(Vec::new());
    }
    let tenants: Vec<&str> = claims.iter().map(|c| c.tenant_id.as_str()).collect();
    let keys: Vec<&str> = claims.iter().map(|c| c.key.as_str()).collect();
    let tokens: Vec<Uuid> = claims.iter().map(|c| c.token).collect();
    let held: Vec<Uuid> = sqlx::query_scalar(
        "SELECT d.claim FROM decision_idempotency d
         JOIN unnest($1::text[], $2::text[], $3::uuid[]) AS c(tenant_id, idempotency_key, claim)
           ON d.tenant_id = c.tenant_id AND d.idempotency_key = c.idempotency_key AND d.claim = c.claim
         WHERE d.receipt_id IS NULL
         ORDER BY d.tenant_id, d.idempotency_key
         FOR UPDATE OF d",
    )
    .bind(&tenants)
    .bind(&keys)
    .bind(&tokens)
    .fetch_all(&mut *tx)
    .await?;
    Ok(tokens.iter().map(|t| held.contains(t)).collect())
}

/// The claims a receipt batch completes, as columns of its call
/// (`receipts::append_batch`), which sets each claim's receipt — and fails
/// the batch whole (SQLSTATE HR002) if one is no longer held by its token.
#[derive(Default)]
pub(crate) struct CompletedClaims {
    tenant: Vec<String>,
    key: Vec<String>,
    token: Vec<Uuid>,
    receipt_tenant: Vec<String>,
    receipt: Vec<Uuid>,
    response_extra: Vec<serde_json::Value>,
}

impl CompletedClaims {
    /// `claim` completes with receipt `receipt` of `receipt_tenant`.
    pub(crate) fn add(&mut self, claim: &IdempotencyClaim, receipt_tenant: &str, receipt: Uuid) {
        self.tenant.push(claim.tenant_id.to_string());
        self.key.push(claim.key.clone());
        self.token.push(claim.token);
        self.receipt_tenant.push(receipt_tenant.to_string());
        self.receipt.push(receipt);
        self.response_extra.push(claim.response_extra.clone());
    }

    /// Binds them as parameters 28–33 of the receipt batch's call (none:
    /// empty arrays).
    pub(crate) fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        query
            .bind(&self.tenant)
            .bind(&self.key)
            .bind(&self.token)
            .bind(&self.receipt_tenant)
            .bind(&self.receipt)
            .bind(&self.response_extra)
    }
}
