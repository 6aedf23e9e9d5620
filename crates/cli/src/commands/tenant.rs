//! `hallctl tenant`: the operator's tenant administration.

use api_types::tenants::{CreateTenant, TenantList, TenantView};
use clap::Subcommand;
use serde_json::json;

use super::Ctx;
use crate::client::{seg, typed};
use crate::failure::{CmdResult, Outcome};
use crate::output::{say, time};

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
            client.post("/api/v1/tenants", &CreateTenant { id, display_name })?,
            "Created",
        ),
        TenantCmd::List => {
            let answer = client.get("/api/v1/tenants")?;
            let list: TenantList = typed(&answer)?;
            if !ctx.out.json(&answer) {
                for t in &list.tenants {
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
    let t: TenantView = typed(&v)?;
    if !ctx.out.json(&v) {
        say!("{verb} tenant {}", t.id);
        print_tenant(&t);
    }
    Ok(Outcome::Done)
}

fn print_tenant(t: &TenantView) {
    say!(
        "{}  {}{}  {}  since {}",
        t.id,
        t.status,
        if t.operator { " (operator)" } else { "" },
        t.display_name,
        time(&t.created_at)
    );
}
