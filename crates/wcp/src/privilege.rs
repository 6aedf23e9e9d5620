//! Privilege envelopes (WCP-Full, spec §7): the resource boundaries a
//! worker declares in its registration, and the egress destinations a
//! tenant allows.
//!
//! Two forms of egress declaration are read, because both are in the wild:
//! the enrollment reference's `network_egress` word
//! (`{"secrets_access": [], "network_egress": "none", "filesystem_writes":
//! ["/tmp/summaries/"], "tools": ["ollama-embed"]}`) and pyhall's
//! `{"egress": {"allowlist": ["api.example.com"]}}`. Unknown keys are kept
//! and ignored (records carry more than this registry reads). A field of
//! the wrong type, or a `network_egress` word no checker could interpret,
//! is refused naming `privilege_envelope.<field>`.
//!
//! Declared destinations are kept as written (lowercased) rather than
//! parsed as [`EgressDestination`]s: a destination that is not a plain host
//! was accepted at registration before envelopes were checked, and it can
//! simply never be on an allowlist, so the rule denies it where it applies.

use serde_json::{Map, Value};

use crate::vocab::NetworkEgress;

/// The prefix of every field an envelope error names.
const FIELD: &str = "privilege_envelope";
/// Longest destination (a DNS name's limit, which covers `host:port` too).
pub const MAX_DESTINATION_LEN: usize = 253;
/// [`EgressDestination`]'s grammar as a regular expression (for the API
/// document; the length and the port's range are checked besides).
pub const DESTINATION_PATTERN: &str = "^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\
     (\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(:[1-9][0-9]{0,4})?$";

/// One sentence naming `privilege_envelope.<field>` (or the tenant policy
/// field an [`EgressDestination`] came from).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PrivilegeError {
    pub field: String,
    pub message: String,
}

impl PrivilegeError {
    fn new(field: String, rest: impl std::fmt::Display) -> Self {
        PrivilegeError {
            message: format!("{field} {rest}"),
            field,
        }
    }

    /// The same error about another field (a destination given in a tenant
    /// policy rather than an envelope).
    pub fn field(self, name: impl Into<String>) -> Self {
        let name = name.into();
        PrivilegeError {
            message: self.message.replacen(&self.field, &name, 1),
            field: name,
        }
    }
}

/// A worker's declared privilege envelope.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PrivilegeEnvelope {
    pub secrets_access: Vec<String>,
    /// `None` when not declared.
    pub network_egress: Option<NetworkEgress>,
    /// Destinations from `egress.allowlist`, lowercased.
    pub egress_destinations: Vec<String>,
    pub filesystem_writes: Vec<String>,
    pub tools: Vec<String>,
    /// Keys this registry does not read, kept as given.
    pub other: Map<String, Value>,
}

impl PrivilegeEnvelope {
    /// Reads a declared envelope. `null` lists and words count as absent.
    pub fn parse(value: &Value) -> Result<Self, PrivilegeError> {
        let obj = value
            .as_object()
            .ok_or_else(|| PrivilegeError::new(FIELD.into(), "must be an object"))?;
        let mut envelope = PrivilegeEnvelope::default();
        for (key, v) in obj {
            let field = format!("{FIELD}.{key}");
            match key.as_str() {
                "secrets_access" => envelope.secrets_access = strings(v, &field)?,
                "filesystem_writes" => envelope.filesystem_writes = strings(v, &field)?,
                "tools" => envelope.tools = strings(v, &field)?,
                "network_egress" => {
                    envelope.network_egress = match v {
                        Value::Null => None,
                        Value::String(s) => Some(NetworkEgress::parse(s).map_err(|_| {
                            PrivilegeError::new(
                                field,
                                format!("{s:?} is not one of {}", NetworkEgress::ALLOWED),
                            )
                        })?),
                        _ => return Err(PrivilegeError::new(field, "must be a string")),
                    }
                }
                "egress" => match v {
                    Value::Null => {}
                    Value::Object(egress) => {
                        if let Some(list) = egress.get("allowlist") {
                            envelope.egress_destinations =
                                strings(list, &format!("{field}.allowlist"))?
                                    .into_iter()
                                    .map(|d| d.to_ascii_lowercase())
                                    .collect();
                        }
                    }
                    _ => return Err(PrivilegeError::new(field, "must be an object")),
                },
                _ => {
                    envelope.other.insert(key.clone(), v.clone());
                }
            }
        }
        Ok(envelope)
    }
}

fn strings(value: &Value, field: &str) -> Result<Vec<String>, PrivilegeError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| PrivilegeError::new(format!("{field}[{i}]"), "must be a string"))
            })
            .collect(),
        _ => Err(PrivilegeError::new(
            field.to_string(),
            "must be an array of strings",
        )),
    }
}

/// A destination a tenant allows egress to: a lowercase host name (or IPv4
/// address) with an optional `:port` (1–65535, no leading zero), at most
/// 253 characters ([`DESTINATION_PATTERN`]). Given in any
/// case, kept lowercase, so it compares with a worker's declared
/// destinations as pyhall compares them: exactly, after lowercasing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EgressDestination(String);

