//! `hallctl audit verify`: download the published receipt keys and the
//! tenant's whole receipt chain, then check every hash, link and signature
//! offline.

use base64::Engine;
use clap::Subcommand;
use serde_json::json;

use super::Ctx;
use crate::failure::{CmdResult, Failure, Outcome};
use crate::output::{items, say};

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Export the tenant's receipts and check every hash, link and signature
    /// offline against the registry's published keys. Names the first broken
    /// receipt and exits 1 if there is one.
    Verify,
}

pub fn run(ctx: &Ctx, cmd: AuditCmd) -> CmdResult {
    let AuditCmd::Verify = cmd;
    let client = ctx.client()?;
    let keys = client.get("/api/v1/keys")?;
    let mut published = std::collections::HashMap::new();
    for k in items(&keys, "keys") {
        let kid = k["kid"].as_str().unwrap_or_default().to_string();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(k["public_key"].as_str().unwrap_or_default())
            .map_err(|e| Failure::error(format!("key {kid}: {e}")))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Failure::error(format!("key {kid} is not 32 bytes")))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&arr)
            .map_err(|e| Failure::error(format!("key {kid}: {e}")))?;
        published.insert(kid, key);
    }
    let mut receipts: Vec<audit::Receipt> = Vec::new();
    let mut after = 0i64;
    loop {
        let page = client.get(&format!("/api/v1/audit/receipts?after={after}&limit=5000"))?;
        let batch: Vec<audit::Receipt> = serde_json::from_value(page["receipts"].clone())
            .map_err(|e| Failure::error(format!("the export is not a list of receipts: {e}")))?;
        receipts.extend(batch);
        match page["next_after"].as_i64() {
            Some(next) if next > after => after = next,
            _ => break,
        }
    }
    match audit::verify_chain(&receipts, &published) {
        Ok(n) => {
            if !ctx
                .out
                .json(&json!({"ok": true, "receipts": n, "keys": published.len()}))
            {
                say!(
                    "OK: {n} receipts, every hash, link and signature verified ({} keys)",
                    published.len()
                );
            }
            Ok(Outcome::Done)
        }
        Err(e) => {
            ctx.out
                .json(&json!({"ok": false, "receipts": receipts.len(), "error": e.to_string()}));
            Err(Failure::error(format!("BROKEN: {e}")))
        }
    }
}
