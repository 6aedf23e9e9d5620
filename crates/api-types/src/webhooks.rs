//! Webhook endpoints and their delivery log: `/api/v1/webhooks[/{id}[/secret/rotate|/deliveries[/{delivery_id}/redeliver]]]`.
//! What a delivery carries is described in docs/events.md and by
//! [`WebhookDeliveryBody`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// Registers an endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where deliveries are POSTed: `https` and a public host (the operator's
    /// `HALL_WEBHOOK_ALLOW_PRIVATE=true` also allows `http` and private,
    /// loopback and link-local addresses). No user name, password or fragment.
    #[cfg_attr(
        feature = "openapi",
        schema(example = "https://hooks.example.com/hall", max_length = 2000)
    )]
    pub url: String,
    /// Event types to receive, or `*` for every event except the opt-in
    /// `decision.denied` (docs/events.md lists them).
    #[cfg_attr(feature = "openapi", schema(example = json!(["approval.pending", "ban.confirmed"])))]
    pub event_types: Vec<String>,
    /// A note for people (at most 500 characters).
    pub description: Option<String>,
    /// Whether deliveries are sent (default true).
    pub enabled: Option<bool>,
}

/// Changes an endpoint; absent fields stay as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<String>>,
    /// `null` removes the description.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, nullable))]
    pub description: Option<Option<String>>,
    /// `true` enables a disabled endpoint again (and forgets its failures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// A field that is present, whether null or not.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// An endpoint as shown (never its secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookView {
    /// `whep_` and 32 hex digits.
    #[cfg_attr(
        feature = "openapi",
        schema(example = "whep_0192f3a4b5c6d7e8f90a1b2c3d4e5f60")
    )]
    pub id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: Option<String>,
    pub enabled: bool,
    /// Why the registry disabled it (its deliveries failed for days).
    pub disabled_reason: Option<String>,
    /// Since when every attempt to it has failed (null: the last one succeeded).
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the secret a rotation replaced still signs beside the new one.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An endpoint with its signing secret: the answer to creating it or
/// rotating its secret, the only time the secret is shown. Its `Debug`
/// leaves the secret out, so no log line shows it.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub endpoint: WebhookView,
    /// `whsec_` and the base64 key: give it to the receiver's Standard
    /// Webhooks library. Shown this once.
    #[cfg_attr(
        feature = "openapi",
        schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    )]
    pub secret: String,
}

impl std::fmt::Debug for WebhookWithSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookWithSecret")
            .field("endpoint", &self.endpoint)
            .field("secret", &"whsec_***")
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookList {
    pub webhooks: Vec<WebhookView>,
}

/// One delivery of an event to an endpoint, with its last attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryView {
    /// `whdl_` and 32 hex digits.
    pub id: String,
    /// The event's id: the `webhook-id` header of every attempt.
    #[cfg_attr(
        feature = "openapi",
        schema(example = "msg_0192f3a4b5c6d7e8f90a1b2c3d4e5f60")
    )]
    pub event_id: String,
    #[cfg_attr(feature = "openapi", schema(example = "approval.pending"))]
    pub event_type: String,
    /// `pending` (to be sent at `next_attempt_at`), `delivered`, or
    /// `failed` (every attempt of the schedule failed).
    #[cfg_attr(feature = "openapi", schema(example = "delivered"))]
    pub state: String,
    /// Attempts made (since the last redelivery).
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The last attempt's HTTP status; null when there was no answer.
    pub status_code: Option<u16>,
    /// How long the last attempt took, in milliseconds.
    pub latency_ms: Option<u32>,
    /// Why the last attempt got no answer.
    pub error: Option<String>,
    /// The first 1024 bytes of the last answer (all that is kept).
    pub response_prefix: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryList {
    /// Newest first.
    pub deliveries: Vec<DeliveryView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// What every delivery POSTs, with the headers `webhook-id`,
/// `webhook-timestamp` and `webhook-signature` (Standard Webhooks).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDeliveryBody {
    /// The event type, e.g. `approval.pending` (docs/events.md).
    #[cfg_attr(feature = "openapi", schema(example = "approval.pending"))]
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the event happened (RFC 3339, UTC).
    pub timestamp: String,
    /// The event's payload; its fields per type are in docs/events.md.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_tells_a_null_description_from_an_absent_one() {
        let absent: UpdateWebhook = serde_json::from_str("{}").unwrap();
        assert_eq!(absent.description, None);
        let null: UpdateWebhook = serde_json::from_str(r#"{"description": null}"#).unwrap();
        assert_eq!(null.description, Some(None));
        let set: UpdateWebhook = serde_json::from_str(r#"{"description": "x"}"#).unwrap();
        assert_eq!(set.description, Some(Some("x".into())));
    }
}