impl EgressDestination {
    pub fn parse(s: &str) -> Result<Self, PrivilegeError> {
        let bad = || {
            PrivilegeError::new(
                "egress destination".into(),
                format!(
                    "{s:?} must be a host name or host:port (letters, digits, hyphens and dots; \
                     at most {MAX_DESTINATION_LEN} characters)"
                ),
            )
        };
        if s.is_empty() || s.len() > MAX_DESTINATION_LEN {
            return Err(bad());
        }
        let lower = s.to_ascii_lowercase();
        let (host, port) = match lower.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (lower.as_str(), None),
        };
        let label_ok = |l: &str| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        let port_ok = port.is_none_or(|p| {
            // Digits without a leading zero, so one port has one spelling.
            !p.starts_with('0')
                && (1..=5).contains(&p.len())
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u32>().is_ok_and(|n| n <= 65535)
        });
        if !host.split('.').all(label_ok) || !port_ok {
            return Err(bad());
        }
        Ok(EgressDestination(lower))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for EgressDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_enrollment_reference_envelope_reads_every_field() {
        let e = PrivilegeEnvelope::parse(&json!({
            "secrets_access": [], "network_egress": "none",
            "filesystem_writes": ["/tmp/summaries/"], "tools": ["ollama-embed"]
        }))
        .unwrap();
        assert_eq!(e.network_egress, Some(NetworkEgress::NoEgress));
        assert_eq!(e.filesystem_writes, vec!["/tmp/summaries/"]);
        assert_eq!(e.tools, vec!["ollama-embed"]);
        assert!(e.secrets_access.is_empty() && e.egress_destinations.is_empty());
    }

    #[test]
    fn pyhall_egress_allowlist_is_read_lowercased() {
        let e = PrivilegeEnvelope::parse(&json!({
            "egress": {"allowlist": ["API.Example.com", "db.internal:5432"]}
        }))
        .unwrap();
        assert_eq!(
            e.egress_destinations,
            vec!["api.example.com", "db.internal:5432"]
        );
        assert_eq!(e.network_egress, None);
    }

    #[test]
    fn network_egress_words_are_read_in_any_case() {
        for (word, want) in [
            ("none", NetworkEgress::NoEgress),
            ("Allowlisted", NetworkEgress::Allowlisted),
            ("BROAD", NetworkEgress::Broad),
            ("unrestricted", NetworkEgress::Unrestricted),
        ] {
            let e = PrivilegeEnvelope::parse(&json!({"network_egress": word})).unwrap();
            assert_eq!(e.network_egress, Some(want));
        }
    }

    #[test]
    fn unknown_keys_are_kept_and_nulls_count_as_absent() {
        let e = PrivilegeEnvelope::parse(&json!({
            "max_memory_mb": 512, "tools": null, "network_egress": null, "egress": null
        }))
        .unwrap();
        assert_eq!(e.other["max_memory_mb"], json!(512));
        assert_eq!(e.network_egress, None);
        assert!(e.tools.is_empty());
    }

    #[test]
    fn wrong_types_are_refused_naming_the_field() {
        for (body, field) in [
            (json!([]), "privilege_envelope"),
            (
                json!({"secrets_access": "vault"}),
                "privilege_envelope.secrets_access",
            ),
            (json!({"tools": [1]}), "privilege_envelope.tools[0]"),
            (
                json!({"filesystem_writes": {}}),
                "privilege_envelope.filesystem_writes",
            ),
            (
                json!({"network_egress": 3}),
                "privilege_envelope.network_egress",
            ),
            (
                json!({"network_egress": "sometimes"}),
                "privilege_envelope.network_egress",
            ),
            (json!({"egress": ["a.com"]}), "privilege_envelope.egress"),
            (
                json!({"egress": {"allowlist": "a.com"}}),
                "privilege_envelope.egress.allowlist",
            ),
            (
                json!({"egress": {"allowlist": [null]}}),
                "privilege_envelope.egress.allowlist[0]",
            ),
        ] {
            let err = PrivilegeEnvelope::parse(&body).unwrap_err();
            assert_eq!(err.field, field, "{body}");
            assert!(err.message.starts_with(field), "{}", err.message);
        }
    }

    #[test]
    fn destinations_are_hosts_or_host_ports_kept_lowercase() {
        for ok in [
            "api.example.com",
            "API.example.COM",
            "10.0.0.1:443",
            "localhost",
        ] {
            let d = EgressDestination::parse(ok).unwrap();
            assert_eq!(d.as_str(), ok.to_ascii_lowercase());
        }
        let long = format!("{}.com", vec!["a".repeat(63); 4].join("."));
        for bad in [
            "",
            "https://api.example.com",
            "api.example.com/path",
            "api..example.com",
            "-api.example.com",
            "api.example.com:",
            "api.example.com:0",
            "api.example.com:0443",
            "api.example.com:65536",
            "*.example.com",
            "a b.com",
            long.as_str(),
        ] {
            let err = EgressDestination::parse(bad).unwrap_err();
            assert!(err.message.contains("host name"), "{bad}: {}", err.message);
        }
    }

    #[test]
    fn the_documented_pattern_agrees_with_the_parser() {
        let pattern = regex::Regex::new(DESTINATION_PATTERN).unwrap();
        for s in [
            "api.example.com",
            "API.example.COM:8443",
            "10.0.0.1:443",
            "a",
            "a-b.c",
            "a.b:",
            "a.b:0",
            "a.b:012",
            "a_b.com",
            "-a.com",
            "a-.com",
            "a..b",
            ".a",
            "a.",
            "a/b",
            "https://a.com",
        ] {
            assert_eq!(
                pattern.is_match(s),
                EgressDestination::parse(s).is_ok(),
                "{s}"
            );
        }
    }

    #[test]
    fn a_destination_error_can_name_the_policy_field() {
        let err = EgressDestination::parse("a/b")
            .unwrap_err()
            .field("decisions.egress_allowlist.prod[0]");
        assert_eq!(err.field, "decisions.egress_allowlist.prod[0]");
        assert!(err
            .message
            .starts_with("decisions.egress_allowlist.prod[0] \"a/b\""));
    }
}
