//! One module per command group. Each defines its clap subcommands and a
//! `run` that makes the calls and prints the answer: human lines, or with
//! `--json` the registry's JSON as it came.

use serde_json::Value;

use crate::client::{Client, Settings};
use crate::failure::Failure;
use crate::output::{items, Output};

pub mod approvals;
pub mod attest;
pub mod audit;
pub mod auth;
pub mod ban;
pub mod catalog;
pub mod decision;
pub mod key;
pub mod keys;
pub mod namespace;
pub mod policy;
pub mod route;
pub mod rules;
pub mod status;
pub mod tenant;
pub mod webhook;
pub mod witness;
pub mod worker;

/// What every command gets: the resolved settings and the output mode.
pub struct Ctx {
    pub settings: Settings,
    pub out: Output,
}

impl Ctx {
    pub fn new(registry: Option<String>, api_key: Option<String>, json: bool) -> Self {
        Self {
            settings: Settings::resolve(registry, api_key),
            out: Output { json },
        }
    }

    /// A client presenting the resolved credential (if any).
    pub fn client(&self) -> Result<Client, Failure> {
        let key = self.settings.api_key.as_ref().map(|(k, _)| k.clone());
        Ok(Client::new(&self.settings.registry, key)?.with_no_key_hint(self.settings.why_no_key()))
    }

    /// A client presenting no credential, for public endpoints.
    pub fn anonymous(&self) -> Result<Client, Failure> {
        Client::new(&self.settings.registry, None)
    }
}

/// `?tenant_id=…` for the operator acting on another tenant.
pub fn tenant_query(tenant: &Option<String>) -> Vec<(&'static str, String)> {
    tenant.iter().map(|t| ("tenant_id", t.clone())).collect()
}

/// Reads every page (with `all`) or one, from `cursor` on.
pub fn pages(
    client: &Client,
    path: &str,
    field: &str,
    query: Vec<(&'static str, String)>,
    mut cursor: Option<String>,
    all: bool,
) -> Result<(Vec<Value>, Option<String>), Failure> {
    let mut found = Vec::new();
    loop {
        let mut q = query.clone();
        if let Some(c) = &cursor {
            q.push(("cursor", c.clone()));
        }
        let page = client.get_query(path, &q)?;
        found.extend(items(&page, field).cloned());
        let next = page["next_cursor"].as_str().map(str::to_string);
        match next {
            Some(n) if all && Some(&n) != cursor.as_ref() => cursor = Some(n),
            other => return Ok((found, other.filter(|_| !all))),
        }
    }
}
