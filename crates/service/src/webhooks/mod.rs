//! A tenant's webhook endpoints (`/api/v1/webhooks…`, `admin`): register,
//! list, read, change, remove, rotate the signing secret, read the delivery
//! log and send a delivery again; and the dispatcher that sends deliveries
//! ([`dispatch`]).
//!
//! The rules are the pure crate `webhooks` (event types, URL safety,
//! signatures, retry waits); the rows are `registry::webhooks`, where every
//! change that announces an event writes it in its own transaction.
//!
//! Whether a tenant wants `decision.denied` is asked on every denied
//! decision, so it is kept per tenant in this process and trusted as the
//! other decision facts are (`registry::facts`): while the change feed is
//! followed and no change was announced since it was read.

pub mod dispatch;

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use ::webhooks::{
    DeliveryId, EndpointId, EventType, RetrySchedule, SigningSecret, Subscription,
    SubscriptionError, UrlError, WebhookUrl,
};
use registry::webhooks::{Delivery, Endpoint, EndpointChange, NewEndpoint};
use registry::StoreError;
use wcp::TenantId;

use crate::{Hall, Page};

/// The operator's webhook settings.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// `HALL_WEBHOOK_ALLOW_PRIVATE`: `http` and private, loopback and
    /// link-local addresses are allowed.
    pub allow_private: bool,
    /// How long a rotated-out secret keeps signing beside the new one.
    pub rotation_overlap: chrono::Duration,
    /// Waits between attempts; then the delivery is failed.
    pub schedule: RetrySchedule,
    /// An endpoint whose attempts have all failed for this long is disabled.
    pub disable_after: chrono::Duration,
    /// How long one attempt may take, connection to last byte read.
    pub timeout: Duration,
    /// How often the dispatcher looks for due deliveries without being told.
    pub poll: Duration,
    /// Deliveries one dispatcher round takes at most.
    pub batch: i64,
    /// How long delivered and failed deliveries stay in the log.
    pub retention: chrono::Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_private: false,
            rotation_overlap: chrono::Duration::hours(24),
            schedule: RetrySchedule::default(),
            disable_after: chrono::Duration::days(5),
            timeout: Duration::from_secs(10),
            poll: Duration::from_secs(1),
            batch: 32,
            retention: chrono::Duration::days(30),
        }
    }
}

/// An endpoint to register.
#[derive(Debug, Clone)]
pub struct CreateWebhook {
    pub tenant: TenantId,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: Option<String>,
    pub enabled: bool,
}

/// A change to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UpdateWebhook {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    /// `Some(None)` removes the description.
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
}

/// An endpoint and its new secret, shown this once.
#[derive(Debug)]
pub struct WithSecret {
    pub endpoint: Endpoint,
    pub secret: SigningSecret,
}

