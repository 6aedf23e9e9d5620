//! `hallctl auth login|status|logout`: the stored login.
//!
//! `login` takes the registry and key from `--registry`/`--api-key` (or
//! their environment variables), else asks on a terminal (the key without
//! echo); with neither, it is a usage error. It checks them with
//! `GET /api/v1/auth/whoami` before storing anything, and never prints the key.

use clap::Subcommand;
use serde_json::{json, Value};

use super::Ctx;
use crate::client::{normalize, Client, Source, DEFAULT_REGISTRY};
use crate::credentials::{self, Credentials, Secret};
use crate::failure::{CmdResult, Failure, Outcome};
use crate::output::{list, note, s, say};
use crate::prompt;

#[derive(Debug, Subcommand)]
pub enum AuthCmd {
    /// Check an API key against a registry and store both (0600 file in
    /// $XDG_CONFIG_HOME/hall-registry or ~/.config/hall-registry). Takes
    /// --registry and --api-key (or PYHALL_REGISTRY, PYHALL_API_KEY), else asks.
    Login,
    /// Who the credential in use belongs to, which registry, and where both came from.
    Status,
    /// Delete the stored login.
    Logout,
}

pub fn run(ctx: &Ctx, cmd: AuthCmd) -> CmdResult {
    match cmd {
        AuthCmd::Login => login(ctx),
        AuthCmd::Status => status(ctx),
        AuthCmd::Logout => logout(ctx),
    }
}

fn login(ctx: &Ctx) -> CmdResult {
    let st = &ctx.settings;
    let path = st.login_path.clone().ok_or_else(|| {
        Failure::error(
            "cannot tell where to store the login: neither XDG_CONFIG_HOME nor HOME is set",
        )
    })?;
    let interactive = prompt::interactive();
    let (registry, registry_source) = match &st.registry_source {
        Source::Flag(_) | Source::Env(_) => (st.registry.clone(), st.registry_source.clone()),
        _ if interactive => {
            let default = st
                .login
                .as_ref()
                .map_or(DEFAULT_REGISTRY.to_string(), |l| normalize(&l.registry));
            (
                normalize(&prompt::ask("Registry URL", Some(&default))?),
                Source::Prompt,
            )
        }
        _ => (st.registry.clone(), st.registry_source.clone()),
    };
    let key = match &st.api_key {
        Some((k, Source::Flag(_) | Source::Env(_))) => k.clone(),
        _ if interactive => Secret::new(prompt::ask_secret(&format!("API key for {registry}"))?),
        _ => {
            return Err(Failure::usage(
                "no API key to log in with: pass --api-key or set PYHALL_API_KEY \
                 (stdin is not a terminal to ask on)",
            ))
        }
    };
    let client = Client::new(&registry, Some(key.clone()))?;
    if registry.starts_with("http://") && !is_loopback(&registry) {
        note!(
            "hallctl: warning: {registry} is plain http; the key crosses the network unencrypted"
        );
    }
    let who = client.get("/api/v1/auth/whoami")?;
    let creds = Credentials {
        registry: registry.clone(),
        api_key: key,
        tenant_id: who["tenant_id"].as_str().map(str::to_string),
        key_name: who["key_name"].as_str().map(str::to_string),
        saved_at: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    };
    credentials::save(&path, &creds)?;
    if !ctx.out.json(&json!({
        "registry": registry,
        "registry_source": registry_source.to_string(),
        "credentials_file": path.display().to_string(),
        "whoami": who,
    })) {
        say!(
            "Logged in to {registry} as {} (tenant {}, scopes {}).",
            s(&who, "key_name"),
            s(&who, "tenant_id"),
            list(&who, "scopes")
        );
        say!("Saved to {} (mode 0600).", path.display());
    }
    if who["credential"] == "session" {
        note!(
            "hallctl: note: this is a session token; it stops working at {}",
            s(&who, "expires_at")
        );
    }
    Ok(Outcome::Done)
}

fn is_loopback(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    let host = u.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn status(ctx: &Ctx) -> CmdResult {
    let st = &ctx.settings;
    let Some((key, key_source)) = &st.api_key else {
        let why = st.why_no_key().unwrap_or_default();
        if !ctx.out.json(&json!({
            "registry": st.registry,
            "registry_source": st.registry_source.to_string(),
            "logged_in": false,
        })) {
            say!("Registry:   {} (from {})", st.registry, st.registry_source);
            say!("Credential: none");
        }
        return Err(Failure::error(format!("not logged in ({why})")));
    };
    let client = ctx.client()?;
    let who = client.get("/api/v1/auth/whoami");
    if ctx.out.json {
        let mut view = json!({
            "registry": st.registry,
            "registry_source": st.registry_source.to_string(),
            "credential": key.hint(),
            "credential_source": key_source.to_string(),
            "logged_in": who.is_ok(),
        });
        if let Ok(w) = &who {
            view["whoami"] = w.clone();
        }
        ctx.out.json(&view);
    } else {
        say!("Registry:   {} (from {})", st.registry, st.registry_source);
        say!("Credential: {} (from {key_source})", key.hint());
        if let Ok(w) = &who {
            print_whoami(w);
        }
    }
    who?;
    Ok(Outcome::Done)
}

fn print_whoami(w: &Value) {
    say!("Tenant:     {}", s(w, "tenant_id"));
    say!(
        "Key:        {} ({}, id {})",
        s(w, "key_name"),
        s(w, "credential"),
        s(w, "key_id")
    );
    say!("Scopes:     {}", list(w, "scopes"));
    if w["operator"] == true {
        say!("Operator:   yes");
    }
    if let Some(at) = w["expires_at"].as_str() {
        say!("Expires:    {at}");
    }
}

fn logout(ctx: &Ctx) -> CmdResult {
    let path = ctx.settings.login_path.clone().ok_or_else(|| {
        Failure::error("neither XDG_CONFIG_HOME nor HOME is set: there is no stored login")
    })?;
    let removed = credentials::remove(&path)?;
    if !ctx
        .out
        .json(&json!({"removed": removed, "credentials_file": path.display().to_string()}))
    {
        if removed {
            say!("Logged out: removed {}.", path.display());
        } else {
            say!("Not logged in: there is no {}.", path.display());
        }
    }
    if crate::client::env("PYHALL_API_KEY").is_some() {
        note!("hallctl: note: PYHALL_API_KEY is still set and still used");
    }
    Ok(Outcome::Done)
}
