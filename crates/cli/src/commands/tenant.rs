//! `hallctl tenant`: the operator's tenant administration.

use clap::Subcommand;
use serde_json::{json, Value};

use super::Ctx;
use crate::client::seg;
use crate::failure::{CmdResult, Outcome};
use crate::output::{items, s, say};

#[derive(Debug, Subcommand)]
pub enum TenantCmd {
    /// Create a tenant (operator only). Give it a key with `hallctl key create --tenant`.
    Create {
        /// WCP-style dotted id, never changed (org.acme, x.alice).
        id: String,
        /// A name for people, e.g. "Acme Corp".
        #[arg(long, visible_alias = "name")]
        display_name: String,
    },
    /// Every tenant (operator only).
    List,
    /// Suspend a tenant (operator only): its keys stop working; its data stays.
    Suspend { id: String },
    /// Reactivate a suspended tenant (operator only).
    Reactivate { id: String },
}

pub fn run(ctx: &Ctx, cmd: TenantCmd) -> CmdResult {
    let client = ctx.client()?;
    let (v, verb) = match cmd {
        TenantCmd::Create { id, display_name } => (
            client.post(
                "/api/v1/tenants",
                &json!({"id": id, "display_name": display_name}),
            )?,
            "Created",
        ),
        TenantCmd::List => {
            let v = client.get("/api/v1/tenants")?;
            if !ctx.out.json(&v) {
                for t in items(&v, "tenants") {
                    print_tenant(t);
                }
            }
            return Ok(Outcome::Done);
        }
        TenantCmd::Suspend { id } => (
            client.post(
                &format!("/api/v1/tenants/{}/suspend", seg(&id)?),
                &json!({}),
            )?,
            "Suspended",
        ),
        TenantCmd::Reactivate { id } => (
            client.post(
                &format!("/api/v1/tenants/{}/reactivate", seg(&id)?),
                &json!({}),
            )?,
            "Reactivated",
        ),
    };
    if !ctx.out.json(&v) {
        say!("{verb} tenant {}", s(&v, "id"));
        print_tenant(&v);
    }
    Ok(Outcome::Done)
}

fn print_tenant(t: &Value) {
    say!(
        "{}  {}{}  {}  since {}",
        s(t, "id"),
        s(t, "status"),
        if t["operator"] == true {
            " (operator)"
        } else {
            ""
        },
        s(t, "display_name"),
        s(t, "created_at")
    );
}
