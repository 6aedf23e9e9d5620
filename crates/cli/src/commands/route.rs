//! `hallctl route`: a capability request routed by the tenant's routing
//! rules (`POST /api/v1/route`). Prints the decision: the outcome, the rule
//! that matched, the worker selected and the proof. Allowed exits 0;
//! denied (REQUIRE_HUMAN included) exits 3, as `decision make`.

use std::path::PathBuf;

use api_types::route::RouteAnswer;
use clap::Args;
use serde_json::{Map, Value};

use super::Ctx;
use crate::client::{env, typed};
use crate::failure::{CmdResult, Failure, Outcome};
use crate::output::say;

#[derive(Debug, Args)]
pub struct RouteArgs {
    /// A route input as JSON (WCP §4.1); the flags below replace its fields.
    #[arg(long)]
    input: Option<PathBuf>,
    /// The capability, e.g. cap.doc.summarize.
    #[arg(long = "cap", visible_aliases = ["capability", "capability-id"])]
    capability: Option<String>,
    /// dev, stage, prod or edge [default: $PYHALL_ENV, else dev].
    #[arg(long)]
    env: Option<String>,
    /// PUBLIC, INTERNAL or RESTRICTED [default: the tenant's default label].
    #[arg(long = "label", visible_alias = "data-label")]
    data_label: Option<String>,
    /// low, medium, high or critical [default: low].
    #[arg(long = "risk", visible_alias = "tenant-risk")]
    tenant_risk: Option<String>,
    /// P0 … P3 [default: P2].
    #[arg(long = "qos", visible_alias = "qos-class")]
    qos_class: Option<String>,
    /// The requesting tenant (default: the key's).
    #[arg(long, visible_alias = "tenant-id")]
    tenant: Option<String>,
    /// A UUID [default: a new one].
    #[arg(long)]
    correlation_id: Option<String>,
    /// The chain's earlier blast score, 0–100.
    #[arg(long)]
    blast_score: Option<u8>,
    /// The worker's payload, a JSON object.
    #[arg(long)]
    request: Option<String>,
    /// Decide and receipt, execute nothing, open no approval.
    #[arg(long)]
    dry_run: bool,
    /// An approved approval for exactly this request.
    #[arg(long, visible_alias = "approval-id")]
    approval: Option<String>,
}

/// The route input the arguments make.
fn body(a: RouteArgs) -> Result<Value, Failure> {
    let mut obj: Map<String, Value> = match &a.input {
        None => Map::new(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::error(format!("cannot read {}: {e}", path.display())))?;
            match serde_json::from_str(&text) {
                Ok(Value::Object(m)) => m,
                Ok(_) => {
                    return Err(Failure::error(format!(
                        "{} must hold a JSON object (a route input)",
                        path.display()
                    )))
                }
                Err(e) => {
                    return Err(Failure::error(format!(
                        "{} is not JSON: {e}",
                        path.display()
                    )))
                }
            }
        }
    };
    let mut set = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            obj.insert(k.to_string(), v);
        }
    };
    set("capability_id", a.capability.map(Value::from));
    set("env", a.env.map(Value::from));
    set("data_label", a.data_label.map(Value::from));
    set("tenant_risk", a.tenant_risk.map(Value::from));
    set("qos_class", a.qos_class.map(Value::from));
    set("tenant_id", a.tenant.map(Value::from));
    set("correlation_id", a.correlation_id.map(Value::from));
    set("blast_score", a.blast_score.map(Value::from));
    set("approval_id", a.approval.map(Value::from));
    if a.dry_run {
        set("dry_run", Some(Value::Bool(true)));
    }
    if let Some(r) = a.request {
        let v: Value = serde_json::from_str(&r)
            .map_err(|e| Failure::error(format!("--request is not JSON: {e}")))?;
        set("request", Some(v));
    }
    let defaults = [
        ("env", env("PYHALL_ENV").unwrap_or_else(|| "dev".into())),
        ("tenant_risk", "low".into()),
        ("qos_class", "P2".into()),
        ("correlation_id", uuid::Uuid::new_v4().to_string()),
    ];
    for (k, v) in defaults {
        obj.entry(k).or_insert(Value::String(v));
    }
    if !obj.contains_key("capability_id") {
        return Err(Failure::error(
            "--cap is required (or capability_id in --input)".to_string(),
        ));
    }
    Ok(Value::Object(obj))
}

pub fn run(ctx: &Ctx, args: RouteArgs) -> CmdResult {
    let body = body(args)?;
    let answer = ctx.client()?.post("/api/v1/route", &body)?;
    let d: RouteAnswer = typed(&answer)?;
    if !ctx.out.json(&answer) {
        print(&d);
    }
    Ok(if d.decision.denied {
        Outcome::Denied
    } else {
        Outcome::Done
    })
}

fn print(a: &RouteAnswer) {
    let (d, r) = (&a.decision, &a.route);
    let outcome = serde_json::to_value(d.outcome)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    match &d.deny_code {
        Some(code) => say!("{outcome}  {code} ({})", d.reason),
        None => say!("{outcome}"),
    }
    say!(
        "rule:   {}",
        r.matched_rule_id.as_deref().unwrap_or("NO_MATCH")
    );
    if let Some(Some(w)) = &r.selected_worker_id {
        say!(
            "worker: {w} ({})",
            d.selected_worker_species_id.as_deref().unwrap_or("-")
        );
    }
    if let Some(Some(score)) = r.blast_score {
        say!("blast:  {score}");
    }
    for c in r.candidate_workers_ranked.iter().flatten() {
        if let Some(skip) = c["skip_reason"].as_str() {
            say!(
                "  skipped {}: {skip}",
                c["worker_species_id"].as_str().unwrap_or("-")
            );
        }
    }
    say!("id:     {}", d.id);
    say!("proof:  {}", d.proof);
    if let Some(pending) = &d.pending_approval_id {
        say!("approval: {pending} (waiting for a human); once approved, repeat with --approval {pending}");
    }
}
