//! `hallctl rules`: the tenant's routing rules (PyHall rules JSON), their
//! versions, roll-back and golden snapshots (all need an `admin` key).
//!
//! `rules get` prints the document itself, so `hallctl rules get >
//! rules.json` and `hallctl rules put rules.json` round-trip; `rules test`
//! exits 3 when a case differs, so CI can gate a rules change on it.

use std::path::{Path, PathBuf};

use api_types::routing::{
    ActiveRulesView, RulesActivated, RulesTestReport, RulesTestRequest, RulesVersionList,
    RulesVersionSummary, RulesVersionView, SnapshotDifference, Snapshots,
};
use clap::Subcommand;
use serde_json::{json, Value};

use super::Ctx;
use crate::client::{typed, CallError, Client};
use crate::failure::{CmdResult, Failure, Outcome};
use crate::output::{note, pretty, say, time};

#[derive(Debug, Subcommand)]
pub enum RulesCmd {
    /// Print the rules document in force (or one version's) as JSON.
    Get {
        /// A stored version instead of the one in force.
        #[arg(long, value_name = "N")]
        version: Option<u32>,
    },
    /// Store a rules file as the next version; it goes into force unless
    /// --no-activate. Refused (exit 1, nothing stored) when the file is
    /// invalid or the stored snapshots fail on it (the differences are printed).
    Put {
        /// The PyHall rules JSON file (`{"rules": [...]}`).
        file: PathBuf,
        /// Store it without putting it into force (`rules activate` later).
        #[arg(long)]
        no_activate: bool,
        /// Put it into force even though stored snapshots fail on it (a
        /// deliberate change of behaviour; update the snapshots after).
        #[arg(long)]
        skip_snapshots: bool,
        /// A note kept with the version.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Run snapshot cases against a rules file (or the rules in force);
    /// exit 3 when any case differs. Nothing is stored.
    Test {
        /// A candidate rules file; without it, the rules in force.
        file: Option<PathBuf>,
        /// A cases file (`[...]` or `{"cases": [...]}`); without it, the stored snapshots.
        #[arg(long, value_name = "FILE")]
        cases: Option<PathBuf>,
    },
    /// List the stored versions, newest first.
    Versions,
    /// Put a stored version into force (roll back or forward).
    Activate {
        /// The version number.
        version: u32,
    },
    /// The golden snapshot cases checked before a new version goes into force.
    Snapshots {
        #[command(subcommand)]
        command: SnapshotsCmd,
    },
}

#[derive(Debug, Subcommand)]
pub enum SnapshotsCmd {
    /// Print the stored cases as a JSON array (a file `snapshots put` takes).
    Get,
    /// Replace the stored cases with a file's (`[...]` or `{"cases": [...]}`).
    Put { file: PathBuf },
}

fn read_json(file: &Path) -> Result<Value, Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::error(format!("cannot read {}: {e}", file.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| Failure::error(format!("{} is not JSON: {e}", file.display())))
}

/// A cases file: an array, or an object with `cases` (what `snapshots get
/// --json` prints).
fn read_cases(file: &Path) -> Result<Vec<Value>, Failure> {
    match read_json(file)? {
        Value::Array(cases) => Ok(cases),
        Value::Object(mut o) => match o.remove("cases") {
            Some(Value::Array(cases)) => Ok(cases),
            _ => Err(Failure::error(format!(
                "{} holds no cases: it must be a JSON array of cases or {{\"cases\": [...]}}",
                file.display()
            ))),
        },
        _ => Err(Failure::error(format!(
            "{} must be a JSON array of cases or {{\"cases\": [...]}}",
            file.display()
        ))),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "null (no rule matches: denied)".into(),
        other => other.to_string(),
    }
}

fn print_differences(differences: &[SnapshotDifference]) {
    for d in differences {
        say!(
            "case {:?}: {}\n  expected {}\n  actual   {}",
            d.case,
            d.field,
            show(&d.expected),
            show(&d.actual)
        );
    }
}

pub fn run(ctx: &Ctx, cmd: RulesCmd) -> CmdResult {
    let client = ctx.client()?;
    match cmd {
        RulesCmd::Get { version } => get(ctx, &client, version),
        RulesCmd::Put {
            file,
            no_activate,
            skip_snapshots,
            comment,
        } => put(ctx, &client, &file, !no_activate, skip_snapshots, comment),
        RulesCmd::Test { file, cases } => {
            let request = RulesTestRequest {
                rules: file.as_deref().map(read_json).transpose()?,
                cases: cases.as_deref().map(read_cases).transpose()?,
            };
            let answer = client.post("/api/v1/routing/rules/test", &request)?;
            let report: RulesTestReport = typed(&answer)?;
            if !ctx.out.json(&answer) {
                print_differences(&report.differences);
                if report.passed {
                    say!("passed: {} case(s), no difference", report.cases);
                } else {
                    say!(
                        "FAILED: {} difference(s) in {} case(s)",
                        report.differences.len(),
                        report.cases
                    );
                }
            }
            Ok(if report.passed {
                Outcome::Done
            } else {
                Outcome::Denied
            })
        }
        RulesCmd::Versions => {
            let answer = client.get("/api/v1/routing/rules/versions")?;
            let list: RulesVersionList = typed(&answer)?;
            if !ctx.out.json(&answer) {
                if list.versions.is_empty() {
                    say!("no rules stored (every route is denied)");
                }
                for v in &list.versions {
                    say!(
                        "{}{:>4}  {}  {} rule(s)  {}  by {}{}",
                        if v.active { "*" } else { " " },
                        v.version,
                        time(&v.created_at),
                        v.rule_count,
                        &v.sha256[..v.sha256.len().min(12)],
                        v.created_by,
                        v.comment
                            .as_deref()
                            .map(|c| format!("  {c}"))
                            .unwrap_or_default()
                    );
                }
            }
            Ok(Outcome::Done)
        }
        RulesCmd::Activate { version } => {
            let answer = client.post(
                &format!("/api/v1/routing/rules/versions/{version}/activate"),
                &json!({}),
            )?;
            let done: RulesActivated = typed(&answer)?;
            if !ctx.out.json(&answer) {
                if done.changed {
                    say!("Version {} is now in force", done.version);
                } else {
                    say!(
                        "Version {} was already in force; nothing changed",
                        done.version
                    );
                }
            }
            Ok(Outcome::Done)
        }
        RulesCmd::Snapshots { command } => match command {
            SnapshotsCmd::Get => {
                let answer = client.get("/api/v1/routing/snapshots")?;
                let snapshots: Snapshots = typed(&answer)?;
                if !ctx.out.json(&answer) {
                    say!("{}", pretty(&Value::Array(snapshots.cases)));
                }
                Ok(Outcome::Done)
            }
            SnapshotsCmd::Put { file } => {
                let cases = read_cases(&file)?;
                let answer =
                    client.put_query("/api/v1/routing/snapshots", &[], &json!({"cases": cases}))?;
                let snapshots: Snapshots = typed(&answer)?;
                if !ctx.out.json(&answer) {
                    say!("Stored {} snapshot case(s)", snapshots.cases.len());
                }
                Ok(Outcome::Done)
            }
        },
    }
}

fn get(ctx: &Ctx, client: &Client, version: Option<u32>) -> CmdResult {
    match version {
        None => {
            let answer = client.get("/api/v1/routing/rules")?;
            let active: ActiveRulesView = typed(&answer)?;
            if !ctx.out.json(&answer) {
                note!(
                    "version {} (sha256 {}), in force since {}",
                    active.version,
                    active.sha256,
                    time(&active.activated_at)
                );
                say!("{}", pretty(&active.rules));
            }
        }
        Some(n) => {
            let answer = client.get(&format!("/api/v1/routing/rules/versions/{n}"))?;
            let v: RulesVersionView = typed(&answer)?;
            if !ctx.out.json(&answer) {
                note!(
                    "version {} (sha256 {}){}",
                    v.version,
                    v.sha256,
                    if v.active { ", in force" } else { "" }
                );
                say!("{}", pretty(&v.rules));
            }
        }
    }
    Ok(Outcome::Done)
}

fn put(
    ctx: &Ctx,
    client: &Client,
    file: &Path,
    activate: bool,
    skip_snapshots: bool,
    comment: Option<String>,
) -> CmdResult {
    let document = read_json(file)?;
    let mut query = vec![
        ("activate", activate.to_string()),
        ("skip_snapshots", skip_snapshots.to_string()),
    ];
    if let Some(c) = comment {
        query.push(("comment", c));
    }
    let answer = match client.call(
        client
            .request(reqwest::Method::PUT, "/api/v1/routing/rules")
            .query(&query)
            .json(&document),
    ) {
        Ok(answer) => answer,
        Err(CallError::Status { code, message, .. }) if code == "snapshots_failed" => {
            // The refusal's differences, as `rules test` reports them.
            let request = RulesTestRequest {
                rules: Some(document),
                cases: None,
            };
            if let Ok(report) = client
                .post("/api/v1/routing/rules/test", &request)
                .and_then(|a| typed::<RulesTestReport>(&a))
            {
                print_differences(&report.differences);
            }
            return Err(Failure::error(format!("422 {code}: {message}")));
        }
        Err(e) => return Err(e.into()),
    };
    let v: RulesVersionSummary = typed(&answer)?;
    if !ctx.out.json(&answer) {
        say!(
            "Stored {} as version {} ({} rule(s), sha256 {}){}",
            file.display(),
            v.version,
            v.rule_count,
            v.sha256,
            if v.active {
                ", now in force"
            } else {
                "; not in force (hallctl rules activate)"
            }
        );
    }
    Ok(Outcome::Done)
}
