//! `hallctl approvals`: human approvals of REQUIRE_HUMAN decisions (WCP §5.8).

use api_types::approvals::{ApprovalView, PendingApprovals, ResolveApproval};
use clap::Subcommand;

use super::Ctx;
use crate::client::typed;
use crate::failure::{CmdResult, Outcome};
use crate::output::{say, time};

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
            let answer = client.get("/wcp/approvals/pending")?;
            let page: PendingApprovals = typed(&answer)?;
            if ctx.out.json(&answer) {
                return Ok(Outcome::Done);
            }
            for a in &page.pending {
                say!(
                    "{}  {}  {} {} {} {}  until {}  {}",
                    a.id,
                    a.supervisor_level,
                    a.worker_id,
                    a.capability_id,
                    a.env,
                    a.data_label,
                    time(&a.expires_at),
                    a.reason
                );
            }
            return Ok(Outcome::Done);
        }
        ApprovalsCmd::Approve { id, note } => (id, "approve", note),
        ApprovalsCmd::Deny { id, note } => (id, "deny", note),
        ApprovalsCmd::Escalate { id, note } => (id, "escalate", note),
    };
    let answer = client.post(
        "/wcp/approvals/resolve",
        &ResolveApproval {
            approval_id: id,
            resolution: action.into(),
            note,
            tenant_id: None,
        },
    )?;
    let a: ApprovalView = typed(&answer)?;
    if !ctx.out.json(&answer) {
        say!("{}: {} ({})", a.id, a.status, a.supervisor_level);
    }
    Ok(Outcome::Done)
}
