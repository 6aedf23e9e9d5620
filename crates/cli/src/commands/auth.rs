//! `hallctl auth login|status|logout`: the stored login.
//!
//! `login` takes the registry and key from `--registry`/`--api-key` (or
//! their environment variables), else asks on a terminal (the key without
//! echo); with neither, it is a usage error. It checks them with
//! `GET /api/v1/auth/whoami` before storing anything, and never prints the key.
//! `login --operator` takes the key from the file the server wrote in its
//! data directory instead (see `operator_key`).

use api_types::auth::{Credential, WhoAmI};
use clap::Subcommand;
use serde_json::json;

use super::Ctx;
use crate::client::{normalize, typed, CallError, Client, Source, DEFAULT_REGISTRY};
use crate::credentials::{self, Credentials, Secret};
use crate::failure::{CmdResult, Failure, Outcome};
use crate::operator_key;
use crate::output::{joined, note, say, time, time_or_dash};
use crate::prompt;

#[derive(Debug, Subcommand)]
pub enum AuthCmd {
    /// Check an API key against a registry and store both (0600 file in
    /// $XDG_CONFIG_HOME/hall-registry or ~/.config/hall-registry). Takes
    /// --registry and --api-key (or PYHALL_REGISTRY, PYHALL_API_KEY), else asks.
    ///
    /// With --operator, the key is the operator's, read from
    /// <data dir>/operator-api-key, the file the server wrote on its first
    /// start (data dir: --data-dir, else $HALL_DATA_DIR, else
    /// /var/lib/hall-registry as root, else $XDG_DATA_HOME/hall-registry or
    /// ~/.local/share/hall-registry — as the server resolves it). Run it as the
    /// user who started the server.
    Login {
        /// Log in with the operator key the server saved in its data directory.
        #[arg(long)]
        operator: bool,
        /// The server's data directory (with --operator) [default: as the server resolves it].
        #[arg(long, value_name = "DIR", requires = "operator")]
        data_dir: Option<std::path::PathBuf>,
    },
    /// Who the credential in use belongs to, which registry, and where both came from.
    Status,
    /// Delete the stored login.
    Logout,
}

pub fn run(ctx: &Ctx, cmd: AuthCmd) -> CmdResult {
    match cmd {
        AuthCmd::Login { operator, data_dir } => login(ctx, operator.then_some(data_dir)),
        AuthCmd::Status => status(ctx),
        AuthCmd::Logout => logout(ctx),
    }
}

/// `operator`: `Some(--data-dir)` for `login --operator`.
fn login(ctx: &Ctx, operator: Option<Option<std::path::PathBuf>>) -> CmdResult {
    let st = &ctx.settings;
    let path = st.login_path.clone().ok_or_else(|| {
        Failure::error(
            "cannot tell where to store the login: neither XDG_CONFIG_HOME nor HOME is set",
        )
    })?;
    let interactive = prompt::interactive() && operator.is_none();
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
    let mut key_file = None;
    let key = match (&operator, &st.api_key) {
        (Some(_), Some((_, Source::Flag(flag)))) => {
            return Err(Failure::usage(format!(
                "--operator reads the operator key from the data directory; do not also pass {flag}"
            )))
        }
        (Some(data_dir), _) => {
            let dir = operator_key::resolve(data_dir.clone());
            let (path, key) = operator_key::read(&dir)?;
            note!("hallctl: using the operator key in {}", path.display());
            key_file = Some(path);
            key
        }
        (None, Some((k, Source::Flag(_) | Source::Env(_)))) => k.clone(),
        _ if interactive => Secret::new(prompt::ask_secret(&format!("API key for {registry}"))?),
        _ => {
            return Err(Failure::usage(
                "no API key to log in with: pass --api-key, set PYHALL_API_KEY or, as the \
                 registry's operator, use --operator (stdin is not a terminal to ask on)",
            ))
        }
    };
    let client = Client::new(&registry, Some(key.clone()))?;
    if registry.starts_with("http://") && !is_loopback(&registry) {
        note!(
            "hallctl: warning: {registry} is plain http; the key crosses the network unencrypted"
        );
    }
    let who = match (
        client.call(client.request(reqwest::Method::GET, "/api/v1/auth/whoami")),
        &key_file,
    ) {
        (Ok(who), _) => who,
        (Err(e @ CallError::Status { status: 401, .. }), Some(file)) => {
            return Err(Failure::error(format!(
                "{e} (the operator key in {} is not a key of the registry at {registry}: \
                 pass --data-dir with the data directory that registry's banner printed, \
                 or --registry with the registry that directory belongs to)",
                file.display()
            )))
        }
        (Err(e), _) => return Err(e.into()),
    };
    let w: WhoAmI = typed(&who)?;
    if key_file.is_some() && !w.operator {
        return Err(Failure::error(format!(
            "the key in the operator key file is a key of tenant {}, not the operator's; \
             nothing was stored",
            w.tenant_id
        )));
    }
    let creds = Credentials {
        registry: registry.clone(),
        api_key: key,
        tenant_id: Some(w.tenant_id.clone()),
        key_name: Some(w.key_name.clone()),
        saved_at: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    };
    credentials::save(&path, &creds)?;
    if !ctx.out.json(&json!({
        "registry": registry,
        "registry_source": registry_source.to_string(),
        "credentials_file": path.display().to_string(),
        "operator_key_file": key_file.as_ref().map(|f| f.display().to_string()),
        "whoami": who,
    })) {
        say!(
            "Logged in to {registry} as {} (tenant {}, scopes {}).",
            w.key_name,
            w.tenant_id,
            joined(&w.scopes)
        );
        say!("Saved to {} (mode 0600).", path.display());
    }
    if w.credential == Credential::Session {
        note!(
            "hallctl: note: this is a session token; it stops working at {}",
            time_or_dash(w.expires_at.as_ref())
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
            print_whoami(&typed(w)?);
        }
    }
    who?;
    Ok(Outcome::Done)
}

fn print_whoami(w: &WhoAmI) {
    say!("Tenant:     {}", w.tenant_id);
    say!(
        "Key:        {} ({}, id {})",
        w.key_name,
        w.credential.as_str(),
        w.key_id
    );
    say!("Scopes:     {}", joined(&w.scopes));
    if w.operator {
        say!("Operator:   yes");
    }
    if let Some(at) = &w.expires_at {
        say!("Expires:    {}", time(at));
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
