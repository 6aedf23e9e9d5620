//! Webhooks as stored: a tenant's endpoints, the outbox of events and their
//! deliveries (`migrations/…24_webhooks.sql`).
//!
//! [`emit`] writes an event in the caller's transaction — the transaction
//! of the change it announces — with one delivery per enabled endpoint that
//! subscribes (fan-out at write time, one statement, nothing written when no
//! endpoint subscribes). Deliveries are announced on `hall_webhooks` at
//! commit; the dispatcher (`service::webhooks::dispatch`) takes due ones
//! with `FOR UPDATE SKIP LOCKED` and a lease, so several replicas never send
//! one delivery at once. The rules (which events, URLs, signatures, retry
//! waits) are the pure crate `webhooks`.

use ::webhooks::{DeliveryId, EndpointId, EventType, MessageId, SigningSecret, Subscription};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, Row};
use uuid::Uuid;
use wcp::TenantId;

use crate::{Store, StoreError, TenantStore};

/// The channel new deliveries are announced on.
pub const CHANNEL: &str = "hall_webhooks";

/// Which tenants' endpoints an event goes to.
#[derive(Debug, Clone, Copy)]
pub enum Audience<'a> {
    /// The tenant whose change it is.
    Tenant(&'a TenantId),
    /// The operator's tenant, and the tenant named (when it is another).
    Operator { and: Option<&'a TenantId> },
    /// Every tenant: registry-wide facts every tenant's decisions depend on
    /// (the confirmed ban list, the receipt signing keys).
    Everyone,
}

fn audience_binds(a: Audience<'_>) -> (Option<Vec<String>>, bool) {
    match a {
        Audience::Tenant(t) => (Some(vec![t.to_string()]), false),
        Audience::Operator { and } => (Some(and.iter().map(|t| t.to_string()).collect()), true),
        Audience::Everyone => (None, false),
    }
}

/// The endpoints of the audience that subscribe to `$1` (`$4`: whether it
/// is opt-in), as SQL; `$2` the tenants (NULL: every one), `$3` the operator too.
const TARGETS: &str = "SELECT e.id, e.tenant_id FROM webhook_endpoints e
     WHERE e.enabled
       AND ($1 = ANY(e.event_types) OR ('*' = ANY(e.event_types) AND NOT $4))
       AND ($2::text[] IS NULL OR e.tenant_id = ANY($2)
            OR ($3 AND e.tenant_id = (SELECT id FROM tenants WHERE is_operator)))";

fn new_id() -> [u8; 16] {
    *Uuid::now_v7().as_bytes()
}

/// Writes an event for its audience in the caller's transaction: the event
/// row and one delivery per enabled endpoint that subscribes, in one
/// statement; nothing when none subscribes. A delivery's `created_at` is the
/// clock's, so the log keeps the order of events within one transaction.
pub async fn emit(
    conn: &mut PgConnection,
    audience: Audience<'_>,
    event: EventType,
    data: &impl serde::Serialize,
) -> Result<(), StoreError> {
    let data = payload(data)?;
    let (tenants, operator) = audience_binds(audience);
    sqlx::query(&format!(
        "WITH targets AS ({TARGETS}),
         ev AS (
             INSERT INTO webhook_events (id, type, data)
             SELECT $5, $1, $6 WHERE EXISTS (SELECT 1 FROM targets)
             RETURNING id)
         INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, next_attempt_at,
                                         created_at)
         SELECT 'whdl_' || replace(gen_random_uuid()::text, '-', ''), t.tenant_id, t.id, ev.id, now(),
                clock_timestamp()
         FROM ev, targets t"
    ))
    .bind(event.as_str())
    .bind(tenants)
    .bind(operator)
    .bind(event.is_opt_in())
    .bind(MessageId::from_bytes(new_id()).as_str())
    .bind(&data)
    .execute(conn)
    .await?;
    Ok(())
}

/// An event's `data` as written: one of `::webhooks::payloads`, as JSON.
pub(crate) fn payload(data: &impl serde::Serialize) -> Result<Value, StoreError> {
    serde_json::to_value(data).map_err(|e| StoreError::Corrupt(format!("event data: {e}")))
}

