//! `hallctl namespace`: check, claim, list and release authority namespaces
//! (`x.<name>`, `org.<name>`), and their Ed25519 signing keys.

use std::path::PathBuf;

use api_types::namespaces::{
    AddNamespaceKey, ClaimNamespace, NamespaceKeyList, NamespaceKeyView, NamespaceList,
    NamespaceStatus, NamespaceView,
};
use clap::{ArgGroup, Subcommand};
use serde_json::json;

use super::{tenant_query, Ctx};
use crate::client::{seg, typed};
use crate::failure::{CmdResult, Failure, Outcome};
use crate::output::{say, time};

#[derive(Debug, Subcommand)]
pub enum NamespaceCmd {
    /// Is a namespace available, yours, taken, reserved, pending or invalid?
    Check { namespace: String },
    /// Claim a namespace for your tenant (admin scope). `x.*` claims take
    /// effect at once; `org.*` claims may wait for the operator.
    Claim { namespace: String },
    /// Your tenant's namespaces (claimed and pending).
    List {
        /// Operator only: another tenant's.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Release a claim, pending claim or reservation (operator only).
    Release { namespace: String },
    /// A namespace's Ed25519 keys, which sign capability cards.
    Key {
        #[command(subcommand)]
        command: NamespaceKeyCmd,
    },
}

#[derive(Debug, Subcommand)]
pub enum NamespaceKeyCmd {
    /// Register a public key on one of your namespaces (admin scope): give
    /// it with --public-key, or give the private key file `hallctl keygen`
    /// wrote with --key-file (only its public half is sent).
    #[command(group(ArgGroup::new("source").required(true).args(["public_key", "key_file"])))]
    Add {
        namespace: String,
        /// Ed25519 public key: base64 (standard or URL-safe) or 64 hex characters.
        #[arg(long)]
        public_key: Option<String>,
        /// A private key file written by `hallctl keygen`.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// What the key is for [default: "added with hallctl"].
        #[arg(long)]
        label: Option<String>,
    },
    /// A namespace's keys, revoked ones included.
    List { namespace: String },
    /// Revoke a key (admin scope). It is kept, with its revocation time.
    Revoke { namespace: String, kid: String },
}

pub fn run(ctx: &Ctx, cmd: NamespaceCmd) -> CmdResult {
    let client = ctx.client()?;
    match cmd {
        NamespaceCmd::Check { namespace } => {
            let v = client.get(&format!("/api/v1/namespaces/{}", seg(&namespace)?))?;
            let n: NamespaceStatus = typed(&v)?;
            if !ctx.out.json(&v) {
                match &n.reason {
                    Some(reason) => say!("{}: {} ({reason})", n.namespace, n.status),
                    None => say!("{}: {}", n.namespace, n.status),
                }
            }
        }
        NamespaceCmd::Claim { namespace } => {
            let v = client.post("/api/v1/namespaces", &ClaimNamespace { namespace })?;
            let n: NamespaceView = typed(&v)?;
            if !ctx.out.json(&v) {
                say!(
                    "{}: {} by {}",
                    n.namespace,
                    n.status,
                    n.tenant_id.as_deref().unwrap_or("-")
                );
                if n.status == "pending" {
                    say!("The claim waits for the operator's approval.");
                }
            }
        }
        NamespaceCmd::List { tenant } => {
            let v = client.get_query("/api/v1/namespaces", &tenant_query(&tenant))?;
            let list: NamespaceList = typed(&v)?;
            if !ctx.out.json(&v) {
                for n in &list.namespaces {
                    say!(
                        "{}  {}  {}  since {}",
                        n.namespace,
                        n.status,
                        n.tenant_id.as_deref().unwrap_or("-"),
                        time(&n.created_at)
                    );
                }
            }
        }
        NamespaceCmd::Release { namespace } => {
            let v = client.delete(&format!("/api/v1/namespaces/{}", seg(&namespace)?), None)?;
            let n: NamespaceStatus = typed(&v)?;
            if !ctx.out.json(&v) {
                say!("{}: released ({})", n.namespace, n.status);
            }
        }
        NamespaceCmd::Key { command } => return key(ctx, &client, command),
    }
    Ok(Outcome::Done)
}

fn key(ctx: &Ctx, client: &crate::client::Client, cmd: NamespaceKeyCmd) -> CmdResult {
    match cmd {
        NamespaceKeyCmd::Add {
            namespace,
            public_key,
            key_file,
            label,
        } => {
            let public = match (public_key, key_file) {
                (Some(p), _) => p,
                (None, Some(file)) => {
                    let key = super::attest::read_signing_key(&file)?;
                    super::attest::public_key(&key)?.to_base64()
                }
                (None, None) => {
                    return Err(Failure::usage("give --public-key or --key-file"));
                }
            };
            let label = label.unwrap_or_else(|| "added with hallctl".into());
            let v = client.post(
                &format!("/api/v1/namespaces/{}/keys", seg(&namespace)?),
                &AddNamespaceKey {
                    public_key: public,
                    label,
                },
            )?;
            let k: NamespaceKeyView = typed(&v)?;
            if !ctx.out.json(&v) {
                say!("Registered {} on {}", k.kid, k.namespace);
                print_key(&k);
            }
        }
        NamespaceKeyCmd::List { namespace } => {
            let v = client.get(&format!("/api/v1/namespaces/{}/keys", seg(&namespace)?))?;
            let keys: NamespaceKeyList = typed(&v)?;
            if !ctx.out.json(&v) {
                for k in &keys.keys {
                    print_key(k);
                }
            }
        }
        NamespaceKeyCmd::Revoke { namespace, kid } => {
            let v = client.post(
                &format!(
                    "/api/v1/namespaces/{}/keys/{}/revoke",
                    seg(&namespace)?,
                    seg(&kid)?
                ),
                &json!({}),
            )?;
            let k: NamespaceKeyView = typed(&v)?;
            if !ctx.out.json(&v) {
                say!("Revoked {} on {}", k.kid, k.namespace);
            }
        }
    }
    Ok(Outcome::Done)
}

fn print_key(k: &NamespaceKeyView) {
    let status = match &k.revoked_at {
        Some(at) => format!("revoked {}", time(at)),
        None => "active".into(),
    };
    say!(
        "{}  {}  {}  {}  since {}",
        k.kid,
        status,
        k.public_key,
        k.label,
        time(&k.created_at)
    );
}
