//! `hallctl catalog import`: load a WCP catalog file (operator).

use std::path::PathBuf;

use api_types::catalog::ImportResult;
use clap::Subcommand;
use serde_json::Value;

use super::Ctx;
use crate::client::typed;
use crate::failure::{CmdResult, Failure, Outcome};
use crate::output::say;

#[derive(Debug, Subcommand)]
pub enum CatalogCmd {
    /// Import a catalog file (the format of the public WCP taxonomy catalog); operator only.
    Import {
        /// Path to the catalog JSON (`{"_meta": {...}, "entities": [...]}`).
        file: PathBuf,
    },
}

pub fn run(ctx: &Ctx, cmd: CatalogCmd) -> CmdResult {
    let CatalogCmd::Import { file } = cmd;
    let text = std::fs::read_to_string(&file)
        .map_err(|e| Failure::error(format!("cannot read {}: {e}", file.display())))?;
    let catalog: Value = serde_json::from_str(&text)
        .map_err(|e| Failure::error(format!("{} is not JSON: {e}", file.display())))?;
    let answer = ctx.client()?.post("/api/v1/catalog/import", &catalog)?;
    let result: ImportResult = typed(&answer)?;
    if !ctx.out.json(&answer) {
        say!(
            "Imported {}: {} new, {} updated (catalog version {})",
            file.display(),
            result.inserted,
            result.updated,
            result.catalog_version.as_deref().unwrap_or("-")
        );
    }
    Ok(Outcome::Done)
}