/// One event type for several tenants at once, each `(tenant, data)` to
/// its own tenant's endpoints that subscribe (in one statement; nothing
/// for a tenant none of whose endpoints does): what the receipt writer's
/// batch announces — `decision.denied` and `approval.pending`.
pub(crate) async fn emit_each(
    conn: &mut PgConnection,
    event: EventType,
    items: &[(String, Value)],
) -> Result<(), StoreError> {
    if items.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = items
        .iter()
        .map(|_| MessageId::from_bytes(new_id()).to_string())
        .collect();
    let tenants: Vec<&str> = items.iter().map(|(t, _)| t.as_str()).collect();
    let data: Vec<&Value> = items.iter().map(|(_, d)| d).collect();
    sqlx::query(
        "WITH input AS (
             SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[]) AS i(id, tenant_id, data)),
         targets AS (
             SELECT i.id AS event_id, e.id AS endpoint_id, e.tenant_id FROM input i
             JOIN webhook_endpoints e ON e.tenant_id = i.tenant_id
             WHERE e.enabled
               AND ($4 = ANY(e.event_types) OR ('*' = ANY(e.event_types) AND NOT $5))),
         ev AS (
             INSERT INTO webhook_events (id, type, data)
             SELECT i.id, $4, i.data FROM input i
             WHERE EXISTS (SELECT 1 FROM targets t WHERE t.event_id = i.id)
             RETURNING id)
         INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, next_attempt_at,
                                         created_at)
         SELECT 'whdl_' || replace(gen_random_uuid()::text, '-', ''), t.tenant_id, t.endpoint_id,
                ev.id, now(), clock_timestamp()
         FROM ev JOIN targets t ON t.event_id = ev.id",
    )
    .bind(&ids)
    .bind(&tenants)
    .bind(&data)
    .bind(event.as_str())
    .bind(event.is_opt_in())
    .execute(conn)
    .await?;
    Ok(())
}

/// A tenant's endpoint as stored.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: EndpointId,
    pub tenant_id: String,
    /// As registered (checked then; checked again at every delivery).
    pub url: String,
    pub subscription: Subscription,
    pub description: Option<String>,
    pub enabled: bool,
    pub secret: SigningSecret,
    /// The secret a rotation replaced and until when it still signs.
    pub previous_secret: Option<(SigningSecret, DateTime<Utc>)>,
    pub failing_since: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Endpoint {
    /// The secrets that sign a delivery sent at `now`: the current one, and
    /// the previous one during its overlap.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&SigningSecret> {
        let mut secrets = vec![&self.secret];
        if let Some((previous, until)) = &self.previous_secret {
            if *until > now {
                secrets.push(previous);
            }
        }
        secrets
    }
}

const ENDPOINT_COLUMNS: &str = "id, tenant_id, url, event_types, description, enabled, secret, \
     previous_secret, previous_secret_expires_at, failing_since, disabled_reason, created_at, updated_at";

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("webhook {what}: {e}"))
}

