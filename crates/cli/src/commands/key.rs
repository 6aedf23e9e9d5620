//! `hallctl key`: API keys, the credentials clients present (not `hallctl
//! keys`, the registry's receipt signing keys). `create` prints the new key
//! once; the registry never shows it again.

use api_types::api_keys::{ApiKeyList, ApiKeyView, CreateApiKey, CreatedApiKey};
use clap::Subcommand;

use super::{tenant_query, Ctx};
use crate::client::{seg, typed};
use crate::failure::{CmdResult, Failure, Outcome};
use crate::output::{joined, say, time, time_or_dash};

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
            let body = CreateApiKey {
                name,
                scopes,
                expires_at,
                tenant_id: tenant,
            };
            let answer = client.post("/api/v1/api-keys", &body)?;
            let k: CreatedApiKey = typed(&answer)?;
            if !ctx.out.json(&answer) {
                say!("API key: {}", k.key);
                say!("  Shown this once: store it now (or `hallctl auth login`).");
                print_key(&k.api_key);
            }
        }
        KeyCmd::List { tenant } => {
            let answer = client.get_query("/api/v1/api-keys", &tenant_query(&tenant))?;
            let keys: ApiKeyList = typed(&answer)?;
            if !ctx.out.json(&answer) {
                for k in &keys.api_keys {
                    say!(
                        "{}  {}  {}…  {}  {}  last used {}",
                        k.id,
                        k.name,
                        k.prefix,
                        state(k),
                        joined(&k.scopes),
                        time_or_dash(k.last_used_at.as_ref())
                    );
                }
            }
        }
        KeyCmd::Revoke { id, tenant } => {
            let answer = client.delete_query(
                &format!("/api/v1/api-keys/{}", seg(&id)?),
                &tenant_query(&tenant),
            )?;
            let k: ApiKeyView = typed(&answer)?;
            if !ctx.out.json(&answer) {
                say!("Revoked API key {} ({})", k.id, k.name);
            }
        }
    }
    Ok(Outcome::Done)
}

fn state(k: &ApiKeyView) -> &'static str {
    if k.revoked_at.is_some() {
        "revoked"
    } else {
        let expired = k.expires_at.is_some_and(|at| at <= chrono::Utc::now());
        if expired {
            "expired"
        } else {
            "active"
        }
    }
}

fn print_key(k: &ApiKeyView) {
    say!("  id:      {}", k.id);
    say!("  name:    {}", k.name);
    say!("  tenant:  {}", k.tenant_id);
    say!("  prefix:  {}…", k.prefix);
    say!("  scopes:  {}", joined(&k.scopes));
    say!(
        "  expires: {}",
        k.expires_at.as_ref().map_or_else(|| "never".into(), time)
    );
}
