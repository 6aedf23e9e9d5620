//! Hall Registry's webhook rules, pure (no I/O): which events there are
//! ([`EventType`]), which endpoint URLs and addresses a delivery may go to
//! ([`address`]), how a delivery is signed per the Standard Webhooks
//! specification ([`signing`]) and when a failed one is tried again
//! ([`schedule`]).
//!
//! The store (`registry::webhooks`) keeps endpoints, events and deliveries;
//! the dispatcher (`service::webhooks::dispatch`) sends them; both ask this
//! crate what is allowed, so the rules are unit-tested here once.

pub mod address;
pub mod events;
pub mod ids;
pub mod payloads;
pub mod schedule;
pub mod signing;

pub use address::{is_public_ip, UrlError, WebhookUrl};

/// The most endpoints one tenant may register: every event is sent to each
/// endpoint that subscribes, so endpoints multiply the outbound requests
/// (and a tenant's unreachable ones hold the dispatcher's time).
pub const MAX_ENDPOINTS_PER_TENANT: u32 = 20;
pub use events::{EventType, Subscription, SubscriptionError};
pub use ids::{DeliveryId, EndpointId, IdError, MessageId};
pub use schedule::{RetrySchedule, ScheduleError};
pub use signing::{sign, signature_header, SecretError, SigningSecret};
