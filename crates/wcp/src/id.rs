//! WCP identifiers (spec §3.2): 2–4 dot-separated segments of lowercase
//! `a-z`, digits and hyphens, at most 64 characters. Constructors reject
//! anything else, naming the rule broken, so nothing downstream re-checks.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

pub const MAX_ID_LEN: usize = 64;
pub const MIN_SEGMENTS: usize = 2;
pub const MAX_SEGMENTS: usize = 4;

/// Why an id was refused: one sentence naming the id (by its kind, or by
/// the request field it came from, see [`IdError::field`]), the value and the
/// rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{what} must not be empty")]
    Empty { what: Cow<'static, str> },
    #[error("{what} {id:?} is {len} characters long; at most {max} are allowed")]
    TooLong {
        what: Cow<'static, str>,
        id: String,
        len: usize,
        max: usize,
    },
    #[error(
        "{what} {id:?} has {found} dot-separated {}; {}",
        if *.found == 1 { "segment" } else { "segments" },
        segments_allowed(*.min, *.max)
    )]
    SegmentCount {
        what: Cow<'static, str>,
        id: String,
        found: usize,
        min: usize,
        max: usize,
    },
    #[error(
        "{what} {id:?} has an empty segment (two dots in a row, or a leading or trailing dot)"
    )]
    EmptySegment { what: Cow<'static, str>, id: String },
    #[error(
        "{what} {id:?} contains {ch:?}; only lowercase a-z, digits 0-9 and hyphens are allowed \
         between the dots"
    )]
    BadCharacter {
        what: Cow<'static, str>,
        id: String,
        ch: char,
    },
    #[error("{what} {id:?} must start with `{prefix}.`")]
    WrongPrefix {
        what: Cow<'static, str>,
        id: String,
        prefix: &'static str,
    },
    #[error("{what} {id:?} must start with `x.<name>` or `org.<name>`{hint}")]
    NotAuthority {
        what: Cow<'static, str>,
        id: String,
        hint: &'static str,
    },
    /// A worker reference in neither of its two forms.
    #[error(
        "{what} {id:?} is neither a registry id (`wrk_` and 32 hex characters) nor a WCP worker \
         id (`<namespace>.<name>`, e.g. `x.myagent.my-agent`)"
    )]
    NotWorkerRef { what: Cow<'static, str>, id: String },
}

fn segments_allowed(min: usize, max: usize) -> String {
    if min == max {
        format!("exactly {min} are required")
    } else {
        format!("{min} to {max} are required")
    }
}

impl IdError {
    /// The same error, naming the request field the id came from
    /// (`tenant_id "Acme" contains 'A'; …`) instead of the kind of id.
    pub fn field(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        match &mut self {
            IdError::Empty { what }
            | IdError::TooLong { what, .. }
            | IdError::SegmentCount { what, .. }
            | IdError::EmptySegment { what, .. }
            | IdError::BadCharacter { what, .. }
            | IdError::WrongPrefix { what, .. }
            | IdError::NotAuthority { what, .. }
            | IdError::NotWorkerRef { what, .. } => *what = name.into(),
        }
        self
    }
}

/// Protocol namespaces: owned by the WCP catalog, never claimable.
pub const PROTOCOL_PREFIXES: [&str; 6] = ["cap", "wrk", "ctrl", "pol", "prof", "evt"];
/// Authority namespace families.
pub const AUTHORITY_FAMILIES: [&str; 2] = ["x", "org"];

fn authority_check(what: &'static str, id: &str) -> Result<(), IdError> {
    let family = id.split('.').next().unwrap_or_default();
    if AUTHORITY_FAMILIES.contains(&family) {
        return Ok(());
    }
    Err(IdError::NotAuthority {
        what: Cow::Borrowed(what),
        id: id.to_string(),
        hint: if PROTOCOL_PREFIXES.contains(&family) {
            " (cap, wrk, ctrl and the other protocol prefixes belong to the WCP catalog)"
        } else {
            ""
        },
    })
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $prefix:literal) => {
        string_id!($(#[$doc])* $name);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn parse(id: &str) -> Result<Self, IdError> {
                check_dotted($what, id)?;
                if !id.starts_with(concat!($prefix, ".")) {
                    return Err(IdError::WrongPrefix {
                        what: Cow::Borrowed($what),
                        id: id.to_string(),
                        prefix: $prefix,
                    });
                }
                Ok(Self(id.to_string()))
            }
        }
    };
}

