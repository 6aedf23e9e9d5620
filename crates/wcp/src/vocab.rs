//! WCP enumerations: environments, data labels, risk tiers, visibility and
//! the five-dimension blast radius (spec §6).
//!
//! Each enumeration has one parser, used for every request field, stored
//! policy and worker record alike. Words are matched without regard to ASCII
//! case (`public` is `PUBLIC`), and `Env` also takes the common long names
//! as aliases (`development`, `staging`, `production`), so the PyHall SDK's
//! documented `PYHALL_ENV=staging` works. A parsed value always prints its
//! canonical WCP spelling, which is what receipts and answers record.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VocabError {
    /// One sentence: the field, the value given and what is allowed.
    #[error("{field} {value:?} is not one of {allowed}")]
    NotOneOf {
        field: Cow<'static, str>,
        value: String,
        allowed: &'static str,
    },
    #[error("blast_radius.{dimension} is {value}; it must be an integer from 0 to 5")]
    BlastOutOfRange { dimension: &'static str, value: i64 },
    /// A whole sentence naming `blast_radius`.
    #[error("{0}")]
    BlastShape(String),
}

impl VocabError {
    /// The same error, naming the request field the value came from
    /// (`max_data_label` rather than the default `data_label`).
    pub fn field(self, name: impl Into<Cow<'static, str>>) -> Self {
        match self {
            VocabError::NotOneOf { value, allowed, .. } => VocabError::NotOneOf {
                field: name.into(),
                value,
                allowed,
            },
            other => other,
        }
    }
}

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal, $allowed:expr,
     { $($variant:ident => $text:literal $(| $alias:literal)*),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// What [`Self::parse`] accepts, as error messages and the API
            /// documentation say it.
            pub const ALLOWED: &'static str = $allowed;

            /// The canonical WCP spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The one parser: any ASCII case, and the documented aliases.
            pub fn parse(s: &str) -> Result<Self, VocabError> {
                $(
                    if s.eq_ignore_ascii_case($text) $(|| s.eq_ignore_ascii_case($alias))* {
                        return Ok($name::$variant);
                    }
                )+
                Err(VocabError::NotOneOf {
                    field: Cow::Borrowed($field),
                    value: s.to_string(),
                    allowed: Self::ALLOWED,
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = VocabError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = Cow::<'de, str>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_enum!(
    /// Where a capability runs. `development`, `staging` and `production`
    /// are accepted for `dev`, `stage` and `prod`.
    Env, "env",
    "dev, stage, prod or edge (development, staging and production are accepted as aliases)",
    {
        Dev => "dev" | "development",
        Stage => "stage" | "staging",
        Prod => "prod" | "production",
        Edge => "edge",
    }
);

impl Env {
    /// Production-like environments (L3 asks attestation for these).
    pub fn is_production(self) -> bool {
        matches!(self, Env::Prod | Env::Edge)
    }
}

string_enum!(
    /// Data sensitivity, ordered: PUBLIC < INTERNAL < RESTRICTED.
    /// `CONFIDENTIAL` (sent by the no-code integrations) is an alias of
    /// `RESTRICTED`, the strictest label, so it never widens access.
    DataLabel, "data_label",
    "PUBLIC, INTERNAL or RESTRICTED (in any case; CONFIDENTIAL is accepted as an alias of RESTRICTED)",
    {
        Public => "PUBLIC",
        Internal => "INTERNAL",
        Restricted => "RESTRICTED" | "CONFIDENTIAL",
    }
);

string_enum!(
    /// A worker's declared risk tier.
    RiskTier, "risk_tier", "low, medium, high or critical",
    { Low => "low", Medium => "medium", High => "high", Critical => "critical" }
);

string_enum!(
    /// Quality-of-service class of a routed request (WCP §4.1): `P0` is the
    /// most urgent, `P3` background.
    QosClass, "qos_class", "P0, P1, P2 or P3",
    { P0 => "P0", P1 => "P1", P2 => "P2", P3 => "P3" }
);

string_enum!(
    /// Who may see a worker: `public` (anyone, through verify and discovery)
    /// or `private` (its own tenant only).
    Visibility, "visibility", "public or private",
    { Public => "public", Private => "private" }
);

string_enum!(
    /// How far a worker's network egress reaches (spec §6's network
    /// dimension, as a privilege envelope's `network_egress` declares it).
    NetworkEgress, "network_egress", "none, allowlisted, broad or unrestricted",
    {
        NoEgress => "none",
        Allowlisted => "allowlisted",
        Broad => "broad",
        Unrestricted => "unrestricted",
    }
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
            .ok_or_else(|| VocabError::BlastShape("blast_radius must be an object".into()))?;
        for key in obj.keys() {
            if !["data", "network", "financial", "time", "reversibility"].contains(&key.as_str()) {
                return Err(VocabError::BlastShape(format!(
                    "blast_radius has no dimension {key:?}; its dimensions are data, network, \
                     financial, time and reversibility"
                )));
            }
        }
        let dim = |name: &'static str| -> Result<u8, VocabError> {
            match obj.get(name) {
                None | Some(serde_json::Value::Null) => Ok(0),
                Some(v) => {
                    let n = v.as_i64().ok_or_else(|| {
                        VocabError::BlastShape(format!(
                            "blast_radius.{name} must be an integer from 0 to 5"
                        ))
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
                        field: Cow::Borrowed("blast_radius.reversibility"),
                        value: other.to_string(),
                        allowed: "an integer from 0 to 5, reversible, partially-reversible, \
                                  difficult or irreversible",
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
    fn qos_classes_parse_in_any_case_and_print_canonically() {
        assert_eq!(QosClass::parse("p1"), Ok(QosClass::P1));
        assert_eq!(QosClass::P3.to_string(), "P3");
        let err = QosClass::parse("P4").unwrap_err().to_string();
        assert!(err.contains("qos_class"), "{err}");
    }

    #[test]
    fn enums_parse_their_spellings_and_name_the_field_otherwise() {
        assert_eq!(Env::parse("prod").unwrap(), Env::Prod);
        assert!(Env::Edge.is_production() && !Env::Stage.is_production());
        let err = Env::parse("qa").unwrap_err();
        assert_eq!(
            err.to_string(),
            "env \"qa\" is not one of dev, stage, prod or edge (development, staging and \
             production are accepted as aliases)"
        );
        assert_eq!(
            err.field("allowed_environments").to_string(),
            "allowed_environments \"qa\" is not one of dev, stage, prod or edge (development, \
             staging and production are accepted as aliases)"
        );
        assert!(
            DataLabel::Public < DataLabel::Internal && DataLabel::Internal < DataLabel::Restricted
        );
        assert_eq!(RiskTier::parse("critical").unwrap(), RiskTier::Critical);
    }

    #[test]
    fn the_seeds_env_names_are_aliases_and_print_canonically() {
        for (given, canonical) in [
            ("staging", Env::Stage),
            ("production", Env::Prod),
            ("development", Env::Dev),
            ("Staging", Env::Stage),
            ("PROD", Env::Prod),
            ("edge", Env::Edge),
        ] {
            let env = Env::parse(given).unwrap();
            assert_eq!(env, canonical, "{given}");
            assert_eq!(env.to_string(), canonical.as_str());
        }
        assert!(Env::parse("prod ").is_err());
        assert!(Env::parse("").is_err());
    }

    #[test]
    fn data_labels_are_read_in_any_case_and_print_in_capitals() {
        assert_eq!(DataLabel::parse("public").unwrap(), DataLabel::Public);
        assert_eq!(
            DataLabel::parse("Internal").unwrap().to_string(),
            "INTERNAL"
        );
        let err = DataLabel::parse("secret").unwrap_err().to_string();
        assert_eq!(
            err,
            "data_label \"secret\" is not one of PUBLIC, INTERNAL or RESTRICTED \
             (in any case; CONFIDENTIAL is accepted as an alias of RESTRICTED)"
        );
    }

    #[test]
    fn confidential_is_an_alias_of_restricted_and_prints_as_restricted() {
        for given in ["CONFIDENTIAL", "confidential", "Confidential"] {
            let label = DataLabel::parse(given).unwrap();
            assert_eq!(label, DataLabel::Restricted, "{given}");
            assert_eq!(label.to_string(), "RESTRICTED");
        }
        assert!(DataLabel::parse("CONFIDENTIAL ").is_err());
    }

    #[test]
    fn serde_goes_through_the_one_parser() {
        let floors: std::collections::BTreeMap<Env, u8> =
            serde_json::from_value(json!({"staging": 4, "prod": 5})).unwrap();
        assert_eq!(floors[&Env::Stage], 4);
        assert_eq!(serde_json::to_value(Env::Stage).unwrap(), json!("stage"));
        let label: DataLabel = serde_json::from_value(json!("restricted")).unwrap();
        assert_eq!(label, DataLabel::Restricted);
        assert!(serde_json::from_value::<Env>(json!("qa")).is_err());
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

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    /// `text` with each ASCII letter's case chosen by `flips`.
    fn recased(text: &str, flips: &[bool]) -> String {
        text.chars()
            .zip(flips.iter().cycle())
            .map(|(c, up)| {
                if *up {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    }

    fn spelled_in_any_case<T>(all: &[T], flips: &[bool])
    where
        T: Copy + PartialEq + std::fmt::Debug + std::fmt::Display + for<'de> Deserialize<'de>,
        T: std::str::FromStr,
        T::Err: std::fmt::Debug,
    {
        for v in all {
            let text = recased(&v.to_string(), flips);
            assert_eq!(text.parse::<T>().unwrap(), *v, "{text}");
            let json = serde_json::to_string(&text).unwrap();
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), *v);
        }
    }

    proptest! {
        #[test]
        fn any_text_parses_to_a_value_that_prints_its_canonical_spelling(s in any::<String>()) {
            if let Ok(v) = Env::parse(&s) {
                prop_assert_eq!(Env::parse(v.as_str()), Ok(v));
            }
            if let Ok(v) = DataLabel::parse(&s) {
                prop_assert_eq!(DataLabel::parse(v.as_str()), Ok(v));
            }
            if let Ok(v) = RiskTier::parse(&s) {
                prop_assert!(s.eq_ignore_ascii_case(v.as_str()));
            }
            if let Ok(v) = Visibility::parse(&s) {
                prop_assert!(s.eq_ignore_ascii_case(v.as_str()));
            }
        }

        #[test]
        fn every_spelling_parses_in_any_ascii_case(flips in prop::collection::vec(any::<bool>(), 1..12)) {
            spelled_in_any_case(Env::ALL, &flips);
            spelled_in_any_case(DataLabel::ALL, &flips);
            spelled_in_any_case(RiskTier::ALL, &flips);
            spelled_in_any_case(Visibility::ALL, &flips);
        }

        #[test]
        fn a_blast_radius_is_five_dimensions_from_0_to_5(
            dims in prop::collection::btree_map(
                "data|network|financial|time|reversibility|other",
                prop_oneof![(-3i64..9).prop_map(serde_json::Value::from), Just(serde_json::Value::Null)],
                0..6,
            )
        ) {
            let value = serde_json::Value::Object(dims.clone().into_iter().collect());
            let in_range = |v: &serde_json::Value| v.is_null() || v.as_i64().is_some_and(|n| (0..=5).contains(&n));
            let valid = !dims.contains_key("other") && dims.values().all(in_range);
            match BlastRadius::from_json(&value) {
                Ok(b) => {
                    prop_assert!(valid);
                    let sum: i64 = dims.values().filter_map(serde_json::Value::as_i64).sum();
                    prop_assert_eq!(i64::from(b.score()), sum);
                }
                Err(_) => prop_assert!(!valid),
            }
        }
    }
}