/// Why a webhook request was refused. Nothing of a refused request is written.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    InvalidUrl(#[from] UrlError),
    #[error(transparent)]
    InvalidEventTypes(#[from] SubscriptionError),
    #[error("webhook endpoint {0} not found")]
    EndpointNotFound(EndpointId),
    #[error("delivery {0} not found")]
    DeliveryNotFound(DeliveryId),
    #[error(
        "a tenant may register at most {0} webhook endpoints; delete one you no longer use, \
         or subscribe an existing endpoint to more event types"
    )]
    TooManyEndpoints(u32),
    #[error("the system random number generator failed: {0}")]
    Random(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn new_secret() -> Result<SigningSecret, WebhookError> {
    let mut bytes = [0u8; ::webhooks::signing::SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| WebhookError::Random(e.to_string()))?;
    Ok(SigningSecret::from_bytes(bytes))
}

impl Hall {
    /// Registers an endpoint with a new signing secret.
    pub async fn create_webhook(&self, command: CreateWebhook) -> Result<WithSecret, WebhookError> {
        let url = WebhookUrl::parse(&command.url, self.webhooks.allow_private)?;
        let subscription = Subscription::parse(&command.event_types)?;
        let secret = new_secret()?;
        let endpoint = self
            .store
            .tenant(&command.tenant)
            .create_webhook(
                &NewEndpoint {
                    url: url.as_str(),
                    subscription: &subscription,
                    description: command.description.as_deref(),
                    enabled: command.enabled,
                    secret: &secret,
                },
                ::webhooks::MAX_ENDPOINTS_PER_TENANT,
            )
            .await?
            .ok_or(WebhookError::TooManyEndpoints(
                ::webhooks::MAX_ENDPOINTS_PER_TENANT,
            ))?;
        self.facts.invalidate();
        Ok(WithSecret { endpoint, secret })
    }

    /// The tenant's endpoints, oldest first.
    pub async fn webhooks(&self, tenant: &TenantId) -> Result<Vec<Endpoint>, WebhookError> {
        Ok(self.store.tenant(tenant).webhooks().await?)
    }

    pub async fn webhook(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> Result<Endpoint, WebhookError> {
        self.store
            .tenant(tenant)
            .webhook(id)
            .await?
            .ok_or_else(|| WebhookError::EndpointNotFound(id.clone()))
    }

    /// Changes an endpoint: a new URL or subscription is checked first;
    /// enabling it again clears its failure streak.
    pub async fn update_webhook(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        change: UpdateWebhook,
    ) -> Result<Endpoint, WebhookError> {
        let url = change
            .url
            .as_deref()
            .map(|u| WebhookUrl::parse(u, self.webhooks.allow_private))
            .transpose()?;
        let subscription = change
            .event_types
            .as_deref()
            .map(Subscription::parse)
            .transpose()?;
        let updated = self
            .store
            .tenant(tenant)
            .update_webhook(
                id,
                &EndpointChange {
                    url: url.as_ref().map(WebhookUrl::as_str),
                    subscription: subscription.as_ref(),
                    description: change.description.as_ref().map(|d| d.as_deref()),
                    enabled: change.enabled,
                },
            )
            .await?
            .ok_or_else(|| WebhookError::EndpointNotFound(id.clone()))?;
        self.facts.invalidate();
        Ok(updated)
    }

    /// Removes an endpoint and its delivery log.
    pub async fn delete_webhook(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> Result<(), WebhookError> {
        if !self.store.tenant(tenant).delete_webhook(id).await? {
            return Err(WebhookError::EndpointNotFound(id.clone()));
        }
        self.facts.invalidate();
        Ok(())
    }

    /// Gives an endpoint a new secret; the old one keeps signing beside it
    /// for the overlap, so receivers can switch without losing deliveries.
    pub async fn rotate_webhook_secret(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> Result<WithSecret, WebhookError> {
        let secret = new_secret()?;
        let endpoint = self
            .store
            .tenant(tenant)
            .rotate_webhook_secret(id, &secret, self.webhooks.rotation_overlap)
            .await?
            .ok_or_else(|| WebhookError::EndpointNotFound(id.clone()))?;
        Ok(WithSecret { endpoint, secret })
    }

    /// An endpoint's deliveries, newest first.
    pub async fn webhook_deliveries(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        after: Option<&DeliveryId>,
        limit: wcp::PageLimit,
    ) -> Result<Page<Delivery, DeliveryId>, WebhookError> {
        self.webhook(tenant, id).await?;
        let (items, more) = self
            .store
            .tenant(tenant)
            .webhook_deliveries(id, after, limit)
            .await?;
        let next = if more {
            items.last().map(|d| d.id.clone())
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// Sends a delivery again, from the start of the schedule, with the
    /// same `webhook-id`.
    pub async fn redeliver(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        delivery: &DeliveryId,
    ) -> Result<Delivery, WebhookError> {
        self.store
            .tenant(tenant)
            .redeliver(id, delivery)
            .await?
            .ok_or_else(|| WebhookError::DeliveryNotFound(delivery.clone()))
    }

    /// Whether one of the tenant's enabled endpoints wants `decision.denied`
    /// (asked on every denied decision: from this process's copy when it is
    /// current).
    pub async fn announces_denied(&self, tenant: &TenantId) -> Result<bool, StoreError> {
        let listening = self.facts.is_listening();
        let read_in = self.facts.generation();
        if listening {
            if let Some(hit) = self.denied_subscribers.current(tenant, read_in) {
                return Ok(hit);
            }
        }
        let read_at = Instant::now();
        let wanted = self
            .store
            .tenant(tenant)
            .webhook_subscribes(EventType::DecisionDenied)
            .await?;
        self.denied_subscribers
            .put(tenant, wanted, read_in, read_at);
        Ok(wanted)
    }
}

/// Per tenant: whether an endpoint wants `decision.denied`, in this process.
#[derive(Default)]
pub struct DeniedSubscribers {
    entries: RwLock<HashMap<TenantId, (bool, u64, Instant)>>,
}

/// Tenants one process keeps the answer for before it starts over.
const MAX_TENANTS: usize = 10_000;

impl DeniedSubscribers {
    fn current(&self, tenant: &TenantId, generation: u64) -> Option<bool> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .get(tenant)
            .filter(|(_, g, at)| *g == generation && at.elapsed() < registry::facts::MAX_AGE)
            .map(|(wanted, _, _)| *wanted)
    }

    fn put(&self, tenant: &TenantId, wanted: bool, generation: u64, read_at: Instant) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_TENANTS && !entries.contains_key(tenant) {
            entries.clear();
        }
        entries.insert(tenant.clone(), (wanted, generation, read_at));
    }
}
