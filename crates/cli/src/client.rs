//! Where the registry is, which credential to present, and the HTTP client.
//!
//! The registry URL: `--registry`, then `PYHALL_REGISTRY`, then
//! `PYHALL_REGISTRY_URL` (the PyHall SDKs' order), then the stored login's,
//! then `http://127.0.0.1:8765`. The credential: `--api-key`, then
//! `PYHALL_API_KEY`, then the stored login's key — the latter only when the
//! registry in use is the one it was stored for, so a login never leaks to
//! another server. Every server error becomes one line: the HTTP status,
//! `error.code` and `error.message`.

use std::path::PathBuf;
use std::time::Duration;

use api_types::ErrorBody;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::credentials::{self, Credentials, Secret};
use crate::failure::Failure;

pub const DEFAULT_REGISTRY: &str = "http://127.0.0.1:8765";

/// Where a setting came from.
#[derive(Debug, Clone)]
pub enum Source {
    Flag(&'static str),
    Env(&'static str),
    Login(PathBuf),
    Prompt,
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag(flag) => f.write_str(flag),
            Source::Env(name) => f.write_str(name),
            Source::Login(path) => write!(f, "login in {}", path.display()),
            Source::Prompt => f.write_str("prompt"),
            Source::Default => f.write_str("default"),
        }
    }
}

impl Source {
    /// A short machine-readable name, for `--json`.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Flag(_) => "flag",
            Source::Env(_) => "env",
            Source::Login(_) => "login",
            Source::Prompt => "prompt",
            Source::Default => "default",
        }
    }
}

/// A non-empty environment variable.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The form URLs are compared and joined in: no trailing slash.
pub fn normalize(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

/// The resolved registry and credential.
#[derive(Debug)]
pub struct Settings {
    pub registry: String,
    pub registry_source: Source,
    pub api_key: Option<(Secret, Source)>,
    /// Where the login is (or would be) stored.
    pub login_path: Option<PathBuf>,
    /// The stored login, used or not.
    pub login: Option<Credentials>,
}

impl Settings {
    pub fn resolve(flag_registry: Option<String>, flag_key: Option<String>) -> Self {
        let login_path = credentials::path();
        let login = login_path
            .as_deref()
            .and_then(|p| match credentials::load(p) {
                Ok(login) => login,
                Err(e) => {
                    crate::output::note!("hallctl: warning: ignoring the stored login: {e}");
                    None
                }
            });
        let (registry, registry_source) =
            if let Some(url) = flag_registry.filter(|u| !u.trim().is_empty()) {
                (url, Source::Flag("--registry"))
            } else if let Some(url) = env("PYHALL_REGISTRY") {
                (url, Source::Env("PYHALL_REGISTRY"))
            } else if let Some(url) = env("PYHALL_REGISTRY_URL") {
                (url, Source::Env("PYHALL_REGISTRY_URL"))
            } else if let (Some(l), Some(p)) = (&login, &login_path) {
                (l.registry.clone(), Source::Login(p.clone()))
            } else {
                (DEFAULT_REGISTRY.to_string(), Source::Default)
            };
        let registry = normalize(&registry);
        let api_key = if let Some(k) = flag_key.filter(|k| !k.trim().is_empty()) {
            Some((Secret::new(k.trim().to_string()), Source::Flag("--api-key")))
        } else if let Some(k) = env("PYHALL_API_KEY") {
            Some((
                Secret::new(k.trim().to_string()),
                Source::Env("PYHALL_API_KEY"),
            ))
        } else {
            match (&login, &login_path) {
                (Some(l), Some(p)) if normalize(&l.registry) == registry => {
                    Some((l.api_key.clone(), Source::Login(p.clone())))
                }
                _ => None,
            }
        };
        Settings {
            registry,
            registry_source,
            api_key,
            login_path,
            login,
        }
    }

    /// Why no credential is presented: what a 401 says instead of the
    /// registry's HTTP advice, which is for raw HTTP clients.
    pub fn why_no_key(&self) -> Option<String> {
        if self.api_key.is_some() {
            return None;
        }
        Some(match &self.login {
            Some(l) => format!(
                "no API key: the stored login is for {}, and it is never sent to {}; {NO_KEY_ADVICE}",
                normalize(&l.registry),
                self.registry,
            ),
            None => format!("no API key: {NO_KEY_ADVICE}"),
        })
    }
}

/// What to do without a credential, in the words of every command that needs one.
pub const NO_KEY_ADVICE: &str = "run `hallctl auth login`, pass --api-key or set PYHALL_API_KEY";

/// Percent-encodes one path segment (an id a user typed). `.`, `..` and
/// the empty string are refused: URLs resolve them away.
pub fn seg(raw: &str) -> Result<String, Failure> {
    if matches!(raw, "" | "." | "..") {
        return Err(Failure::usage(format!("{raw:?} is not an id")));
    }
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(out)
}

/// Why a call did not give a usable answer.
#[derive(Debug)]
pub enum CallError {
    /// No answer: connection refused, DNS, TLS, timeout.
    Unreachable(String),
    /// The registry answered with an error.
    Status {
        status: u16,
        code: String,
        message: String,
        /// `Retry-After`, in seconds, when the registry sent one.
        retry_after: Option<u64>,
    },
    /// The registry answered success with a body that is not JSON.
    BadBody(String),
}

impl CallError {
    /// How long the registry asked to wait before a repeat.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            CallError::Status {
                retry_after: Some(s),
                ..
            } => Some(Duration::from_secs(*s)),
            _ => None,
        }
    }

    /// Worth repeating a request that is safe to repeat.
    pub fn retryable(&self) -> bool {
        match self {
            CallError::Unreachable(_) => true,
            CallError::Status { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            CallError::BadBody(_) => false,
        }
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Unreachable(m) | CallError::BadBody(m) => f.write_str(m),
            CallError::Status {
                status,
                code,
                message,
                ..
            } => write!(f, "{status} {code}: {message}"),
        }
    }
}

