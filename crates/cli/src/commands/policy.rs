//! `hallctl policy`: the tenant's policy (`GET`/`PUT /api/v1/policy`) — shown
//! whole, and its approval TTL set on its own.

use clap::Subcommand;
use serde_json::{json, Value};

use super::Ctx;
use crate::failure::{CmdResult, Outcome};
use crate::output::say;

#[derive(Debug, Subcommand)]
pub enum PolicyCmd {
    /// The tenant's policy: attestation and decision settings (`read`).
    Show,
    /// How long new approvals wait for a human, and stay usable once
    /// approved (`admin`): 60 to 604800 seconds, default 3600. The rest of
    /// the decision policy is kept; open approvals keep their deadline.
    ApprovalTtl {
        /// Seconds, from 60 (1 minute) to 604800 (7 days).
        seconds: u64,
    },
}

pub fn run(ctx: &Ctx, cmd: PolicyCmd) -> CmdResult {
    let client = ctx.client()?;
    let policy = match cmd {
        PolicyCmd::Show => client.get("/api/v1/policy")?,
        PolicyCmd::ApprovalTtl { seconds } => {
            // The decision part is replaced whole: send it back as it is,
            // with the TTL changed.
            let current = client.get("/api/v1/policy")?;
            let mut decisions = current["decisions"].clone();
            if !decisions.is_object() {
                decisions = json!({});
            }
            decisions["approval_ttl_seconds"] = json!(seconds);
            client.put_query("/api/v1/policy", &[], &json!({"decisions": decisions}))?
        }
    };
    if !ctx.out.json(&policy) {
        print_policy(&policy);
    }
    Ok(Outcome::Done)
}

fn print_policy(p: &Value) {
    let a = &p["attestation"];
    let d = &p["decisions"];
    say!(
        "attestation: require_signature {}, require_approval {}",
        a["require_signature"],
        a["require_approval"]
    );
    say!("tier floors: {}", d["tier_floors"]);
    say!("signatories: {}", d["signatories"]);
    say!(
        "attestation max age (days): {}",
        d["attestation_max_age_days"]
    );
    say!("L7 supervisor level: {}", text(&d["l7_supervisor_level"]));
    say!("default data label: {}", text(&d["default_data_label"]));
    say!("egress allowlist: {}", d["egress_allowlist"]);
    say!("approval TTL: {} s", d["approval_ttl_seconds"]);
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}
