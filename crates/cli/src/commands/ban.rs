//! `hallctl ban`: the ban list of package hashes. Anyone may check a hash
//! and read the list; any tenant may report a hash; the operator reviews
//! reports (confirm, reject) and lifts bans.

use api_types::banlist::{
    BanEntry, BanHistory, BanRecord, ConfirmedBan, ReportHash, ReportList, ReportView,
};
use clap::Subcommand;
use serde_json::{json, Value};

use super::Ctx;
use crate::client::{seg, typed};
use crate::failure::{CmdResult, Outcome};
use crate::output::{note, say, time, time_or_dash};

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
        /// With --reports: only reports of this package hash.
        #[arg(long, requires = "reports")]
        sha256: Option<String>,
        /// With --reports: only reports filed by this tenant.
        #[arg(long, requires = "reports")]
        reporter_tenant: Option<String>,
        /// Page size (reports: at most 5000).
        #[arg(long)]
        limit: Option<u32>,
        /// With --reports: start after this cursor (the previous page's next_cursor).
        #[arg(long, requires = "reports")]
        cursor: Option<String>,
        /// With --reports: follow next_cursor to the last page.
        #[arg(long, requires = "reports", conflicts_with = "cursor")]
        all: bool,
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
            let h: BanHistory = typed(&v)?;
            let banned = h.banned;
            if !ctx.out.json(&v) {
                say!(
                    "{}: {}",
                    h.sha256,
                    if banned { "BANNED" } else { "not banned" }
                );
                for b in &h.history {
                    let state = match &b.lifted_at {
                        Some(at) => format!("lifted {}", time(at)),
                        None => "live".into(),
                    };
                    say!(
                        "  {}  confirmed {}  {}  {}",
                        state,
                        time(&b.confirmed_at),
                        b.source,
                        b.reason
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
            let body = ReportHash {
                sha256,
                reason,
                evidence_url,
            };
            let v = ctx.client()?.post("/api/v1/ban-list/report", &body)?;
            let r: ReportView = typed(&v)?;
            if !ctx.out.json(&v) {
                say!("Reported {} as {} ({})", r.sha256, r.id, r.status);
            }
        }
        BanCmd::List {
            reports,
            status,
            sha256,
            reporter_tenant,
            limit,
            cursor,
            all,
        } => {
            let mut query = Vec::new();
            if let Some(l) = limit {
                query.push(("limit", l.to_string()));
            }
            if reports {
                let mut add = |k: &'static str, v: Option<String>| {
                    if let Some(v) = v {
                        query.push((k, v));
                    }
                };
                add("status", status);
                add("sha256", sha256.map(|h| h.trim().to_string()));
                add("reporter_tenant", reporter_tenant);
                let client = ctx.client()?;
                let (reports, next) = super::pages(
                    &client,
                    "/api/v1/ban-list/reports",
                    "reports",
                    query,
                    cursor,
                    all,
                )?;
                let v = json!({"reports": reports, "next_cursor": next});
                let list: ReportList = typed(&v)?;
                if !ctx.out.json(&v) {
                    for r in &list.reports {
                        say!(
                            "{}  {}  {}  {}  by {}  {}",
                            r.id,
                            r.status,
                            r.sha256,
                            time(&r.created_at),
                            r.reporter_tenant.as_deref().unwrap_or("-"),
                            r.reason
                        );
                    }
                    if let Some(next) = &list.next_cursor {
                        note!("(more: --cursor {next}, or --all)");
                    }
                }
            } else {
                let v = ctx.anonymous()?.get_query("/api/v1/ban-list", &query)?;
                let bans: Vec<BanEntry> = typed(&v)?;
                if !ctx.out.json(&v) {
                    for b in &bans {
                        say!(
                            "{}  {}  {}  {}",
                            b.sha256,
                            time(&b.reported_at),
                            b.source,
                            b.reason
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
            let c: ConfirmedBan = typed(&v)?;
            if !ctx.out.json(&v) {
                say!("Confirmed {}: {} is banned", c.report.id, c.ban.sha256);
            }
        }
        BanCmd::Reject { report_id, note } => {
            let v = ctx.client()?.post(
                &format!("/api/v1/ban-list/reports/{}/reject", seg(&report_id)?),
                &note_body(note),
            )?;
            let r: ReportView = typed(&v)?;
            if !ctx.out.json(&v) {
                say!("Rejected {} ({})", r.id, r.sha256);
            }
        }
        BanCmd::Lift { sha256, note } => {
            let v = ctx.client()?.delete(
                &format!("/api/v1/ban-list/{}", seg(sha256.trim())?),
                Some(&note_body(note)),
            )?;
            let b: BanRecord = typed(&v)?;
            if !ctx.out.json(&v) {
                say!(
                    "Lifted the ban on {} ({})",
                    b.sha256,
                    time_or_dash(b.lifted_at.as_ref())
                );
            }
        }
    }
    Ok(Outcome::Done)
}
