//! Golden snapshots (§5.2): route inputs with the outcome the rules must
//! give them, checked against a rule set before it goes into force.
//!
//! A case, as JSON:
//!
//! ```json
//! {"name": "prod summaries go to the summarizer",
//!  "input": {"capability_id": "cap.doc.summarize", "env": "prod", "data_label": "INTERNAL",
//!            "tenant_risk": "low", "qos_class": "P2",
//!            "correlation_id": "4b9a3c1e-0000-4000-8000-000000000001"},
//!  "expect": {"matched_rule_id": "rr_doc_prod",
//!             "candidate_workers_ranked": ["wrk.doc.summarizer"],
//!             "required_controls_effective": ["ctrl.obs.audit-log-append-only"]}}
//! ```
//!
//! `input` is a route input exactly as `POST /api/v1/route` takes it
//! ([`RouteInput::parse`]). `matched_rule_id` is required; `null` means no
//! rule may match (the request is denied). The other two expectations are
//! optional and checked only when given: the matched rule's candidate
//! species in rank order, and its required controls, sorted. At the rules
//! level the effective controls are the rule's `required_controls_suggested`;
//! a candidate's `requires_controls_minimum` applies to the worker selected
//! at route time, which a rules-level snapshot does not know.
//!
//! [`check`] reports every difference (case, field, expected, actual), so a
//! failing run says at once what a new rule set would change.

use std::collections::{BTreeSet, HashSet};

use serde::Serialize;
use serde_json::{Map, Value};
use wcp::{ControlId, SpeciesId};

use crate::input::RouteInput;
use crate::rules::{RuleId, RuleSet};

/// Most cases one run or one tenant's stored list may hold.
pub const MAX_CASES: usize = 1000;
/// Longest case name.
pub const MAX_NAME_LEN: usize = 200;

const CASE_KEYS: &[&str] = &["name", "input", "expect"];
const EXPECT_KEYS: &[&str] = &[
    "matched_rule_id",
    "candidate_workers_ranked",
    "required_controls_effective",
];

/// One golden case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub name: String,
    pub input: RouteInput,
    pub expect: Expectation,
}

/// What a case expects of the rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    /// `None`: no rule matches (denied).
    pub matched_rule_id: Option<RuleId>,
    pub candidate_workers_ranked: Option<Vec<SpeciesId>>,
    /// Sorted, without repeats.
    pub required_controls_effective: Option<Vec<ControlId>>,
}

/// One way a rule set's outcome differs from a case's expectation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// The case's name.
    pub case: String,
    /// The expectation that differs: `matched_rule_id`,
    /// `candidate_workers_ranked` or `required_controls_effective`.
    pub field: &'static str,
    pub expected: Value,
    pub actual: Value,
}

/// Refused cases: where (`cases[3].input`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct CasesError {
    pub path: String,
    pub message: String,
}

fn refuse(path: impl Into<String>, message: impl Into<String>) -> CasesError {
    CasesError {
        path: path.into(),
        message: message.into(),
    }
}

fn object<'a>(
    v: &'a Value,
    path: &str,
    keys: &[&str],
) -> Result<&'a Map<String, Value>, CasesError> {
    let map = v
        .as_object()
        .ok_or_else(|| refuse(path, "must be an object"))?;
    if let Some(k) = map.keys().find(|k| !keys.contains(&k.as_str())) {
        return Err(refuse(
            format!("{path}.{k}"),
            format!(
                "{k:?} is not allowed here; the keys are {}",
                keys.join(", ")
            ),
        ));
    }
    Ok(map)
}

fn id_list<T>(
    v: &Value,
    path: &str,
    parse: impl Fn(&str) -> Result<T, wcp::IdError>,
) -> Result<Vec<T>, CasesError> {
    let items = v
        .as_array()
        .ok_or_else(|| refuse(path, "must be an array of ids"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let p = format!("{path}[{i}]");
            let s = item
                .as_str()
                .ok_or_else(|| refuse(&p, "must be a string"))?;
            parse(s).map_err(|e| refuse(&p, e.to_string()))
        })
        .collect()
}

/// Parses a list of cases (a JSON array), each checked: names present,
/// unique and at most [`MAX_NAME_LEN`] characters, inputs as
/// [`RouteInput::parse`] takes them, expectations well formed; at most
/// [`MAX_CASES`].
pub fn parse_cases(v: &Value) -> Result<Vec<Case>, CasesError> {
    let items = v
        .as_array()
        .ok_or_else(|| refuse("cases", "must be an array of cases"))?;
    if items.len() > MAX_CASES {
        return Err(refuse(
            "cases",
            format!(
                "holds {} cases; at most {MAX_CASES} are allowed",
                items.len()
            ),
        ));
    }
    let mut names = HashSet::new();
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let path = format!("cases[{i}]");
            let case = parse_case(item, &path)?;
            if !names.insert(case.name.clone()) {
                return Err(refuse(
                    format!("{path}.name"),
                    format!("the name {:?} is used by an earlier case", case.name),
                ));
            }
            Ok(case)
        })
        .collect()
}

