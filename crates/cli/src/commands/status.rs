//! `hallctl where` and `hallctl status`: which registry, and is it well.

use api_types::health::HealthResponse;
use serde_json::json;

use super::Ctx;
use crate::client::typed;
use crate::failure::{CmdResult, Failure, Outcome};
use crate::output::say;

/// The registry URL and where it came from (flag, environment, stored login, default).
pub fn where_(ctx: &Ctx) -> CmdResult {
    let st = &ctx.settings;
    if !ctx.out.json(&json!({
        "registry": st.registry,
        "source": st.registry_source.to_string(),
        "source_kind": st.registry_source.kind(),
    })) {
        say!("{} (from {})", st.registry, st.registry_source);
    }
    Ok(Outcome::Done)
}

/// `/health`: ok or degraded, and the version.
pub fn status(ctx: &Ctx) -> CmdResult {
    let answer = ctx.anonymous()?.get("/health")?;
    let health: HealthResponse = typed(&answer)?;
    let ok = health.ok;
    if !ctx.out.json(&answer) {
        say!("Registry: {}", ctx.settings.registry);
        say!("Status:   {}", if ok { "ok" } else { "degraded" });
        say!("Version:  {}", health.version);
    }
    if !ok {
        return Err(Failure::error("the registry reports it is degraded"));
    }
    Ok(Outcome::Done)
}
