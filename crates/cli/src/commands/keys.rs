//! `hallctl keys`: the registry's receipt signing keys (not API keys; those
//! are `hallctl key`): list them, rotate, or save them for offline checks
//! (`hallctl audit verify --keys`).

use api_types::keys::{KeyList, RotatedKey};
use clap::Subcommand;
use serde_json::json;

use super::Ctx;
use crate::client::typed;
use crate::failure::{CmdResult, Outcome};
use crate::output::{say, time};

#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// Every kid receipts were ever signed with, and its status.
    List,
    /// Operator: start a new receipt signing key (old receipts keep verifying).
    /// With HALL_RECEIPT_SIGNING_KEY_FILE, write the new key into that file
    /// first (`hallctl keygen --out`).
    Rotate,
    /// Save the keys (the JSON of GET /api/v1/keys, every kid, active and
    /// retired) for `hallctl audit verify --keys FILE`. Needs no credential.
    Export {
        /// Where to write them (replaced if it exists) [default: standard output].
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
    },
}

pub fn run(ctx: &Ctx, cmd: KeysCmd) -> CmdResult {
    if let KeysCmd::Export { out } = cmd {
        return export(ctx, out.as_deref());
    }
    let client = ctx.client()?;
    let rotated = match cmd {
        KeysCmd::Rotate => Some(client.post("/api/v1/keys/rotate", &json!({}))?),
        KeysCmd::List | KeysCmd::Export { .. } => None,
    };
    if let Some(answer) = &rotated {
        let r: RotatedKey = typed(answer)?;
        if ctx.out.json(answer) {
            return Ok(Outcome::Done);
        }
        say!(
            "Receipts are now signed with {} ({} is retired and still verifies)",
            r.kid,
            r.retired_kid
        );
    }
    let answer = client.get("/api/v1/keys")?;
    let keys: KeyList = typed(&answer)?;
    if ctx.out.json(&answer) {
        return Ok(Outcome::Done);
    }
    for k in &keys.keys {
        say!("{}  {:7}  since {}", k.kid, k.status, time(&k.created_at));
    }
    Ok(Outcome::Done)
}

/// `keys export [--out FILE]`: the public keys, saved as the registry sent them.
fn export(ctx: &Ctx, out: Option<&std::path::Path>) -> CmdResult {
    let keys = ctx.anonymous()?.get("/api/v1/keys")?;
    let n = typed::<KeyList>(&keys)?.keys.len();
    let Some(path) = out else {
        say!("{}", crate::output::pretty(&keys));
        return Ok(Outcome::Done);
    };
    super::audit::write_file(path, &keys)?;
    if !ctx
        .out
        .json(&json!({"out": path.display().to_string(), "keys": n}))
    {
        say!("Saved {n} receipt keys to {}", path.display());
    }
    Ok(Outcome::Done)
}