fn endpoint_from_row(row: &sqlx::postgres::PgRow) -> Result<Endpoint, StoreError> {
    let id: String = row.try_get("id")?;
    let names: Vec<String> = row.try_get("event_types")?;
    let secret: String = row.try_get("secret")?;
    let previous: Option<String> = row.try_get("previous_secret")?;
    let previous_until: Option<DateTime<Utc>> = row.try_get("previous_secret_expires_at")?;
    let previous_secret = match (previous, previous_until) {
        (Some(s), Some(until)) => Some((
            SigningSecret::parse(&s).map_err(|e| corrupt("previous secret", e))?,
            until,
        )),
        _ => None,
    };
    Ok(Endpoint {
        id: EndpointId::parse(&id).map_err(|e| corrupt("endpoint id", e))?,
        tenant_id: row.try_get("tenant_id")?,
        url: row.try_get("url")?,
        subscription: Subscription::parse(&names).map_err(|e| corrupt("event_types", e))?,
        description: row.try_get("description")?,
        enabled: row.try_get("enabled")?,
        secret: SigningSecret::parse(&secret).map_err(|e| corrupt("secret", e))?,
        previous_secret,
        failing_since: row.try_get("failing_since")?,
        disabled_reason: row.try_get("disabled_reason")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// An endpoint to register (its URL and subscription checked by the use case).
#[derive(Debug, Clone)]
pub struct NewEndpoint<'a> {
    pub url: &'a str,
    pub subscription: &'a Subscription,
    pub description: Option<&'a str>,
    pub enabled: bool,
    pub secret: &'a SigningSecret,
}

/// A change to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EndpointChange<'a> {
    pub url: Option<&'a str>,
    pub subscription: Option<&'a Subscription>,
    /// `Some(None)` removes the description.
    pub description: Option<Option<&'a str>>,
    pub enabled: Option<bool>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// One delivery in an endpoint's log.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: DeliveryId,
    pub endpoint_id: EndpointId,
    pub event_id: String,
    pub event_type: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<u16>,
    pub last_latency_ms: Option<u32>,
    pub last_error: Option<String>,
    pub last_response: Option<String>,
    pub created_at: DateTime<Utc>,
}

const DELIVERY_COLUMNS: &str = "d.id, d.endpoint_id, d.event_id, ev.type AS event_type, d.state, \
     d.attempts, d.next_attempt_at, d.last_attempt_at, d.last_status, d.last_latency_ms, \
     d.last_error, d.last_response, d.created_at";

fn delivery_from_row(row: &sqlx::postgres::PgRow) -> Result<Delivery, StoreError> {
    let id: String = row.try_get("id")?;
    let endpoint: String = row.try_get("endpoint_id")?;
    let state: String = row.try_get("state")?;
    let attempts: i32 = row.try_get("attempts")?;
    let status: Option<i32> = row.try_get("last_status")?;
    let latency: Option<i32> = row.try_get("last_latency_ms")?;
    Ok(Delivery {
        id: DeliveryId::parse(&id).map_err(|e| corrupt("delivery id", e))?,
        endpoint_id: EndpointId::parse(&endpoint).map_err(|e| corrupt("endpoint id", e))?,
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        state: DeliveryState::from_name(&state).ok_or_else(|| corrupt("state", &state))?,
        attempts: u32::try_from(attempts).map_err(|e| corrupt("attempts", e))?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_attempt_at: row.try_get("last_attempt_at")?,
        last_status: status.and_then(|s| u16::try_from(s).ok()),
        last_latency_ms: latency.and_then(|l| u32::try_from(l).ok()),
        last_error: row.try_get("last_error")?,
        last_response: row.try_get("last_response")?,
        created_at: row.try_get("created_at")?,
    })
}

impl TenantStore<'_> {
    /// Registers an endpoint, unless the tenant has `max` already (`None`).
    pub async fn create_webhook(
        &self,
        new: &NewEndpoint<'_>,
        max: u32,
    ) -> Result<Option<Endpoint>, StoreError> {
        let mut tx = self.store.pool.begin().await?;
        // One registration per tenant at a time, so that two cannot both
        // find room for the last one.
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended('webhook_endpoints:' || $1, 0))",
        )
        .bind(self.tenant.as_str())
        .execute(&mut *tx)
        .await?;
        let count: i64 =
            sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints WHERE tenant_id = $1")
                .bind(self.tenant.as_str())
                .fetch_one(&mut *tx)
                .await?;
        if count >= i64::from(max) {
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "INSERT INTO webhook_endpoints (tenant_id, id, url, event_types, description, enabled, secret)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {ENDPOINT_COLUMNS}"
        ))
        .bind(self.tenant.as_str())
        .bind(EndpointId::from_bytes(new_id()).as_str())
        .bind(new.url)
        .bind(new.subscription.names())
        .bind(new.description)
        .bind(new.enabled)
        .bind(new.secret.expose())
        .fetch_one(&mut *tx)
        .await?;
        let endpoint = endpoint_from_row(&row)?;
        tx.commit().await?;
        Ok(Some(endpoint))
    }

    /// The tenant's endpoints, oldest first.
    pub async fn webhooks(&self) -> Result<Vec<Endpoint>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1
             ORDER BY created_at, id"
        ))
        .bind(self.tenant.as_str())
        .fetch_all(&self.store.pool)
        .await?;
        rows.iter().map(endpoint_from_row).collect()
    }

    pub async fn webhook(&self, id: &EndpointId) -> Result<Option<Endpoint>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(self.tenant.as_str())
        .bind(id.as_str())
        .fetch_optional(&self.store.pool)
        .await?;
        row.as_ref().map(endpoint_from_row).transpose()
    }

    /// Changes an endpoint; enabling it clears why it was disabled and its
    /// failure streak. `None` when the tenant has no such endpoint.
    pub async fn update_webhook(
        &self,
        id: &EndpointId,
        change: &EndpointChange<'_>,
    ) -> Result<Option<Endpoint>, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE webhook_endpoints SET
                 url = COALESCE($3, url),
                 event_types = COALESCE($4, event_types),
                 description = CASE WHEN $5 THEN $6 ELSE description END,
                 enabled = COALESCE($7, enabled),
                 disabled_reason = CASE WHEN $7 THEN NULL ELSE disabled_reason END,
                 failing_since = CASE WHEN $7 AND NOT enabled THEN NULL ELSE failing_since END,
                 updated_at = now()
             WHERE tenant_id = $1 AND id = $2 RETURNING {ENDPOINT_COLUMNS}"
        ))
        .bind(self.tenant.as_str())
        .bind(id.as_str())
        .bind(change.url)
        .bind(change.subscription.map(Subscription::names))
        .bind(change.description.is_some())
        .bind(change.description.flatten())
        .bind(change.enabled)
        .fetch_optional(&self.store.pool)
        .await?;
        row.as_ref().map(endpoint_from_row).transpose()
    }

    /// Removes an endpoint and its deliveries; whether there was one.
    pub async fn delete_webhook(&self, id: &EndpointId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2")
            .bind(self.tenant.as_str())
            .bind(id.as_str())
            .execute(&self.store.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Replaces the signing secret; the one replaced keeps signing for
    /// `overlap`. `None` when the tenant has no such endpoint.
    pub async fn rotate_webhook_secret(
        &self,
        id: &EndpointId,
        secret: &SigningSecret,
        overlap: chrono::Duration,
    ) -> Result<Option<Endpoint>, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE webhook_endpoints SET previous_secret = secret,
                 previous_secret_expires_at = now() + $4, secret = $3, updated_at = now()
             WHERE tenant_id = $1 AND id = $2 RETURNING {ENDPOINT_COLUMNS}"
        ))
        .bind(self.tenant.as_str())
        .bind(id.as_str())
        .bind(secret.expose())
        .bind(overlap)
        .fetch_optional(&self.store.pool)
        .await?;
        row.as_ref().map(endpoint_from_row).transpose()
    }

    /// An endpoint's deliveries, newest first, after the delivery `after`
    /// (the last of the previous page); at most `limit`, and whether more follow.
    pub async fn webhook_deliveries(
        &self,
        endpoint: &EndpointId,
        after: Option<&DeliveryId>,
        limit: wcp::PageLimit,
    ) -> Result<(Vec<Delivery>, bool), StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d
             JOIN webhook_events ev ON ev.id = d.event_id
             WHERE d.tenant_id = $1 AND d.endpoint_id = $2
               AND ($3::text IS NULL OR (d.created_at, d.id) <
                    (SELECT created_at, id FROM webhook_deliveries
                     WHERE tenant_id = $1 AND endpoint_id = $2 AND id = $3))
             ORDER BY d.created_at DESC, d.id DESC LIMIT $4"
        ))
        .bind(self.tenant.as_str())
        .bind(endpoint.as_str())
        .bind(after.map(DeliveryId::as_str))
        .bind(limit.as_i64() + 1)
        .fetch_all(&self.store.pool)
        .await?;
        let mut list = rows
            .iter()
            .map(delivery_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let more = list.len() as i64 > limit.as_i64();
        list.truncate(limit.get() as usize);
        Ok((list, more))
    }

    /// Sends a delivery again from the start of the schedule (same
    /// `webhook-id`); announced to the dispatchers. `None` when the
    /// endpoint has no such delivery.
    pub async fn redeliver(
        &self,
        endpoint: &EndpointId,
        delivery: &DeliveryId,
    ) -> Result<Option<Delivery>, StoreError> {
        let mut tx = self.store.pool.begin().await?;
        let row = sqlx::query(&format!(
            "WITH d AS (
                 UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = now(), attempts = 0
                 WHERE tenant_id = $1 AND endpoint_id = $2 AND id = $3 RETURNING *)
             SELECT {DELIVERY_COLUMNS} FROM d JOIN webhook_events ev ON ev.id = d.event_id"
        ))
        .bind(self.tenant.as_str())
        .bind(endpoint.as_str())
        .bind(delivery.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if row.is_some() {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(CHANNEL)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        row.as_ref().map(delivery_from_row).transpose()
    }

    /// Whether one of the tenant's enabled endpoints names `event`.
    pub async fn webhook_subscribes(&self, event: EventType) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM webhook_endpoints
                            WHERE tenant_id = $1 AND enabled AND $2 = ANY(event_types))",
        )
        .bind(self.tenant.as_str())
        .bind(event.as_str())
        .fetch_one(&self.store.pool)
        .await?)
    }
}

