//! `hallctl worker`: register, list, show, revoke, attestation status.
//!
//! `register` takes the seed's fields as flags (`--name --namespace
//! --capability … --policy-tier`) or a whole registration record
//! (`--record file.json`, the flags overriding its fields). The namespace
//! defaults to `PYHALL_NAMESPACE`. What is still missing is asked for on a
//! terminal; without one it is a usage error (exit 2).

use std::path::PathBuf;

use api_types::attestations::AttestationStatusView;
use api_types::workers::WorkerView;
use clap::Subcommand;
use serde_json::{json, Value};

use super::{tenant_query, Ctx};
use crate::client::{env, seg, typed};
use crate::failure::{CmdResult, Failure, Outcome};
use crate::output::{joined, note, say, time, time_or_dash};
use crate::prompt;

#[derive(Debug, Subcommand)]
pub enum WorkerCmd {
    /// Register a worker under one of your namespaces (an unclaimed `x.*`
    /// namespace is claimed for you). Prints its registry id (`wrk_…`).
    Register {
        /// The worker's name inside its namespace, e.g. my-agent.
        #[arg(long)]
        name: Option<String>,
        /// x.<name> or org.<name> [default: $PYHALL_NAMESPACE].
        #[arg(long)]
        namespace: Option<String>,
        /// A capability it declares, e.g. cap.data.read.v1 (repeat, or separate with commas).
        #[arg(long = "capability", visible_alias = "cap", value_delimiter = ',')]
        capabilities: Vec<String>,
        /// Policy tier, 0–8 or L0–L8 [default: the registry's, L0].
        #[arg(long, value_parser = parse_tier)]
        policy_tier: Option<u8>,
        /// A JSON registration record (seed form or full WCP record); flags override its fields.
        #[arg(long)]
        record: Option<PathBuf>,
    },
    /// Your workers, in registration order.
    List {
        #[arg(long)]
        namespace: Option<String>,
        /// Only workers declaring this capability.
        #[arg(long, visible_alias = "cap")]
        capability: Option<String>,
        /// active or revoked.
        #[arg(long)]
        status: Option<String>,
        /// Page size, 1–200.
        #[arg(long)]
        limit: Option<u32>,
        /// Start after this cursor (the previous page's next_cursor).
        #[arg(long)]
        cursor: Option<String>,
        /// Follow next_cursor to the last page.
        #[arg(long)]
        all: bool,
        /// Operator only: another tenant's.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// One worker (`wrk_…` or its WCP worker id).
    Show {
        id: String,
        /// Operator only: another tenant's.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Revoke a worker; it is kept with status revoked, and every decision about it is denied.
    Revoke {
        id: String,
        /// Operator only: another tenant's.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// A worker's attestation status: attested, pending, denied or none.
    Attestation { id: String },
}

/// `3` or `L3` → 3; 0–8 only.
fn parse_tier(raw: &str) -> Result<u8, String> {
    let digits = raw.trim().trim_start_matches(['L', 'l']);
    match digits.parse::<u8>() {
        Ok(t) if t <= 8 => Ok(t),
        _ => Err(format!("{raw:?} is not a policy tier (0–8 or L0–L8)")),
    }
}

pub fn run(ctx: &Ctx, cmd: WorkerCmd) -> CmdResult {
    match cmd {
        WorkerCmd::Register {
            name,
            namespace,
            capabilities,
            policy_tier,
            record,
        } => {
            let body = registration(name, namespace, capabilities, policy_tier, record)?;
            let answer = ctx.client()?.post("/api/v1/workers", &body)?;
            let w: WorkerView = typed(&answer)?;
            if !ctx.out.json(&answer) {
                say!("Registered worker {}", w.id);
                print_worker(&w);
            }
        }
        WorkerCmd::List {
            namespace,
            capability,
            status,
            limit,
            cursor,
            all,
            tenant,
        } => {
            let client = ctx.client()?;
            let mut query = tenant_query(&tenant);
            let mut add = |k: &'static str, v: Option<String>| {
                if let Some(v) = v {
                    query.push((k, v));
                }
            };
            add("namespace", namespace);
            add("capability", capability);
            add("status", status);
            add("limit", limit.or(all.then_some(200)).map(|l| l.to_string()));
            let (workers, next) =
                super::pages(&client, "/api/v1/workers", "workers", query, cursor, all)?;
            if !ctx
                .out
                .json(&json!({"workers": workers, "next_cursor": next}))
            {
                for w in &workers {
                    let w: WorkerView = typed(w)?;
                    say!(
                        "{}  {}  {}  L{}  {}",
                        w.id,
                        w.worker_id,
                        w.status,
                        w.policy_tier,
                        joined(&w.capabilities)
                    );
                }
                if let Some(next) = next {
                    note!("(more: --cursor {next}, or --all)");
                }
            }
        }
        WorkerCmd::Show { id, tenant } => {
            let answer = ctx.client()?.get_query(
                &format!("/api/v1/workers/{}", seg(&id)?),
                &tenant_query(&tenant),
            )?;
            let w: WorkerView = typed(&answer)?;
            if !ctx.out.json(&answer) {
                say!("{}", w.id);
                print_worker(&w);
            }
        }
        WorkerCmd::Revoke { id, tenant } => {
            let client = ctx.client()?;
            let mut req = client.request(
                reqwest::Method::POST,
                &format!("/api/v1/workers/{}/revoke", seg(&id)?),
            );
            req = req.query(&tenant_query(&tenant));
            let answer = client.call(req)?;
            let w: WorkerView = typed(&answer)?;
            if !ctx.out.json(&answer) {
                say!("Revoked {} ({})", w.id, w.worker_id);
            }
        }
        WorkerCmd::Attestation { id } => {
            let answer = ctx
                .client()?
                .get(&format!("/api/v1/workers/{}/attestation", seg(&id)?))?;
            let a: AttestationStatusView = typed(&answer)?;
            if !ctx.out.json(&answer) {
                say!("{}: {}", a.worker_id, a.status);
                say!(
                    "  artifact hash: {}",
                    a.artifact_hash.as_deref().unwrap_or("-")
                );
                say!("  attested at:   {}", time_or_dash(a.attested_at.as_ref()));
                say!("  signed by:     {}", a.signed_by.as_deref().unwrap_or("-"));
                if let Some(reason) = &a.reason {
                    say!("  reason:        {reason}");
                }
            }
        }
    }
    Ok(Outcome::Done)
}

/// The request body of a registration; asks for (or refuses) what is missing.
fn registration(
    name: Option<String>,
    namespace: Option<String>,
    capabilities: Vec<String>,
    policy_tier: Option<u8>,
    record: Option<PathBuf>,
) -> Result<Value, Failure> {
    let from_record = record.is_some();
    let mut body = match record {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Failure::error(format!("cannot read {}: {e}", path.display())))?;
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| Failure::error(format!("{} is not JSON: {e}", path.display())))?;
            if !v.is_object() {
                return Err(Failure::error(format!(
                    "{} is not a JSON object",
                    path.display()
                )));
            }
            v
        }
        None => json!({}),
    };
    if let Some(n) = name {
        body["name"] = Value::from(n);
    }
    if let Some(ns) = namespace {
        body["namespace"] = Value::from(ns);
    } else if body.get("namespace").is_none() && body.get("worker_id").is_none() {
        if let Some(ns) = env("PYHALL_NAMESPACE") {
            body["namespace"] = Value::from(ns);
        }
    }
    let capabilities: Vec<String> = capabilities
        .into_iter()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    if !capabilities.is_empty() {
        body["capabilities"] = json!(capabilities);
    }
    if let Some(t) = policy_tier {
        body["policy_tier"] = Value::from(t);
    }
    if from_record {
        // A record is complete as written; the registry names what it lacks.
        return Ok(body);
    }
    let absent = |body: &Value, k: &str| body.get(k).is_none();
    let mut missing = Vec::new();
    if absent(&body, "name") {
        missing.push("--name");
    }
    if absent(&body, "namespace") {
        missing.push("--namespace (or PYHALL_NAMESPACE)");
    }
    if absent(&body, "capabilities") {
        missing.push("--capability");
    }
    if missing.is_empty() {
        return Ok(body);
    }
    if !prompt::interactive() {
        return Err(prompt::missing(&missing.join(", ")));
    }
    if absent(&body, "name") {
        body["name"] = Value::from(prompt::ask("Worker name (e.g. my-agent)", None)?);
    }
    if absent(&body, "namespace") {
        body["namespace"] = Value::from(prompt::ask("Namespace (x.<name> or org.<name>)", None)?);
    }
    if absent(&body, "capabilities") {
        let answer = prompt::ask(
            "Capabilities (comma-separated, e.g. cap.data.read.v1)",
            None,
        )?;
        let caps: Vec<&str> = answer
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        body["capabilities"] = json!(caps);
    }
    if absent(&body, "policy_tier") {
        let answer = prompt::ask("Policy tier (0–8)", Some("0"))?;
        body["policy_tier"] = Value::from(parse_tier(&answer).map_err(Failure::usage)?);
    }
    Ok(body)
}

fn print_worker(w: &WorkerView) {
    say!("  worker_id:      {}", w.worker_id);
    say!("  namespace:      {}", w.namespace);
    say!("  tenant:         {}", w.tenant_id);
    say!("  status:         {}", w.status);
    say!("  policy tier:    L{}", w.policy_tier);
    say!("  capabilities:   {}", joined(&w.capabilities));
    say!("  environments:   {}", joined(&w.allowed_environments));
    say!("  max data label: {}", w.max_data_label);
    say!("  visibility:     {}", w.visibility);
    say!("  registered:     {}", time(&w.created_at));
    if let Some(at) = &w.revoked_at {
        say!("  revoked:        {}", time(at));
    }
}

#[cfg(test)]
mod tests {
    use super::parse_tier;

    #[test]
    fn policy_tiers_are_read_with_or_without_the_l() {
        assert_eq!(parse_tier("3"), Ok(3));
        assert_eq!(parse_tier("L8"), Ok(8));
        assert_eq!(parse_tier("l0"), Ok(0));
        assert!(parse_tier("9").is_err() && parse_tier("L").is_err() && parse_tier("-1").is_err());
    }
}
