//! `hallctl webhook`: the tenant's webhook endpoints (all need an `admin`
//! key). `create` and `rotate-secret` print the signing secret, the only
//! time it is shown: give it to the receiver's Standard Webhooks library.

use api_types::webhooks::{
    CreateWebhook, DeliveryList, DeliveryView, UpdateWebhook, WebhookList, WebhookView,
    WebhookWithSecret,
};
use clap::Subcommand;
use serde_json::json;

use super::Ctx;
use crate::client::{seg, typed};
use crate::failure::{CmdResult, Outcome};
use crate::output::{note, say, time, time_or_dash};

#[derive(Debug, Subcommand)]
pub enum WebhookCmd {
    /// Register an endpoint; prints its signing secret (shown once).
    Create {
        /// Where deliveries are POSTed (https, a public host; the operator's
        /// HALL_WEBHOOK_ALLOW_PRIVATE=true allows http and private hosts).
        url: String,
        /// An event type to receive (repeatable), or `*` for every event
        /// but the opt-in decision.denied (docs/events.md).
        #[arg(long = "event", value_name = "TYPE", required = true)]
        events: Vec<String>,
        #[arg(long)]
        description: Option<String>,
        /// Register it disabled.
        #[arg(long)]
        disabled: bool,
    },
    /// List the tenant's endpoints.
    List,
    /// Show one endpoint.
    Get { id: String },
    /// Change an endpoint; options not given stay as they are.
    Update {
        id: String,
        #[arg(long)]
        url: Option<String>,
        /// Replace the event types (repeatable).
        #[arg(long = "event", value_name = "TYPE")]
        events: Vec<String>,
        #[arg(long, conflicts_with = "no_description")]
        description: Option<String>,
        /// Remove the description.
        #[arg(long)]
        no_description: bool,
        /// Enable it (again: its failures are forgotten).
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
    },
    /// Remove an endpoint and its delivery log.
    Delete { id: String },
    /// Give an endpoint a new signing secret (printed once); the old one
    /// keeps signing beside it during the overlap (24 h by default).
    RotateSecret { id: String },
    /// The endpoint's delivery log, newest first.
    Deliveries {
        id: String,
        #[arg(long)]
        limit: Option<u32>,
        /// `next_cursor` of an earlier page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Send a delivery again (same webhook-id, from the start of the schedule).
    Redeliver { id: String, delivery_id: String },
}

fn print_endpoint(e: &WebhookView) {
    say!(
        "{}  {}  {}  [{}]{}",
        e.id,
        if e.enabled { "enabled " } else { "DISABLED" },
        e.url,
        e.event_types.join(", "),
        e.description
            .as_deref()
            .map(|d| format!("  {d}"))
            .unwrap_or_default()
    );
    if let Some(why) = &e.disabled_reason {
        say!("  disabled by the registry: {why}");
    }
    if let Some(since) = &e.failing_since {
        say!("  failing since {}", time(since));
    }
}

fn print_with_secret(w: &WebhookWithSecret) {
    print_endpoint(&w.endpoint);
    say!("Signing secret (shown this once): {}", w.secret);
    if let Some(until) = &w.endpoint.previous_secret_expires_at {
        note!(
            "the previous secret keeps signing until {}: switch the receiver before then",
            time(until)
        );
    }
}

fn print_delivery(d: &DeliveryView) {
    let last = match (d.status_code, &d.error) {
        (Some(s), _) => format!("HTTP {s}"),
        (None, Some(e)) => e.clone(),
        (None, None) => "-".into(),
    };
    say!(
        "{}  {:<9}  {:<22}  {}  attempts {}  last {} ({} ms)  next {}",
        d.id,
        d.state,
        d.event_type,
        d.event_id,
        d.attempts,
        last,
        d.latency_ms.map(|l| l.to_string()).unwrap_or("-".into()),
        time_or_dash(d.next_attempt_at.as_ref())
    );
}

pub fn run(ctx: &Ctx, cmd: WebhookCmd) -> CmdResult {
    let client = ctx.client()?;
    match cmd {
        WebhookCmd::Create {
            url,
            events,
            description,
            disabled,
        } => {
            let body = CreateWebhook {
                url,
                event_types: events,
                description,
                enabled: Some(!disabled),
            };
            let answer = client.post("/api/v1/webhooks", &body)?;
            let created: WebhookWithSecret = typed(&answer)?;
            if !ctx.out.json(&answer) {
                print_with_secret(&created);
            }
        }
        WebhookCmd::List => {
            let answer = client.get("/api/v1/webhooks")?;
            let list: WebhookList = typed(&answer)?;
            if !ctx.out.json(&answer) {
                if list.webhooks.is_empty() {
                    say!("no webhook endpoints");
                }
                list.webhooks.iter().for_each(print_endpoint);
            }
        }
        WebhookCmd::Get { id } => {
            let answer = client.get(&format!("/api/v1/webhooks/{}", seg(&id)?))?;
            let e: WebhookView = typed(&answer)?;
            if !ctx.out.json(&answer) {
                print_endpoint(&e);
            }
        }
        WebhookCmd::Update {
            id,
            url,
            events,
            description,
            no_description,
            enable,
            disable,
        } => {
            let change = UpdateWebhook {
                url,
                event_types: (!events.is_empty()).then_some(events),
                description: if no_description {
                    Some(None)
                } else {
                    description.map(Some)
                },
                enabled: match (enable, disable) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
            };
            let answer = client.patch(&format!("/api/v1/webhooks/{}", seg(&id)?), &change)?;
            let e: WebhookView = typed(&answer)?;
            if !ctx.out.json(&answer) {
                print_endpoint(&e);
            }
        }
        WebhookCmd::Delete { id } => {
            let answer = client.delete(&format!("/api/v1/webhooks/{}", seg(&id)?), None)?;
            if !ctx.out.json(&answer) {
                say!("Removed webhook endpoint {id}");
            }
        }
        WebhookCmd::RotateSecret { id } => {
            let answer = client.post(
                &format!("/api/v1/webhooks/{}/secret/rotate", seg(&id)?),
                &json!({}),
            )?;
            let rotated: WebhookWithSecret = typed(&answer)?;
            if !ctx.out.json(&answer) {
                print_with_secret(&rotated);
            }
        }
        WebhookCmd::Deliveries { id, limit, cursor } => {
            let mut query = Vec::new();
            if let Some(l) = limit {
                query.push(("limit", l.to_string()));
            }
            if let Some(c) = cursor {
                query.push(("cursor", c));
            }
            let answer = client.get_query(
                &format!("/api/v1/webhooks/{}/deliveries", seg(&id)?),
                &query,
            )?;
            let list: DeliveryList = typed(&answer)?;
            if !ctx.out.json(&answer) {
                if list.deliveries.is_empty() {
                    say!("no deliveries");
                }
                list.deliveries.iter().for_each(print_delivery);
                if let Some(next) = &list.next_cursor {
                    note!("more: --cursor {next}");
                }
            }
        }
        WebhookCmd::Redeliver { id, delivery_id } => {
            let answer = client.post(
                &format!(
                    "/api/v1/webhooks/{}/deliveries/{}/redeliver",
                    seg(&id)?,
                    seg(&delivery_id)?
                ),
                &json!({}),
            )?;
            let d: DeliveryView = typed(&answer)?;
            if !ctx.out.json(&answer) {
                print_delivery(&d);
            }
        }
    }
    Ok(Outcome::Done)
}
