//! `hallctl ban`: the ban list of package hashes. Anyone may check a hash
//! and read the list; any tenant may report a hash; the operator reviews
//! reports (confirm, reject) and lifts bans.

use clap::Subcommand;
use serde_json::{json, Value};

use super::Ctx;
use crate::client::seg;
use crate::failure::{CmdResult, Outcome};
use crate::output::{items, s, say};

#[derive(Debug, Subcommand)]
pub enum BanCmd {
    /// Is this package hash banned? Prints its ban history; exits 3 when a ban is live.
    Check {
        /// The package's SHA-256 (64 hex characters, as `hallctl hash` prints it).
        sha256: String,
    },
    /// Report a hash for review; it joins the list only when the operator confirms it.
    Report {
        sha256: String,
        /// Why it should be banned.
        #[arg(long)]
        reason: String,
        /// An http(s) link to the evidence.
        #[arg(long)]
        evidence_url: Option<String>,
    },
    /// The confirmed ban list, newest first; with --reports, the reports (operator).
    List {
        /// Operator: list reports instead of confirmed bans.
        #[arg(long)]
        reports: bool,
        /// With --reports: pending, confirmed or rejected.
        #[arg(long, requires = "reports")]
        status: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Confirm a pending report (operator): its hash is banned at once.
    Confirm {
        /// The report id (`rpt_…`).
        report_id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Reject a pending report (operator).
    Reject {
        report_id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Lift the live ban on a hash (operator); it stays in the hash's history.
    Lift {
        sha256: String,
        #[arg(long)]
        note: Option<String>,
    },
}

fn note_body(note: Option<String>) -> Value {
    match note {
        Some(n) => json!({"note": n}),
        None => json!({}),
    }
}

pub fn run(ctx: &Ctx, cmd: BanCmd) -> CmdResult {
    match cmd {
        BanCmd::Check { sha256 } => {
            let v = ctx
                .anonymous()?
                .get(&format!("/api/v1/ban-list/{}", seg(sha256.trim())?))?;
            let banned = v["banned"] == true;
            if !ctx.out.json(&v) {
                say!(
                    "{}: {}",
                    s(&v, "sha256"),
                    if banned { "BANNED" } else { "not banned" }
                );
                for b in items(&v, "history") {
                    let state = match b["lifted_at"].as_str() {
                        Some(at) => format!("lifted {at}"),
                        None => "live".into(),
                    };
                    say!(
                        "  {}  confirmed {}  {}  {}",
                        state,
                        s(b, "confirmed_at"),
                        s(b, "source"),
                        s(b, "reason")
                    );
                }
            }
            return Ok(if banned {
                Outcome::Denied
            } else {
                Outcome::Done
            });
        }
        BanCmd::Report {
            sha256,
            reason,
            evidence_url,
        } => {
            let mut body = json!({"sha256": sha256, "reason": reason});
            if let Some(u) = evidence_url {
                body["evidence_url"] = Value::from(u);
            }
            let r = ctx.client()?.post("/api/v1/ban-list/report", &body)?;
            if !ctx.out.json(&r) {
                say!(
                    "Reported {} as {} ({})",
                    s(&r, "sha256"),
                    s(&r, "id"),
                    s(&r, "status")
                );
            }
        }
        BanCmd::List {
            reports,
            status,
            limit,
        } => {
            let mut query = Vec::new();
            if let Some(l) = limit {
                query.push(("limit", l.to_string()));
            }
            if reports {
                if let Some(st) = status {
                    query.push(("status", st));
                }
                let v = ctx
                    .client()?
                    .get_query("/api/v1/ban-list/reports", &query)?;
                if !ctx.out.json(&v) {
                    for r in items(&v, "reports") {
                        say!(
                            "{}  {}  {}  {}  by {}  {}",
                            s(r, "id"),
                            s(r, "status"),
                            s(r, "sha256"),
                            s(r, "created_at"),
                            s(r, "reporter_tenant"),
                            s(r, "reason")
                        );
                    }
                }
            } else {
                let v = ctx.anonymous()?.get_query("/api/v1/ban-list", &query)?;
                if !ctx.out.json(&v) {
                    for b in v.as_array().into_iter().flatten() {
                        say!(
                            "{}  {}  {}  {}",
                            s(b, "sha256"),
                            s(b, "reported_at"),
                            s(b, "source"),
                            s(b, "reason")
                        );
                    }
                }
            }
        }
        BanCmd::Confirm { report_id, note } => {
            let v = ctx.client()?.post(
                &format!("/api/v1/ban-list/reports/{}/confirm", seg(&report_id)?),
                &note_body(note),
            )?;
            if !ctx.out.json(&v) {
                say!(
                    "Confirmed {}: {} is banned",
                    s(&v["report"], "id"),
                    s(&v["ban"], "sha256")
                );
            }
        }
        BanCmd::Reject { report_id, note } => {
            let v = ctx.client()?.post(
                &format!("/api/v1/ban-list/reports/{}/reject", seg(&report_id)?),
                &note_body(note),
            )?;
            if !ctx.out.json(&v) {
                say!("Rejected {} ({})", s(&v, "id"), s(&v, "sha256"));
            }
        }
        BanCmd::Lift { sha256, note } => {
            let v = ctx.client()?.delete(
                &format!("/api/v1/ban-list/{}", seg(sha256.trim())?),
                Some(&note_body(note)),
            )?;
            if !ctx.out.json(&v) {
                say!(
                    "Lifted the ban on {} ({})",
                    s(&v, "sha256"),
                    s(&v, "lifted_at")
                );
            }
        }
    }
    Ok(Outcome::Done)
}
