//! `hallctl key`: API keys, the credentials clients present (not `hallctl
//! keys`, the registry's receipt signing keys). `create` prints the new key
//! once; the registry never shows it again.

use clap::Subcommand;
use serde_json::{json, Value};

use super::{tenant_query, Ctx};
use crate::client::seg;
use crate::failure::{CmdResult, Failure, Outcome};
use crate::output::{items, list, s, say};

#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Create an API key (admin scope); prints the key once — store it then.
    Create {
        /// A name to recognise it by, unique among the tenant's live keys.
        #[arg(long)]
        name: String,
        /// admin, workers:write, decisions:write or read (repeat, or separate with commas).
        #[arg(long = "scope", required = true, value_delimiter = ',')]
        scopes: Vec<String>,
        /// When it stops working (RFC 3339, in the future) [default: never].
        #[arg(long, conflicts_with = "expires_in_days")]
        expires_at: Option<String>,
        /// Days until it stops working.
        #[arg(long)]
        expires_in_days: Option<u32>,
        /// Operator only: create it for this tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// The tenant's API keys (admin scope); secrets are never shown.
    List {
        /// Operator only: another tenant's.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Revoke an API key by id (admin scope); its session tokens stop working too.
    Revoke {
        /// The key's id (a UUID, as `hallctl key list` shows it).
        id: String,
        /// Operator only: another tenant's.
        #[arg(long)]
        tenant: Option<String>,
    },
}

pub fn run(ctx: &Ctx, cmd: KeyCmd) -> CmdResult {
    let client = ctx.client()?;
    match cmd {
        KeyCmd::Create {
            name,
            scopes,
            expires_at,
            expires_in_days,
            tenant,
        } => {
            let expires_at = match (expires_at, expires_in_days) {
                (Some(at), _) => Some(at),
                (None, Some(days)) => Some(
                    (chrono::Utc::now() + chrono::Duration::days(days.into()))
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ),
                (None, None) => None,
            };
            let scopes: Vec<String> = scopes
                .into_iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            if scopes.is_empty() {
                return Err(Failure::usage("--scope needs at least one scope"));
            }
            let mut body = json!({"name": name, "scopes": scopes});
            if let Some(at) = expires_at {
                body["expires_at"] = Value::from(at);
            }
            if let Some(t) = tenant {
                body["tenant_id"] = Value::from(t);
            }
            let k = client.post("/api/v1/api-keys", &body)?;
            if !ctx.out.json(&k) {
                say!("API key: {}", s(&k, "key"));
                say!("  Shown this once: store it now (or `hallctl auth login`).");
                print_key(&k);
            }
        }
        KeyCmd::List { tenant } => {
            let v = client.get_query("/api/v1/api-keys", &tenant_query(&tenant))?;
            if !ctx.out.json(&v) {
                for k in items(&v, "api_keys") {
                    say!(
                        "{}  {}  {}…  {}  {}  last used {}",
                        s(k, "id"),
                        s(k, "name"),
                        s(k, "prefix"),
                        state(k),
                        list(k, "scopes"),
                        s(k, "last_used_at")
                    );
                }
            }
        }
        KeyCmd::Revoke { id, tenant } => {
            let k = client.delete_query(
                &format!("/api/v1/api-keys/{}", seg(&id)?),
                &tenant_query(&tenant),
            )?;
            if !ctx.out.json(&k) {
                say!("Revoked API key {} ({})", s(&k, "id"), s(&k, "name"));
            }
        }
    }
    Ok(Outcome::Done)
}

fn state(k: &Value) -> &'static str {
    if k["revoked_at"].is_string() {
        "revoked"
    } else {
        let expired = k["expires_at"]
            .as_str()
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
            .is_some_and(|at| at <= chrono::Utc::now());
        if expired {
            "expired"
        } else {
            "active"
        }
    }
}

fn print_key(k: &Value) {
    say!("  id:      {}", s(k, "id"));
    say!("  name:    {}", s(k, "name"));
    say!("  tenant:  {}", s(k, "tenant_id"));
    say!("  prefix:  {}…", s(k, "prefix"));
    say!("  scopes:  {}", list(k, "scopes"));
    say!("  expires: {}", k["expires_at"].as_str().unwrap_or("never"));
}