/// A blocking JSON client for one registry.
pub struct Client {
    base: String,
    key: Option<Secret>,
    /// A 401's message when no credential was presented.
    no_key_hint: Option<String>,
    http: reqwest::blocking::Client,
}

impl Client {
    pub fn new(base: &str, key: Option<Secret>) -> Result<Self, Failure> {
        let base = normalize(base);
        match reqwest::Url::parse(&base) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => {
                return Err(Failure::usage(format!(
                    "{base:?} is not a registry URL (http://host:port or https://host)"
                )))
            }
        }
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("hallctl/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            base,
            key,
            no_key_hint: None,
            http,
        })
    }

    pub fn with_no_key_hint(mut self, hint: Option<String>) -> Self {
        self.no_key_hint = hint;
        self
    }

    /// A request to `path` (which starts with `/`), authenticated when a
    /// credential is known.
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::blocking::RequestBuilder {
        let req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Accept", "application/json");
        match &self.key {
            Some(k) => req.bearer_auth(k.expose()),
            None => req,
        }
    }

    /// Sends a request and reads its JSON answer.
    pub fn call(&self, req: reqwest::blocking::RequestBuilder) -> Result<Value, CallError> {
        let resp = req.send().map_err(|e| {
            let mut why = String::new();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                why = s.to_string();
                source = s.source();
            }
            if e.is_timeout() {
                CallError::Unreachable(format!("no answer from {} in time", self.base))
            } else if why.is_empty() {
                CallError::Unreachable(format!("cannot reach {}: {e}", self.base))
            } else {
                CallError::Unreachable(format!("cannot reach {}: {why}", self.base))
            }
        })?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let bytes = resp.bytes().map_err(|e| {
            CallError::Unreachable(format!("the answer from {} broke off: {e}", self.base))
        })?;
        let body: Option<Value> = if bytes.iter().all(u8::is_ascii_whitespace) {
            Some(Value::Null)
        } else {
            serde_json::from_slice(&bytes).ok()
        };
        if status.is_success() {
            return body.ok_or_else(|| {
                CallError::BadBody(format!(
                    "{} answered {} with a body that is not JSON",
                    self.base,
                    status.as_u16()
                ))
            });
        }
        let (code, mut message) =
            match body.and_then(|b| serde_json::from_value::<ErrorBody>(b).ok()) {
                Some(ErrorBody { error }) => (error.code, error.message),
                None => (
                    status.canonical_reason().unwrap_or("error").to_string(),
                    "the answer carries no error details".to_string(),
                ),
            };
        if status == reqwest::StatusCode::UNAUTHORIZED && self.key.is_none() {
            // The registry's advice is about HTTP headers; a hallctl user
            // needs hallctl's ways of giving a key.
            if let Some(hint) = &self.no_key_hint {
                message = hint.clone();
            }
        }
        Err(CallError::Status {
            status: status.as_u16(),
            code,
            message,
            retry_after,
        })
    }

    pub fn get(&self, path: &str) -> Result<Value, Failure> {
        Ok(self.call(self.request(reqwest::Method::GET, path))?)
    }

    /// GET with query parameters (the values are encoded).
    pub fn get_query(&self, path: &str, query: &[(&str, String)]) -> Result<Value, Failure> {
        Ok(self.call(self.request(reqwest::Method::GET, path).query(query))?)
    }

    pub fn post(&self, path: &str, body: &impl serde::Serialize) -> Result<Value, Failure> {
        Ok(self.call(self.request(reqwest::Method::POST, path).json(body))?)
    }

    pub fn patch(&self, path: &str, body: &impl serde::Serialize) -> Result<Value, Failure> {
        Ok(self.call(self.request(reqwest::Method::PATCH, path).json(body))?)
    }

    /// PUT with query parameters (the values are encoded) and a JSON body.
    pub fn put_query(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: &impl serde::Serialize,
    ) -> Result<Value, Failure> {
        Ok(self.call(
            self.request(reqwest::Method::PUT, path)
                .query(query)
                .json(body),
        )?)
    }

    pub fn delete_query(&self, path: &str, query: &[(&str, String)]) -> Result<Value, Failure> {
        Ok(self.call(self.request(reqwest::Method::DELETE, path).query(query))?)
    }

    pub fn delete(&self, path: &str, body: Option<&Value>) -> Result<Value, Failure> {
        let req = self.request(reqwest::Method::DELETE, path);
        let req = match body {
            Some(b) => req.json(b),
            None => req,
        };
        Ok(self.call(req)?)
    }
}

/// An answer read as its API type (`crates/api-types`). A registry that
/// answers another shape is not one this hallctl can talk to: say so
/// rather than print half of it.
pub fn typed<T: DeserializeOwned>(answer: &Value) -> Result<T, Failure> {
    T::deserialize(answer).map_err(|e| {
        Failure::error(format!(
            "the registry's answer is not what this hallctl expects ({e}); \
             is hallctl as new as the registry?"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(seg("x.alice").unwrap(), "x.alice");
        assert_eq!(seg("wrk_01AB-c~").unwrap(), "wrk_01AB-c~");
        assert_eq!(seg("../a b/?#").unwrap(), "..%2Fa%20b%2F%3F%23");
        assert!(seg("..").is_err() && seg(".").is_err() && seg("").is_err());
    }

    #[test]
    fn urls_are_compared_without_trailing_slashes() {
        assert_eq!(normalize(" http://a:1// "), "http://a:1");
    }
}