fn parse_case(v: &Value, path: &str) -> Result<Case, CasesError> {
    let map = object(v, path, CASE_KEYS)?;
    let name_path = format!("{path}.name");
    let name = match map.get("name") {
        None => return Err(refuse(name_path, "is required")),
        Some(Value::String(s)) => s,
        Some(_) => return Err(refuse(name_path, "must be a string")),
    };
    if name.trim().is_empty()
        || name.chars().count() > MAX_NAME_LEN
        || name.chars().any(char::is_control)
    {
        return Err(refuse(
            name_path,
            format!(
                "must be 1 to {MAX_NAME_LEN} characters, not blank, without control characters"
            ),
        ));
    }
    let input_path = format!("{path}.input");
    let input = map
        .get("input")
        .ok_or_else(|| refuse(&input_path, "is required"))?;
    let input = RouteInput::parse(input.clone()).map_err(|e| refuse(&input_path, e.to_string()))?;
    let expect_path = format!("{path}.expect");
    let expect = map
        .get("expect")
        .ok_or_else(|| refuse(&expect_path, "is required"))?;
    let expect = object(expect, &expect_path, EXPECT_KEYS)?;
    let rule_path = format!("{expect_path}.matched_rule_id");
    let matched_rule_id = match expect.get("matched_rule_id") {
        None => {
            return Err(refuse(
                rule_path,
                "is required (null when no rule may match, i.e. the request is denied)",
            ))
        }
        Some(Value::Null) => None,
        Some(Value::String(s)) => Some(RuleId::parse(s).map_err(|e| refuse(&rule_path, e))?),
        Some(_) => return Err(refuse(rule_path, "must be a rule id or null")),
    };
    let candidate_workers_ranked = expect
        .get("candidate_workers_ranked")
        .map(|v| {
            id_list(
                v,
                &format!("{expect_path}.candidate_workers_ranked"),
                SpeciesId::parse,
            )
        })
        .transpose()?;
    let required_controls_effective = expect
        .get("required_controls_effective")
        .map(|v| {
            id_list(
                v,
                &format!("{expect_path}.required_controls_effective"),
                ControlId::parse,
            )
            .map(sorted)
        })
        .transpose()?;
    Ok(Case {
        name: name.clone(),
        input,
        expect: Expectation {
            matched_rule_id,
            candidate_workers_ranked,
            required_controls_effective,
        },
    })
}