prefixed_id!(
    /// What must be possible: `cap.<domain>[.<subdomain>].<verb>` (e.g. `cap.doc.summarize`).
    CapabilityId, "capability id", "cap"
);
prefixed_id!(
    /// A worker species (taxonomy, never authority): `wrk.<domain>.<role>`.
    SpeciesId, "worker species id", "wrk"
);
prefixed_id!(
    /// A control: `ctrl.<domain>.<name>`.
    ControlId, "control id", "ctrl"
);
prefixed_id!(
    /// A profile: `prof.<…>`.
    ProfileId, "profile id", "prof"
);
prefixed_id!(
    /// A policy: `pol.<…>`.
    PolicyId, "policy id", "pol"
);

string_id!(
    /// An authority namespace: exactly `x.<name>` or `org.<name>`.
    Namespace
);

impl Namespace {
    pub fn parse(id: &str) -> Result<Self, IdError> {
        authority_check("namespace", id)?;
        check_dotted_with("namespace", id, MAX_ID_LEN, 2, 2)?;
        Ok(Self(id.to_string()))
    }

    /// `x` or `org`.
    pub fn family(&self) -> &str {
        self.0.split('.').next().unwrap_or_default()
    }
}

/// Longest worker id accepted: the spec's examples run past the 64 of other ids.
pub const MAX_WORKER_ID_LEN: usize = 128;

string_id!(
    /// A worker instance: `<namespace>.<name>[.<instance>]`, e.g.
    /// `org.acme.doc-summarizer.prod-01`. Its authority namespace — the only
    /// source of trust attribution — is its first two segments.
    WorkerId
);

impl WorkerId {
    pub fn parse(id: &str) -> Result<Self, IdError> {
        authority_check("worker id", id)?;
        check_dotted_with("worker id", id, MAX_WORKER_ID_LEN, 3, 4)?;
        Ok(Self(id.to_string()))
    }

    /// The authority namespace, derived from the worker id only.
    pub fn namespace(&self) -> Namespace {
        let mut parts = self.0.splitn(3, '.');
        let family = parts.next().unwrap_or_default();
        let name = parts.next().unwrap_or_default();
        Namespace(format!("{family}.{name}"))
    }

    /// `<name>[.<instance>]`: everything after the namespace.
    pub fn local_name(&self) -> &str {
        self.0.splitn(3, '.').nth(2).unwrap_or_default()
    }

    /// `namespace.name`, checked as a whole.
    pub fn join(namespace: &Namespace, name: &str) -> Result<Self, IdError> {
        Self::parse(&format!("{namespace}.{name}"))
    }
}

/// Checks the WCP grammar; `what` names the kind of id in errors.
pub fn check_dotted(what: &'static str, id: &str) -> Result<(), IdError> {
    check_dotted_with(what, id, MAX_ID_LEN, MIN_SEGMENTS, MAX_SEGMENTS)
}

/// The WCP grammar with explicit length and segment limits.
pub fn check_dotted_with(
    what: &'static str,
    id: &str,
    max_len: usize,
    min_segments: usize,
    max_segments: usize,
) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty {
            what: Cow::Borrowed(what),
        });
    }
    if let Some(ch) = id
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.'))
    {
        return Err(IdError::BadCharacter {
            what: Cow::Borrowed(what),
            id: id.to_string(),
            ch,
        });
    }
    if id.len() > max_len {
        return Err(IdError::TooLong {
            what: Cow::Borrowed(what),
            id: id.to_string(),
            len: id.len(),
            max: max_len,
        });
    }
    let segments: Vec<&str> = id.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(IdError::EmptySegment {
            what: Cow::Borrowed(what),
            id: id.to_string(),
        });
    }
    if !(min_segments..=max_segments).contains(&segments.len()) {
        return Err(IdError::SegmentCount {
            what: Cow::Borrowed(what),
            id: id.to_string(),
            found: segments.len(),
            min: min_segments,
            max: max_segments,
        });
    }
    Ok(())
}

