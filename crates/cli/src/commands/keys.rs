//! `hallctl keys`: the registry's receipt signing keys (not API keys; those
//! are `hallctl key`).

use clap::Subcommand;
use serde_json::json;

use super::Ctx;
use crate::failure::{CmdResult, Outcome};
use crate::output::{items, s, say};

#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// Every kid receipts were ever signed with, and its status.
    List,
    /// Operator: start a new receipt signing key (old receipts keep verifying).
    /// With HALL_RECEIPT_SIGNING_KEY_FILE, write the new key into that file
    /// first (`hallctl keygen --out`).
    Rotate,
}

pub fn run(ctx: &Ctx, cmd: KeysCmd) -> CmdResult {
    let client = ctx.client()?;
    let rotated = match cmd {
        KeysCmd::Rotate => Some(client.post("/api/v1/keys/rotate", &json!({}))?),
        KeysCmd::List => None,
    };
    if let Some(r) = &rotated {
        if ctx.out.json(r) {
            return Ok(Outcome::Done);
        }
        say!(
            "Receipts are now signed with {} ({} is retired and still verifies)",
            s(r, "kid"),
            s(r, "retired_kid")
        );
    }
    let keys = client.get("/api/v1/keys")?;
    if ctx.out.json(&keys) {
        return Ok(Outcome::Done);
    }
    for k in items(&keys, "keys") {
        say!(
            "{}  {:7}  since {}",
            s(k, "kid"),
            s(k, "status"),
            s(k, "created_at")
        );
    }
    Ok(Outcome::Done)
}
