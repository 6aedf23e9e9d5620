//! The number of a tenant's rule set version: 1, 2, 3 … per tenant, in the
//! order the versions were stored. Every receipt of a routed decision names
//! the version in force, so a version is never reused or changed.

use std::fmt;

/// A rule set version: a positive integer, counted per tenant, at most
/// [`RulesVersion::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RulesVersion(u32);

/// Why a version number was refused; the message names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("version {0:?} is not a rule set version (a whole number from 1 to 2147483647)")]
pub struct RulesVersionError(pub String);

impl RulesVersion {
    /// The largest version (PostgreSQL's `integer`).
    pub const MAX: u32 = i32::MAX as u32;

    /// `None` for 0 (versions count from 1) and beyond [`Self::MAX`].
    pub fn new(n: u32) -> Option<RulesVersion> {
        (1..=Self::MAX).contains(&n).then_some(RulesVersion(n))
    }

    /// Reads a version as a path or a command line gives it: decimal digits
    /// only (no sign, no spaces), from 1 to [`Self::MAX`].
    pub fn parse(s: &str) -> Result<RulesVersion, RulesVersionError> {
        if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RulesVersionError(s.to_string()));
        }
        s.parse::<u32>()
            .ok()
            .and_then(RulesVersion::new)
            .ok_or_else(|| RulesVersionError(s.to_string()))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for RulesVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl serde::Serialize for RulesVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for RulesVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u32::deserialize(d)?;
        RulesVersion::new(n)
            .ok_or_else(|| serde::de::Error::custom("rule set versions count from 1"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_count_from_one() {
        assert_eq!(RulesVersion::new(0), None);
        assert_eq!(RulesVersion::new(1).map(RulesVersion::get), Some(1));
        assert_eq!(RulesVersion::parse("42").unwrap().to_string(), "42");
    }

    #[test]
    fn anything_but_plain_digits_from_one_is_refused() {
        for bad in [
            "",
            "0",
            "-1",
            "+1",
            " 1",
            "1.0",
            "abc",
            "4294967296",
            "99999999999",
        ] {
            let err = RulesVersion::parse(bad).unwrap_err();
            assert!(err.to_string().contains("version"), "{bad}: {err}");
        }
        assert_eq!(
            RulesVersion::parse("2147483647").unwrap().get(),
            RulesVersion::MAX
        );
    }
}