/// A tenant: an organisation or person on this registry, identified by a
/// WCP-style dotted id chosen at creation (`org.acme`, `x.alice`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(id: &str) -> Result<Self, IdError> {
        check_dotted("tenant id", id)?;
        Ok(Self(id.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first segment (`org` of `org.acme`).
    pub fn family(&self) -> &str {
        self.0.split('.').next().unwrap_or_default()
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for TenantId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples_are_valid() {
        for id in [
            "cap.doc.summarize",
            "cap.doc.pdf.extract",
            "ctrl.obs.audit-log-append-only",
            "org.acme",
            "x.alice",
        ] {
            check_dotted("id", id).unwrap();
        }
    }

    #[test]
    fn uppercase_is_rejected_naming_the_character() {
        let err = check_dotted("capability id", "cap.Doc.Summarize").unwrap_err();
        assert!(matches!(err, IdError::BadCharacter { ch: 'D', .. }));
        assert!(err.to_string().contains("lowercase"));
    }

    #[test]
    fn underscore_is_rejected() {
        assert!(matches!(
            check_dotted("id", "cap.doc.pdf_extract"),
            Err(IdError::BadCharacter { ch: '_', .. })
        ));
    }

    #[test]
    fn five_segments_are_too_deep_and_one_is_too_shallow() {
        assert!(matches!(
            check_dotted("id", "cap.doc.pdf.native.extract"),
            Err(IdError::SegmentCount { found: 5, .. })
        ));
        assert!(matches!(
            check_dotted("id", "acme"),
            Err(IdError::SegmentCount { found: 1, .. })
        ));
    }

    #[test]
    fn empty_segments_and_overlong_ids_are_rejected() {
        assert!(matches!(
            check_dotted("id", "org..acme"),
            Err(IdError::EmptySegment { .. })
        ));
        assert!(matches!(
            check_dotted("id", ".org.acme"),
            Err(IdError::EmptySegment { .. })
        ));
        let long = format!("org.{}", "a".repeat(61));
        assert!(matches!(
            check_dotted("id", &long),
            Err(IdError::TooLong { len: 65, .. })
        ));
        assert!(matches!(check_dotted("id", ""), Err(IdError::Empty { .. })));
    }

    #[test]
    fn unicode_and_spaces_are_rejected() {
        assert!(check_dotted("id", "org.acmé").is_err());
        assert!(check_dotted("id", "org.ac me").is_err());
    }

    #[test]
    fn prefixed_ids_require_their_prefix() {
        assert!(CapabilityId::parse("cap.data.read.v1").is_ok());
        assert!(matches!(
            CapabilityId::parse("wrk.doc.summarizer"),
            Err(IdError::WrongPrefix { prefix: "cap", .. })
        ));
        assert!(SpeciesId::parse("wrk.doc.summarizer").is_ok());
        assert!(ControlId::parse("ctrl.obs.audit-log-append-only").is_ok());
        assert!(ControlId::parse("ctrl.obs.audit_log_append_only").is_err());
    }

    #[test]
    fn namespaces_are_x_or_org_with_exactly_one_name() {
        assert_eq!(Namespace::parse("x.alice").unwrap().family(), "x");
        assert!(Namespace::parse("org.acme").is_ok());
        assert!(matches!(
            Namespace::parse("org.acme.team"),
            Err(IdError::SegmentCount { .. })
        ));
        let err = Namespace::parse("cap.doc").unwrap_err();
        assert!(err.to_string().contains("protocol prefixes"), "{err}");
        assert!(matches!(
            Namespace::parse("com.acme"),
            Err(IdError::NotAuthority { .. })
        ));
    }

    #[test]
    fn worker_ids_carry_their_authority_namespace() {
        let w = WorkerId::parse("org.xyzcompany.doc-summarizer.prod-01").unwrap();
        assert_eq!(w.namespace().as_str(), "org.xyzcompany");
        assert_eq!(w.local_name(), "doc-summarizer.prod-01");
        let x = WorkerId::join(&Namespace::parse("x.myagent").unwrap(), "my-agent").unwrap();
        assert_eq!(x.as_str(), "x.myagent.my-agent");
        assert_eq!(x.namespace().as_str(), "x.myagent");
        // Trust never comes from a species or capability prefix.
        assert!(matches!(
            WorkerId::parse("wrk.doc.summarizer"),
            Err(IdError::NotAuthority { .. })
        ));
        assert!(WorkerId::parse("x.alice").is_err());
        assert!(WorkerId::parse("x.a.b.c.d").is_err());
        let long = format!(
            "org.abcdevelopmentcorp.{}.prod-02",
            "registry-manager".repeat(4)
        );
        assert!(long.len() > 64 && long.len() <= 128);
        assert!(WorkerId::parse(&long).is_ok());
    }

    #[test]
    fn errors_are_one_sentence_naming_the_field_once() {
        let err = TenantId::parse("Org.Acme").unwrap_err().field("tenant_id");
        assert_eq!(
            err.to_string(),
            "tenant_id \"Org.Acme\" contains 'O'; only lowercase a-z, digits 0-9 and hyphens \
             are allowed between the dots"
        );
        let err = WorkerId::parse("com.acme.w")
            .unwrap_err()
            .field("worker_id");
        assert_eq!(
            err.to_string(),
            "worker_id \"com.acme.w\" must start with `x.<name>` or `org.<name>`"
        );
        let err = Namespace::parse("x.a.b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "namespace \"x.a.b\" has 3 dot-separated segments; exactly 2 are required"
        );
        let err = CapabilityId::parse("wrk.doc.x")
            .unwrap_err()
            .field("capability");
        assert_eq!(
            err.to_string(),
            "capability \"wrk.doc.x\" must start with `cap.`"
        );
        let err = IdError::NotWorkerRef {
            what: "worker id".into(),
            id: "wrk_abc123".into(),
        }
        .field("worker_id");
        assert_eq!(
            err.to_string(),
            "worker_id \"wrk_abc123\" is neither a registry id (`wrk_` and 32 hex characters) nor \
             a WCP worker id (`<namespace>.<name>`, e.g. `x.myagent.my-agent`)"
        );
    }

    #[test]
    fn tenant_id_deserializes_only_when_valid() {
        let ok: TenantId = serde_json::from_str("\"org.acme\"").unwrap();
        assert_eq!(ok.as_str(), "org.acme");
        assert_eq!(ok.family(), "org");
        let err = serde_json::from_str::<TenantId>("\"Org.Acme\"").unwrap_err();
        assert!(err.to_string().contains("tenant id"));
    }
}

/// Properties over generated input. The WCP grammar (spec §3.2) is written
/// here a second time, as regular expressions, so the constructors are
/// checked against the spec rather than against themselves.
#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;
    use regex::Regex;
    use std::sync::LazyLock;

    /// 2–4 dot-separated segments of `a-z`, `0-9` and `-`.
    static DOTTED: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[a-z0-9-]+(\.[a-z0-9-]+){1,3}$").unwrap());
    /// `x.<name>` or `org.<name>`.
    static NAMESPACE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(x|org)\.[a-z0-9-]+$").unwrap());
    /// A namespace and one or two more segments.
    static WORKER: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(x|org)(\.[a-z0-9-]+){2,3}$").unwrap());

    fn spec_dotted(s: &str) -> bool {
        DOTTED.is_match(s) && s.len() <= MAX_ID_LEN
    }

    /// Strings near the grammar (its alphabet, some uppercase, underscores,
    /// spaces, empty segments, the protocol and authority prefixes) and
    /// arbitrary Unicode.
    fn candidate() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9.-]{0,70}",
            "(x|org|cap|wrk|ctrl|pol|prof|evt|com)(\\.[a-z0-9_A-Z -]{0,12}){0,5}",
            "(x|org)(\\.[a-z0-9-]{1,40}){1,4}",
            any::<String>(),
        ]
    }

    /// Ids the grammar allows, of every depth and up to past the limits.
    fn dotted() -> impl Strategy<Value = String> {
        "[a-z0-9-]{1,20}(\\.[a-z0-9-]{1,20}){1,3}".prop_filter("within 64", |s| s.len() <= 64)
    }

    fn round_trips<T>(id: &T, text: &str)
    where
        T: fmt::Display + Serialize + for<'de> Deserialize<'de> + std::str::FromStr + PartialEq,
        T::Err: fmt::Debug,
    {
        assert_eq!(id.to_string(), text);
        let json = serde_json::to_string(id).unwrap();
        assert_eq!(json, serde_json::to_string(text).unwrap());
        let back: T = serde_json::from_str(&json).unwrap();
        assert!(back == *id);
        assert!(text.parse::<T>().unwrap() == *id);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn the_grammar_accepts_exactly_what_the_spec_allows(s in candidate()) {
            prop_assert_eq!(check_dotted("id", &s).is_ok(), spec_dotted(&s), "{:?}", s);
            prop_assert_eq!(TenantId::parse(&s).is_ok(), spec_dotted(&s));
        }

        #[test]
        fn prefixed_ids_are_the_grammar_and_their_prefix(s in candidate()) {
            let wants = |prefix: &str| spec_dotted(&s) && s.starts_with(&format!("{prefix}."));
            prop_assert_eq!(CapabilityId::parse(&s).is_ok(), wants("cap"));
            prop_assert_eq!(SpeciesId::parse(&s).is_ok(), wants("wrk"));
            prop_assert_eq!(ControlId::parse(&s).is_ok(), wants("ctrl"));
            prop_assert_eq!(ProfileId::parse(&s).is_ok(), wants("prof"));
            prop_assert_eq!(PolicyId::parse(&s).is_ok(), wants("pol"));
        }

        #[test]
        fn namespaces_and_worker_ids_are_authority_ids(s in candidate()) {
            prop_assert_eq!(
                Namespace::parse(&s).is_ok(),
                NAMESPACE.is_match(&s) && s.len() <= MAX_ID_LEN
            );
            prop_assert_eq!(
                WorkerId::parse(&s).is_ok(),
                WORKER.is_match(&s) && s.len() <= MAX_WORKER_ID_LEN
            );
        }

        #[test]
        fn every_refusal_names_the_value_in_one_line(s in candidate()) {
            if let Err(e) = WorkerId::parse(&s) {
                let text = e.field("worker_id").to_string();
                prop_assert!(text.starts_with("worker_id"));
                prop_assert!(!text.contains('\n'));
            }
        }

        #[test]
        fn accepted_ids_round_trip_through_display_serde_and_from_str(s in dotted()) {
            round_trips(&TenantId::parse(&s).unwrap(), &s);
            for prefix in ["cap", "wrk", "ctrl", "prof", "pol"] {
                let tail = s.split_once('.').map_or(s.as_str(), |(_, t)| t);
                let id = format!("{prefix}.{tail}");
                if id.len() > MAX_ID_LEN {
                    continue;
                }
                match prefix {
                    "cap" => round_trips(&CapabilityId::parse(&id).unwrap(), &id),
                    "wrk" => round_trips(&SpeciesId::parse(&id).unwrap(), &id),
                    "ctrl" => round_trips(&ControlId::parse(&id).unwrap(), &id),
                    "prof" => round_trips(&ProfileId::parse(&id).unwrap(), &id),
                    _ => round_trips(&PolicyId::parse(&id).unwrap(), &id),
                }
            }
        }

        #[test]
        fn a_worker_id_is_its_namespace_and_its_local_name(
            family in "x|org",
            name in "[a-z0-9-]{1,20}",
            local in "[a-z0-9-]{1,30}(\\.[a-z0-9-]{1,30})?",
        ) {
            let namespace = Namespace::parse(&format!("{family}.{name}")).unwrap();
            round_trips(&namespace, &format!("{family}.{name}"));
            let worker = WorkerId::join(&namespace, &local).unwrap();
            round_trips(&worker, &format!("{family}.{name}.{local}"));
            prop_assert_eq!(worker.namespace(), namespace.clone());
            prop_assert_eq!(worker.local_name(), local.as_str());
            prop_assert_eq!(namespace.family(), family.as_str());
        }
    }
}
