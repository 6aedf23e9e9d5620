//! `hallctl namespace`: check, claim and list authority namespaces
//! (`x.<name>`, `org.<name>`), the operator's release and transfer (forced
//! or not) and their history, and the namespaces' Ed25519 signing keys.

use std::path::PathBuf;

use api_types::auth::WhoAmI;
use api_types::namespaces::{
    AddNamespaceKey, ClaimNamespace, ForceRelease, ForceTransfer, NamespaceChangeView,
    NamespaceHistory, NamespaceKeyList, NamespaceKeyView, NamespaceList, NamespaceStatus,
    NamespaceView, TransferNamespace,
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
    /// Refused while active workers or keys live under it, unless --force:
    /// then they are revoked first (e.g. to reclaim a squatted namespace).
    Release {
        namespace: String,
        /// Revoke the active workers and keys under it first (needs --reason).
        #[arg(long, requires = "reason")]
        force: bool,
        /// Why (recorded in the namespace's history); required with --force.
        #[arg(long, requires = "force")]
        reason: Option<String>,
    },
    /// Move a claim to another tenant (operator only). Refused while active
    /// workers or keys live under it, unless --force: then they are revoked
    /// first.
    Transfer {
        namespace: String,
        /// The tenant that receives it.
        #[arg(long)]
        to: String,
        /// Revoke the active workers and keys under it first (needs --reason).
        #[arg(long, requires = "reason")]
        force: bool,
        /// Why (recorded in the namespace's history); required with --force.
        #[arg(long, requires = "force")]
        reason: Option<String>,
    },
    /// The operator's releases and transfers of a namespace: who, when,
    /// why, what was revoked (operator only).
    History { namespace: String },
    /// A namespace's Ed25519 keys, which sign capability cards.
    Key {
        #[command(subcommand)]
        command: NamespaceKeyCmd,
    },
}

