//! WCP enumerations: environments, data labels, risk tiers, visibility and
//! the five-dimension blast radius (spec §6).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VocabError {
    #[error("{field}: {value:?} is not one of {allowed}")]
    NotOneOf {
        field: &'static str,
        value: String,
        allowed: &'static str,
    },
    #[error("blast_radius.{dimension}: {value} is outside 0–5")]
    BlastOutOfRange { dimension: &'static str, value: i64 },
    #[error("blast_radius: {0}")]
    BlastShape(String),
}

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(s: &str) -> Result<Self, VocabError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(VocabError::NotOneOf {
                        field: $field,
                        value: s.to_string(),
                        allowed: concat!($($text, " "),+),
                    }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// Where a capability runs.
    Env, "env", { Dev => "dev", Stage => "stage", Prod => "prod", Edge => "edge" }
);

impl Env {
    /// Production-like environments (L3 asks attestation for these).
    pub fn is_production(self) -> bool {
        matches!(self, Env::Prod | Env::Edge)
    }
}

string_enum!(
    /// Data sensitivity, ordered: PUBLIC < INTERNAL < RESTRICTED.
    DataLabel, "data_label", { Public => "PUBLIC", Internal => "INTERNAL", Restricted => "RESTRICTED" }
);

string_enum!(
    /// A worker's declared risk tier.
    RiskTier, "risk_tier", { Low => "low", Medium => "medium", High => "high", Critical => "critical" }
);

string_enum!(
    /// Who may see a worker: `public` (anyone, through verify and discovery)
    /// or `private` (its own tenant only).
    Visibility, "visibility", { Public => "public", Private => "private" }
);

/// Five-dimension blast radius (spec §6): data, network, financial and time
/// are 0–5; reversibility is 0–5 or one of the catalog's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlastRadius {
    pub data: u8,
    pub network: u8,
    pub financial: u8,
    pub time: u8,
    pub reversibility: u8,
}

impl BlastRadius {
    /// Parses a declaration such as
    /// `{"data": 1, "network": 0, "financial": 0, "time": 1, "reversibility": "reversible"}`.
    /// Missing dimensions count as 0.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, VocabError> {
        let obj = value
            .as_object()
            .ok_or_else(|| VocabError::BlastShape("must be an object".into()))?;
        for key in obj.keys() {
            if !["data", "network", "financial", "time", "reversibility"].contains(&key.as_str()) {
                return Err(VocabError::BlastShape(format!(
                    "unknown dimension {key:?}; expected data, network, financial, time, reversibility"
                )));
            }
        }
        let dim = |name: &'static str| -> Result<u8, VocabError> {
            match obj.get(name) {
                None | Some(serde_json::Value::Null) => Ok(0),
                Some(v) => {
                    let n = v.as_i64().ok_or_else(|| {
                        VocabError::BlastShape(format!("{name} must be an integer 0–5"))
                    })?;
                    u8::try_from(n)
                        .ok()
                        .filter(|n| *n <= 5)
                        .ok_or(VocabError::BlastOutOfRange {
                            dimension: name,
                            value: n,
                        })
                }
            }
        };
        let reversibility = match obj.get("reversibility") {
            Some(serde_json::Value::String(s)) => match s.as_str() {
                "reversible" => 0,
                "partially-reversible" | "partial" => 2,
                "difficult" => 4,
                "irreversible" => 5,
                other => {
                    return Err(VocabError::NotOneOf {
                        field: "blast_radius.reversibility",
                        value: other.to_string(),
                        allowed: "0-5 reversible partially-reversible difficult irreversible",
                    })
                }
            },
            _ => dim("reversibility")?,
        };
        Ok(Self {
            data: dim("data")?,
            network: dim("network")?,
            financial: dim("financial")?,
            time: dim("time")?,
            reversibility,
        })
    }

    /// The blast score: the sum of the five dimensions (0–25).
    pub fn score(&self) -> u8 {
        self.data + self.network + self.financial + self.time + self.reversibility
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn enums_parse_their_spellings_and_name_the_field_otherwise() {
        assert_eq!(Env::parse("prod").unwrap(), Env::Prod);
        assert!(Env::Edge.is_production() && !Env::Stage.is_production());
        let err = Env::parse("staging").unwrap_err();
        assert!(err.to_string().contains("env") && err.to_string().contains("stage"));
        assert!(
            DataLabel::Public < DataLabel::Internal && DataLabel::Internal < DataLabel::Restricted
        );
        assert!(DataLabel::parse("public").is_err());
        assert_eq!(RiskTier::parse("critical").unwrap(), RiskTier::Critical);
    }

    #[test]
    fn blast_radius_scores_the_sum_and_accepts_catalog_words() {
        let b = BlastRadius::from_json(&json!({"data": 2, "network": 1, "financial": 1, "time": 1,
            "reversibility": "partially-reversible"}))
        .unwrap();
        assert_eq!(b.score(), 7);
        assert_eq!(BlastRadius::from_json(&json!({})).unwrap().score(), 0);
        assert!(matches!(
            BlastRadius::from_json(&json!({"data": 6})),
            Err(VocabError::BlastOutOfRange {
                dimension: "data",
                value: 6
            })
        ));
        assert!(BlastRadius::from_json(&json!({"dat": 1})).is_err());
        assert!(BlastRadius::from_json(&json!({"data": "high"})).is_err());
        assert!(BlastRadius::from_json(&json!([1])).is_err());
    }
}