fn sorted<T: Ord>(items: Vec<T>) -> Vec<T> {
    items
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn strings<T: ToString>(items: &[T]) -> Value {
    Value::Array(items.iter().map(|i| Value::String(i.to_string())).collect())
}

/// Every difference between what `rules` gives each case and what the case
/// expects, in case order.
pub fn check(rules: &RuleSet, cases: &[Case]) -> Vec<Difference> {
    let mut out = Vec::new();
    for case in cases {
        let matched = rules.first_match(&case.input);
        let mut differ = |field: &'static str, expected: Value, actual: Value| {
            if expected != actual {
                out.push(Difference {
                    case: case.name.clone(),
                    field,
                    expected,
                    actual,
                });
            }
        };
        let id = |r: Option<&RuleId>| r.map_or(Value::Null, |r| Value::String(r.to_string()));
        differ(
            "matched_rule_id",
            id(case.expect.matched_rule_id.as_ref()),
            id(matched.map(|r| &r.rule_id)),
        );
        if let Some(expected) = &case.expect.candidate_workers_ranked {
            let actual = matched.map_or(Value::Null, |r| {
                let species: Vec<&SpeciesId> = r
                    .decision
                    .candidates
                    .iter()
                    .map(|c| &c.worker_species_id)
                    .collect();
                strings(&species)
            });
            differ("candidate_workers_ranked", strings(expected), actual);
        }
        if let Some(expected) = &case.expect.required_controls_effective {
            let actual = matched.map_or(Value::Null, |r| {
                strings(&sorted(r.decision.required_controls.clone()))
            });
            differ("required_controls_effective", strings(expected), actual);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> RuleSet {
        RuleSet::parse(&json!({"rules": [
            {"rule_id": "rr_prod", "match": {"capability_id": "cap.doc.summarize", "env": "prod"},
             "decision": {"candidate_workers_ranked": [{"worker_species_id": "wrk.doc.summarizer"},
                                                       {"worker_species_id": "wrk.doc.backup"}],
                          "required_controls_suggested": ["ctrl.obs.b", "ctrl.obs.a"]}},
            {"rule_id": "rr_dev", "match": {"capability_id": "cap.doc.summarize", "env": "dev"},
             "decision": {"candidate_workers_ranked": [{"worker_species_id": "wrk.doc.cheap"}]}}
        ]}))
        .unwrap()
    }

    fn input(env: &str) -> Value {
        json!({"capability_id": "cap.doc.summarize", "env": env, "data_label": "INTERNAL",
               "tenant_risk": "low", "qos_class": "P2",
               "correlation_id": "4b9a3c1e-0000-4000-8000-000000000001"})
    }

    fn case(name: &str, env: &str, expect: Value) -> Value {
        json!({"name": name, "input": input(env), "expect": expect})
    }

    #[test]
    fn matching_expectations_report_no_difference() {
        let cases = parse_cases(&json!([
            case(
                "prod",
                "prod",
                json!({"matched_rule_id": "rr_prod",
                "candidate_workers_ranked": ["wrk.doc.summarizer", "wrk.doc.backup"],
                "required_controls_effective": ["ctrl.obs.b", "ctrl.obs.a"]})
            ),
            case("stage is denied", "stage", json!({"matched_rule_id": null})),
        ]))
        .unwrap();
        assert_eq!(check(&rules(), &cases), vec![]);
    }

    #[test]
    fn each_difference_names_the_case_the_field_and_both_values() {
        let cases = parse_cases(&json!([
            case(
                "dev",
                "dev",
                json!({"matched_rule_id": "rr_prod",
                "candidate_workers_ranked": ["wrk.doc.summarizer"]})
            ),
            case(
                "stage",
                "stage",
                json!({"matched_rule_id": "rr_dev",
                "required_controls_effective": []})
            ),
        ]))
        .unwrap();
        let diffs = check(&rules(), &cases);
        assert_eq!(
            diffs,
            vec![
                Difference {
                    case: "dev".into(),
                    field: "matched_rule_id",
                    expected: json!("rr_prod"),
                    actual: json!("rr_dev")
                },
                Difference {
                    case: "dev".into(),
                    field: "candidate_workers_ranked",
                    expected: json!(["wrk.doc.summarizer"]),
                    actual: json!(["wrk.doc.cheap"])
                },
                Difference {
                    case: "stage".into(),
                    field: "matched_rule_id",
                    expected: json!("rr_dev"),
                    actual: Value::Null
                },
                Difference {
                    case: "stage".into(),
                    field: "required_controls_effective",
                    expected: json!([]),
                    actual: Value::Null
                },
            ]
        );
    }

    #[test]
    fn refused_cases_name_the_place() {
        let err = |v: Value| parse_cases(&v).unwrap_err().to_string();
        let e = err(json!([case(
            "a",
            "production-eu",
            json!({"matched_rule_id": null})
        )]));
        assert!(e.starts_with("cases[0].input: "), "{e}");
        assert!(e.contains("env"), "{e}");
        let e = err(json!([
            case("a", "dev", json!({"matched_rule_id": null})),
            case("a", "dev", json!({"matched_rule_id": null}))
        ]));
        assert!(e.starts_with("cases[1].name: "), "{e}");
        let e = err(json!([case("a", "dev", json!({}))]));
        assert!(e.starts_with("cases[0].expect.matched_rule_id: "), "{e}");
        let e = err(json!([case(
            "a",
            "dev",
            json!({"matched_rule_id": null, "denied": true})
        )]));
        assert!(e.starts_with("cases[0].expect.denied: "), "{e}");
        let e = err(json!([case(
            "a",
            "dev",
            json!({"matched_rule_id": null,
            "candidate_workers_ranked": ["summarizer"]})
        )]));
        assert!(
            e.starts_with("cases[0].expect.candidate_workers_ranked[0]: "),
            "{e}"
        );
        let e = err(json!({"cases": []}));
        assert!(e.starts_with("cases: "), "{e}");
    }

    #[test]
    fn more_than_the_most_cases_are_refused() {
        let many: Vec<Value> = (0..=MAX_CASES)
            .map(|i| case(&format!("c{i}"), "dev", json!({"matched_rule_id": null})))
            .collect();
        let e = parse_cases(&Value::Array(many)).unwrap_err();
        assert_eq!(e.path, "cases");
    }
}