#[derive(Debug, Subcommand)]
pub enum NamespaceKeyCmd {
    /// Register a public key on one of your namespaces (admin scope). The
    /// registry needs a proof of possession: give the private key file
    /// `hallctl keygen` wrote with --key-file (only its public half and the
    /// proof signed with it are sent), or --public-key with a --proof made
    /// elsewhere (the key's signature over
    /// {"kid","namespace","purpose":"hall-registry/namespace-key/v1","tenant_id"}).
    #[command(group(ArgGroup::new("source").required(true).args(["public_key", "key_file"])))]
    Add {
        namespace: String,
        /// Ed25519 public key: base64 (standard or URL-safe) or 64 hex characters.
        #[arg(long, requires = "proof")]
        public_key: Option<String>,
        /// With --public-key: the proof of possession, base64 or hex.
        #[arg(long, requires = "public_key")]
        proof: Option<String>,
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
        NamespaceCmd::Release {
            namespace,
            force,
            reason,
        } => match (force, reason) {
            (true, Some(reason)) => {
                let v = client.post(
                    &format!("/api/v1/namespaces/{}/force-release", seg(&namespace)?),
                    &ForceRelease { reason },
                )?;
                let c: NamespaceChangeView = typed(&v)?;
                if !ctx.out.json(&v) {
                    say!("{}: released (forced)", c.namespace);
                    print_revoked(&c);
                }
            }
            (true, None) => return Err(Failure::usage("--force needs --reason")),
            (false, _) => {
                let v = client.delete(&format!("/api/v1/namespaces/{}", seg(&namespace)?), None)?;
                let n: NamespaceStatus = typed(&v)?;
                if !ctx.out.json(&v) {
                    say!("{}: released ({})", n.namespace, n.status);
                }
            }
        },
        NamespaceCmd::Transfer {
            namespace,
            to,
            force,
            reason,
        } => match (force, reason) {
            (true, Some(reason)) => {
                let v = client.post(
                    &format!("/api/v1/namespaces/{}/force-transfer", seg(&namespace)?),
                    &ForceTransfer {
                        tenant_id: to,
                        reason,
                    },
                )?;
                let c: NamespaceChangeView = typed(&v)?;
                if !ctx.out.json(&v) {
                    say!(
                        "{}: transferred to {} (forced)",
                        c.namespace,
                        c.to_tenant.as_deref().unwrap_or("-")
                    );
                    print_revoked(&c);
                }
            }
            (true, None) => return Err(Failure::usage("--force needs --reason")),
            (false, _) => {
                let v = client.post(
                    &format!("/api/v1/namespaces/{}/transfer", seg(&namespace)?),
                    &TransferNamespace { tenant_id: to },
                )?;
                let n: NamespaceView = typed(&v)?;
                if !ctx.out.json(&v) {
                    say!(
                        "{}: transferred to {}",
                        n.namespace,
                        n.tenant_id.as_deref().unwrap_or("-")
                    );
                }
            }
        },
        NamespaceCmd::History { namespace } => {
            let v = client.get(&format!("/api/v1/namespaces/{}/history", seg(&namespace)?))?;
            let h: NamespaceHistory = typed(&v)?;
            if !ctx.out.json(&v) {
                if h.changes.is_empty() {
                    say!("{namespace}: no releases or transfers");
                }
                for c in &h.changes {
                    say!(
                        "{}  {}{}  from {}  to {}  by {} (key {})  revoked {} worker(s), {} key(s){}",
                        time(&c.created_at),
                        c.action,
                        if c.forced { " (forced)" } else { "" },
                        c.from_tenant.as_deref().unwrap_or("-"),
                        c.to_tenant.as_deref().unwrap_or("-"),
                        c.actor_tenant,
                        c.actor_key_id,
                        c.revoked_workers,
                        c.revoked_keys,
                        c.reason
                            .as_deref()
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default()
                    );
                }
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
            proof,
            key_file,
            label,
        } => {
            let (public, proof) = match (public_key, proof, key_file) {
                (Some(p), Some(proof), _) => (p, proof),
                (None, _, Some(file)) => {
                    let key = super::attest::read_signing_key(&file)?;
                    let proof = possession_proof(client, &key, &namespace)?;
                    (super::attest::public_key(&key)?.to_base64(), proof)
                }
                _ => {
                    return Err(Failure::usage(
                        "give --key-file, or --public-key with --proof",
                    ));
                }
            };
            let label = label.unwrap_or_else(|| "added with hallctl".into());
            let v = client.post(
                &format!("/api/v1/namespaces/{}/keys", seg(&namespace)?),
                &AddNamespaceKey {
                    public_key: public,
                    label,
                    proof: Some(proof),
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

/// The proof that the caller holds `key`, for registering it on
/// `namespace`: signed over the statement naming the caller's tenant (asked
/// of the registry), the namespace and the key id.
fn possession_proof(
    client: &crate::client::Client,
    key: &ed25519_dalek::SigningKey,
    namespace: &str,
) -> Result<String, Failure> {
    let me: WhoAmI = typed(&client.get("/api/v1/auth/whoami")?)?;
    let tenant = wcp::TenantId::parse(&me.tenant_id).map_err(|e| {
        Failure::error(format!("the registry named tenant {:?}: {e}", me.tenant_id))
    })?;
    let ns = wcp::Namespace::parse(namespace)
        .map_err(|e| Failure::usage(format!("namespace {namespace:?}: {e}")))?;
    Ok(attestation::keys::sign_key_proof(key, &tenant, &ns))
}

fn print_revoked(c: &NamespaceChangeView) {
    say!(
        "Revoked {} worker(s) and {} signing key(s) of {}. Recorded as change {} ({}).",
        c.revoked_workers,
        c.revoked_keys,
        c.from_tenant.as_deref().unwrap_or("nobody"),
        c.id,
        c.reason.as_deref().unwrap_or("-")
    );
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
