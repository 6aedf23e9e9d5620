//! WCP identifiers (spec §3.2): 2–4 dot-separated segments of lowercase
//! `a-z`, digits and hyphens, at most 64 characters. Constructors reject
//! anything else, naming the rule broken, so nothing downstream re-checks.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

pub const MAX_ID_LEN: usize = 64;
pub const MIN_SEGMENTS: usize = 2;
pub const MAX_SEGMENTS: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{what} must not be empty")]
    Empty { what: &'static str },
    #[error("{what} {id:?} is {len} characters long; at most {max} are allowed")]
    TooLong {
        what: &'static str,
        id: String,
        len: usize,
        max: usize,
    },
    #[error("{what} {id:?} has {found} dot-separated segments; {min} to {max} are required")]
    SegmentCount {
        what: &'static str,
        id: String,
        found: usize,
        min: usize,
        max: usize,
    },
    #[error(
        "{what} {id:?} has an empty segment (two dots in a row, or a leading or trailing dot)"
    )]
    EmptySegment { what: &'static str, id: String },
    #[error(
        "{what} {id:?} contains {ch:?}; only lowercase a-z, digits 0-9 and hyphens are allowed \
         in a segment"
    )]
    BadCharacter {
        what: &'static str,
        id: String,
        ch: char,
    },
}

/// Checks the WCP grammar; `what` names the kind of id in errors.
pub fn check_dotted(what: &'static str, id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty { what });
    }
    if let Some(ch) = id
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.'))
    {
        return Err(IdError::BadCharacter {
            what,
            id: id.to_string(),
            ch,
        });
    }
    if id.len() > MAX_ID_LEN {
        return Err(IdError::TooLong {
            what,
            id: id.to_string(),
            len: id.len(),
            max: MAX_ID_LEN,
        });
    }
    let segments: Vec<&str> = id.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(IdError::EmptySegment {
            what,
            id: id.to_string(),
        });
    }
    if !(MIN_SEGMENTS..=MAX_SEGMENTS).contains(&segments.len()) {
        return Err(IdError::SegmentCount {
            what,
            id: id.to_string(),
            found: segments.len(),
            min: MIN_SEGMENTS,
            max: MAX_SEGMENTS,
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
    fn tenant_id_deserializes_only_when_valid() {
        let ok: TenantId = serde_json::from_str("\"org.acme\"").unwrap();
        assert_eq!(ok.as_str(), "org.acme");
        assert_eq!(ok.family(), "org");
        let err = serde_json::from_str::<TenantId>("\"Org.Acme\"").unwrap_err();
        assert!(err.to_string().contains("tenant id"));
    }
}
