//! `hallctl approvals`: human approvals of REQUIRE_HUMAN decisions (WCP §5.8).

use clap::Subcommand;
use serde_json::json;

use super::Ctx;
use crate::failure::{CmdResult, Outcome};
use crate::output::{items, s, say};

#[derive(Debug, Subcommand)]
pub enum ApprovalsCmd {
    /// Approvals waiting for a human, oldest first.
    List,
    /// Approve one: the same decision, repeated with `--approval`, passes once.
    Approve {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Deny one.
    Deny {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Raise one from gatekeeper to incident commander.
    Escalate {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
}

pub fn run(ctx: &Ctx, cmd: ApprovalsCmd) -> CmdResult {
    let client = ctx.client()?;
    let (id, action, note) = match cmd {
        ApprovalsCmd::List => {
            let page = client.get("/wcp/approvals/pending")?;
            if ctx.out.json(&page) {
                return Ok(Outcome::Done);
            }
            for a in items(&page, "pending") {
                say!(
                    "{}  {}  {} {} {} {}  until {}  {}",
                    s(a, "id"),
                    s(a, "supervisor_level"),
                    s(a, "worker_id"),
                    s(a, "capability_id"),
                    s(a, "env"),
                    s(a, "data_label"),
                    s(a, "expires_at"),
                    a["reason"].as_str().unwrap_or("")
                );
            }
            return Ok(Outcome::Done);
        }
        ApprovalsCmd::Approve { id, note } => (id, "approve", note),
        ApprovalsCmd::Deny { id, note } => (id, "deny", note),
        ApprovalsCmd::Escalate { id, note } => (id, "escalate", note),
    };
    let a = client.post(
        "/wcp/approvals/resolve",
        &json!({"approval_id": id, "resolution": action, "note": note}),
    )?;
    if !ctx.out.json(&a) {
        say!(
            "{}: {} ({})",
            s(&a, "id"),
            s(&a, "status"),
            s(&a, "supervisor_level")
        );
    }
    Ok(Outcome::Done)
}