/// A delivery a dispatcher has taken: what to send, where, signed with what.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: DeliveryId,
    pub endpoint: Endpoint,
    pub message_id: String,
    pub event_type: String,
    pub data: Value,
    pub occurred_at: DateTime<Utc>,
    /// Attempts made before this one.
    pub attempts: u32,
    /// Until when this attempt holds the delivery: its record counts only
    /// while the row still says so (a redelivery or another dispatcher's
    /// lease since makes it stale).
    pub leased_until: DateTime<Utc>,
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    /// The HTTP status; `None` when there was no answer.
    pub status: Option<u16>,
    pub latency_ms: u32,
    /// Why there was no answer (or why the URL was refused).
    pub error: Option<String>,
    /// The first bytes of the answer, as text.
    pub response: Option<String>,
}

/// What becomes of a delivery after a failed attempt.
#[derive(Debug, Clone, Copy)]
pub enum AfterFailure {
    /// Tried again at this moment.
    RetryAt(DateTime<Utc>),
    /// The schedule is done: the delivery is failed.
    GiveUp,
}

impl Store {
    /// Takes up to `limit` due deliveries of enabled endpoints for this
    /// dispatcher: each is moved `lease` ahead, so no other dispatcher
    /// takes it while it is sent, and one that dies mid-attempt leaves it
    /// due again after the lease. `SKIP LOCKED`: replicas taking at once
    /// get different rows.
    pub async fn lease_due_deliveries(
        &self,
        limit: i64,
        lease: chrono::Duration,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let endpoint_columns = ENDPOINT_COLUMNS
            .split(", ")
            .map(|c| format!("e.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(&format!(
            "WITH taken AS (
                 UPDATE webhook_deliveries d SET next_attempt_at = now() + $2
                 WHERE d.id IN (
                     SELECT d.id FROM webhook_deliveries d
                     JOIN webhook_endpoints e ON e.id = d.endpoint_id
                     WHERE d.state = 'pending' AND d.next_attempt_at <= now() AND e.enabled
                     ORDER BY d.next_attempt_at LIMIT $1
                     FOR UPDATE OF d SKIP LOCKED)
                 RETURNING d.id AS delivery_id, d.endpoint_id, d.event_id, d.attempts,
                     d.next_attempt_at AS leased_until)
             SELECT t.delivery_id, t.event_id, t.attempts, t.leased_until, ev.type AS event_type, ev.data,
                    ev.occurred_at, {endpoint_columns}
             FROM taken t JOIN webhook_events ev ON ev.id = t.event_id
             JOIN webhook_endpoints e ON e.id = t.endpoint_id"
        ))
        .bind(limit)
        .bind(lease)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("delivery_id")?;
                let attempts: i32 = row.try_get("attempts")?;
                Ok(DueDelivery {
                    id: DeliveryId::parse(&id).map_err(|e| corrupt("delivery id", e))?,
                    endpoint: endpoint_from_row(row)?,
                    message_id: row.try_get("event_id")?,
                    event_type: row.try_get("event_type")?,
                    data: row.try_get("data")?,
                    occurred_at: row.try_get("occurred_at")?,
                    attempts: u32::try_from(attempts).map_err(|e| corrupt("attempts", e))?,
                    leased_until: row.try_get("leased_until")?,
                })
            })
            .collect()
    }

    /// Removes up to `batch` finished (delivered or failed) deliveries
    /// created before `older_than` ago, then up to `batch` events no
    /// delivery refers to any more; how many rows went. Pending deliveries
    /// are never removed.
    pub async fn prune_webhook_log(
        &self,
        older_than: chrono::Duration,
        batch: i64,
    ) -> Result<u64, StoreError> {
        let deliveries = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE id IN (
                 SELECT id FROM webhook_deliveries
                 WHERE state <> 'pending' AND created_at < now() - $1 LIMIT $2)",
        )
        .bind(older_than)
        .bind(batch)
        .execute(&self.pool)
        .await?
        .rows_affected();
        let events = sqlx::query(
            "DELETE FROM webhook_events WHERE id IN (
                 SELECT e.id FROM webhook_events e
                 WHERE e.occurred_at < now() - $1
                   AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id)
                 LIMIT $2)",
        )
        .bind(older_than)
        .bind(batch)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(deliveries + events)
    }

    /// Records a successful attempt: the delivery is done and the endpoint's
    /// failure streak ends.
    pub async fn record_delivered(
        &self,
        due: &DueDelivery,
        outcome: &AttemptOutcome,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        if !record_attempt(&mut tx, due, outcome, DeliveryState::Delivered, None).await? {
            return Ok(());
        }
        sqlx::query(
            "UPDATE webhook_endpoints SET failing_since = NULL
             WHERE id = $1 AND failing_since IS NOT NULL",
        )
        .bind(due.endpoint.id.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed attempt and what follows it. An endpoint whose
    /// attempts have all failed for `disable_after` is disabled, in the same
    /// transaction as an `endpoint.disabled` event for the tenant's other
    /// endpoints; returns whether it was.
    pub async fn record_failed_attempt(
        &self,
        due: &DueDelivery,
        outcome: &AttemptOutcome,
        after: AfterFailure,
        disable_after: chrono::Duration,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let (state, next) = match after {
            AfterFailure::RetryAt(at) => (DeliveryState::Pending, Some(at)),
            AfterFailure::GiveUp => (DeliveryState::Failed, None),
        };
        if !record_attempt(&mut tx, due, outcome, state, next).await? {
            return Ok(false);
        }
        let reason = format!(
            "every delivery attempt failed for {} days",
            disable_after.num_days()
        );
        let (since, enabled): (DateTime<Utc>, bool) = sqlx::query_as(
            "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, now())
             WHERE id = $1 RETURNING failing_since, enabled",
        )
        .bind(due.endpoint.id.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let disabled = if enabled && since <= Utc::now() - disable_after {
            sqlx::query(
                "UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, updated_at = now()
                 WHERE id = $1",
            )
            .bind(due.endpoint.id.as_str())
            .bind(&reason)
            .execute(&mut *tx)
            .await?;
            Some((since,))
        } else {
            None
        };
        if let Some((since,)) = disabled {
            let tenant = TenantId::parse(&due.endpoint.tenant_id)
                .map_err(|e| corrupt("endpoint tenant", e))?;
            let data = ::webhooks::payloads::EndpointDisabledEvent {
                tenant_id: tenant.to_string(),
                endpoint_id: due.endpoint.id.to_string(),
                url: due.endpoint.url.clone(),
                failing_since: since,
                reason: reason.clone(),
            };
            emit(
                &mut tx,
                Audience::Tenant(&tenant),
                EventType::EndpointDisabled,
                &data,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(disabled.is_some())
    }
}

/// Records an attempt on its delivery; false (nothing written) when the
/// attempt's lease is no longer the row's: a redelivery or another
/// dispatcher has taken the delivery since, and its record is the one that
/// counts.
async fn record_attempt(
    conn: &mut PgConnection,
    due: &DueDelivery,
    outcome: &AttemptOutcome,
    state: DeliveryState,
    next: Option<DateTime<Utc>>,
) -> Result<bool, StoreError> {
    let recorded = sqlx::query(
        "UPDATE webhook_deliveries SET state = $2, next_attempt_at = $3, attempts = attempts + 1,
             last_attempt_at = now(), last_status = $4, last_latency_ms = $5, last_error = $6,
             last_response = $7
         WHERE id = $1 AND state = 'pending' AND next_attempt_at = $8",
    )
    .bind(due.id.as_str())
    .bind(state.as_str())
    .bind(next)
    .bind(outcome.status.map(i32::from))
    .bind(i32::try_from(outcome.latency_ms).unwrap_or(i32::MAX))
    .bind(outcome.error.as_deref())
    .bind(outcome.response.as_deref())
    .bind(due.leased_until)
    .execute(conn)
    .await?;
    Ok(recorded.rows_affected() == 1)
}
