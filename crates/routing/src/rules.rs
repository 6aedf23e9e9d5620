//! Routing rules in the PyHall rules JSON format (pyhall-wcp 0.2.2,
//! `pyhall/rules.py`):
//!
//! ```json
//! {"rules": [{"rule_id": "rr_doc_dev_001",
//!             "match": {"capability_id": "cap.doc.summarize", "env": {"in": ["dev", "stage"]},
//!                       "data_label": "INTERNAL", "qos_class": {"any": true}},
//!             "decision": {"candidate_workers_ranked": [{"worker_species_id": "wrk.doc.summarizer", "score_hint": 1.0}],
//!                          "required_controls_suggested": ["ctrl.obs.audit-log-append-only"],
//!                          "recommended_profiles": [],
//!                          "escalation": {"policy_gate": false, "human_required_default": false},
//!                          "preconditions": {}}}]}
//! ```
//!
//! A match value is exact (`"dev"`), membership (`{"in": [...]}`) or wildcard
//! (`{"any": true}`); a missing key matches anything; the first matching rule
//! wins; no match denies (§5.1). Where pyhall silently accepts something that
//! can never work, [`RuleSet::parse`] refuses it, naming the place
//! (`rules[3].match.env`): unknown keys, ids outside the WCP grammar, enum
//! values no input can carry, empty `in` lists, duplicate rule ids, rules
//! without candidates, an empty rule set and unreachable rules.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde_json::{Map, Value};
use wcp::{CapabilityId, ControlId, DataLabel, Env, ProfileId, QosClass, RiskTier, SpeciesId};

use crate::input::RouteInput;

/// Most rules one set may hold.
pub const MAX_RULES: usize = 500;
/// Longest rule id.
pub const MAX_RULE_ID_LEN: usize = 64;
/// Longest free text (`description`, `escalation.rationale`).
pub const MAX_TEXT_LEN: usize = 1000;

const TOP_KEYS: &[&str] = &["rules", "description"];
const RULE_KEYS: &[&str] = &["rule_id", "match", "decision", "description"];
const MATCH_KEYS: &[&str] = &[
    "capability_id",
    "env",
    "data_label",
    "tenant_risk",
    "qos_class",
];
const DECISION_KEYS: &[&str] = &[
    "candidate_workers_ranked",
    "required_controls_suggested",
    "recommended_profiles",
    "escalation",
    "preconditions",
];
const CANDIDATE_KEYS: &[&str] = &[
    "worker_species_id",
    "score_hint",
    "requires_controls_minimum",
];
const ESCALATION_KEYS: &[&str] = &[
    "policy_gate",
    "msavx_step_up",
    "human_required_default",
    "human_required_if",
    "rationale",
];
const PRECONDITION_KEYS: &[&str] = &[
    "must_have_correlation_id",
    "must_attach_policy_version",
    "must_record_artifact_hash_if_executes",
    "deny_if_missing_required_controls",
    "deny_if_unsigned_artifact_in_prod",
    "deny_if_no_attestation_in_prod",
];

/// A rule id: 1–64 characters of ASCII letters, digits, `_`, `-` and `.`,
/// starting with a letter (pyhall's `rr_doc_summarize_dev_001`, the spec's
/// `rr_abc123`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleId(String);

impl RuleId {
    pub fn parse(s: &str) -> Result<RuleId, String> {
        let ok_start = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
        let ok_chars = s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !ok_start || !ok_chars || s.len() > MAX_RULE_ID_LEN {
            return Err(format!(
                "rule id {s:?} must be 1 to {MAX_RULE_ID_LEN} letters, digits, '_', '-' or '.', \
                 starting with a letter"
            ));
        }
        Ok(RuleId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a rule set was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleSetProblem {
    /// A value of the wrong shape or a value no input can carry.
    #[error("{0}")]
    Invalid(String),
    #[error("{key:?} is not allowed here; the keys are {allowed}")]
    UnknownKey { key: String, allowed: String },
    #[error("rule id {rule_id:?} is used again (first at {first_path})")]
    DuplicateRuleId { rule_id: String, first_path: String },
    #[error("the rule set has no rules, so it would route nothing (every request denied)")]
    NoRules,
    #[error("the rule set has more than {MAX_RULES} rules")]
    TooManyRules,
    #[error(
        "the rule has no candidate workers, so it could never select one; \
         to deny these requests, let no rule match them"
    )]
    NoCandidates,
    /// No input can ever reach the rule: an earlier rule, or earlier rules
    /// together, match every input it matches.
    #[error("{}", unreachable_sentence(.shadowed, .shadowed_by))]
    Unreachable {
        shadowed: RuleId,
        shadowed_by: Vec<RuleId>,
    },
}

fn unreachable_sentence(shadowed: &RuleId, by: &[RuleId]) -> String {
    let names: Vec<String> = by.iter().map(|r| format!("{:?}", r.as_str())).collect();
    match names.as_slice() {
        [one] => format!(
            "rule {:?} is unreachable: the earlier rule {one} matches every input it matches",
            shadowed.as_str()
        ),
        _ => format!(
            "rule {:?} is unreachable: the earlier rules {} together match every input it matches",
            shadowed.as_str(),
            names.join(", ")
        ),
    }
}

/// A refused rule set: where (`rules[3].match.env`) and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{problem}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct RuleSetError {
    pub path: String,
    pub problem: RuleSetProblem,
}

fn err(path: impl Into<String>, problem: RuleSetProblem) -> RuleSetError {
    RuleSetError {
        path: path.into(),
        problem,
    }
}

fn invalid(path: impl Into<String>, msg: impl Into<String>) -> RuleSetError {
    err(path, RuleSetProblem::Invalid(msg.into()))
}

/// An enumeration a match may constrain: its values are finite, so a
/// membership list naming all of them is the wildcard.
pub trait MatchValue: Copy + Ord + fmt::Debug + 'static {
    const ALL: &'static [Self];
    fn parse_match(s: &str) -> Result<Self, wcp::VocabError>;
    fn bit(self) -> u8 {
        let i = Self::ALL.iter().position(|v| *v == self).unwrap_or(0);
        1 << i
    }
    fn full_mask() -> u8 {
        Self::ALL.iter().fold(0, |m, v| m | v.bit())
    }
}

macro_rules! match_value {
    ($t:ty, $parse:expr) => {
        impl MatchValue for $t {
            const ALL: &'static [Self] = <$t>::ALL;
            fn parse_match(s: &str) -> Result<Self, wcp::VocabError> {
                $parse(s)
            }
        }
    };
}
match_value!(Env, Env::parse);
match_value!(DataLabel, crate::parse_data_label);
match_value!(RiskTier, RiskTier::parse);
match_value!(QosClass, QosClass::parse);

/// One match condition. An exact value is a one-element `OneOf`; a missing
/// key, `{"any": true}` and a list naming every value of an enumeration are
/// all `Any`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition<T: Ord> {
    Any,
    OneOf(BTreeSet<T>),
}

impl<T: Ord> Condition<T> {
    pub fn matches(&self, value: &T) -> bool {
        match self {
            Condition::Any => true,
            Condition::OneOf(set) => set.contains(value),
        }
    }
}

/// What a rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchSpec {
    pub capability_id: Condition<CapabilityId>,
    pub env: Condition<Env>,
    pub data_label: Condition<DataLabel>,
    pub tenant_risk: Condition<RiskTier>,
    pub qos_class: Condition<QosClass>,
}

/// One ranked candidate worker species.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub worker_species_id: SpeciesId,
    pub score_hint: Option<f64>,
    pub requires_controls_minimum: Vec<ControlId>,
}

/// The escalation the matched rule asks for (§5.8).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Escalation {
    pub policy_gate: bool,
    pub msavx_step_up: bool,
    pub human_required_default: bool,
    /// Conditional human-review triggers, kept as given.
    pub human_required_if: Vec<Map<String, Value>>,
    pub rationale: Option<String>,
}

/// The preconditions the matched rule sets; pyhall's defaults for what it
/// leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preconditions {
    pub must_have_correlation_id: bool,
    pub must_attach_policy_version: bool,
    pub must_record_artifact_hash_if_executes: bool,
    pub deny_if_missing_required_controls: bool,
    pub deny_if_unsigned_artifact_in_prod: bool,
    pub deny_if_no_attestation_in_prod: bool,
}

impl Default for Preconditions {
    fn default() -> Self {
        Preconditions {
            must_have_correlation_id: true,
            must_attach_policy_version: true,
            must_record_artifact_hash_if_executes: true,
            deny_if_missing_required_controls: true,
            deny_if_unsigned_artifact_in_prod: false,
            deny_if_no_attestation_in_prod: false,
        }
    }
}

/// What a matched rule decides (§5.x data for the router).
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Never empty, in rank order.
    pub candidates: Vec<Candidate>,
    /// Required controls (§5.3), without repeats, in the order given.
    pub required_controls: Vec<ControlId>,
    pub recommended_profiles: Vec<ProfileId>,
    pub escalation: Escalation,
    pub preconditions: Preconditions,
}

/// One routing rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub rule_id: RuleId,
    pub matching: MatchSpec,
    pub decision: Decision,
}

/// A rule's match, compiled: enumerations as bit masks (all bits = any),
/// the capability as `None` (any) or its set.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    pub(crate) capability: Option<BTreeSet<CapabilityId>>,
    pub(crate) env: u8,
    pub(crate) data_label: u8,
    pub(crate) tenant_risk: u8,
    pub(crate) qos_class: u8,
}

impl Compiled {
    pub(crate) fn of_spec(m: &MatchSpec) -> Compiled {
        fn mask<T: MatchValue>(c: &Condition<T>) -> u8 {
            match c {
                Condition::Any => T::full_mask(),
                Condition::OneOf(set) => set.iter().fold(0, |m, v| m | v.bit()),
            }
        }
        Compiled {
            capability: match &m.capability_id {
                Condition::Any => None,
                Condition::OneOf(set) => Some(set.clone()),
            },
            env: mask(&m.env),
            data_label: mask(&m.data_label),
            tenant_risk: mask(&m.tenant_risk),
            qos_class: mask(&m.qos_class),
        }
    }

    pub(crate) fn matches_enums(&self, env: u8, label: u8, risk: u8, qos: u8) -> bool {
        self.env & env != 0
            && self.data_label & label != 0
            && self.tenant_risk & risk != 0
            && self.qos_class & qos != 0
    }
}

/// A parsed, checked and compiled rule set. Matching is deterministic: the
/// same input always meets the same rule.
#[derive(Debug, Clone)]
pub struct RuleSet {
    rules: Vec<Rule>,
    compiled: Vec<Compiled>,
    /// Rule positions naming each capability exactly, ascending.
    by_capability: HashMap<CapabilityId, Vec<usize>>,
    /// Rule positions matching any capability, ascending.
    any_capability: Vec<usize>,
}

impl RuleSet {
    /// Parses and checks a rules document; every rule in the result is
    /// reachable.
    pub fn parse(doc: &Value) -> Result<RuleSet, RuleSetError> {
        let rules = parse_rules(doc)?;
        let compiled: Vec<Compiled> = rules
            .iter()
            .map(|r| Compiled::of_spec(&r.matching))
            .collect();
        if let Some((shadowed, by)) = crate::shadow::first_unreachable(&compiled) {
            return Err(err(
                format!("rules[{shadowed}]"),
                RuleSetProblem::Unreachable {
                    shadowed: rules[shadowed].rule_id.clone(),
                    shadowed_by: by.iter().map(|&i| rules[i].rule_id.clone()).collect(),
                },
            ));
        }
        let mut by_capability: HashMap<CapabilityId, Vec<usize>> = HashMap::new();
        let mut any_capability = Vec::new();
        for (i, c) in compiled.iter().enumerate() {
            match &c.capability {
                None => any_capability.push(i),
                Some(set) => {
                    for cap in set {
                        by_capability.entry(cap.clone()).or_default().push(i);
                    }
                }
            }
        }
        Ok(RuleSet {
            rules,
            compiled,
            by_capability,
            any_capability,
        })
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The first rule matching the input; `None` denies (§5.1).
    pub fn first_match(&self, input: &RouteInput) -> Option<&Rule> {
        let exact = self
            .by_capability
            .get(&input.capability_id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let (env, label, risk, qos) = (
            input.env.bit(),
            input.data_label.bit(),
            input.tenant_risk.bit(),
            input.qos_class.bit(),
        );
        // Walk both ascending lists in rule order.
        let (mut a, mut b) = (
            exact.iter().peekable(),
            self.any_capability.iter().peekable(),
        );
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(&&x), Some(&&y)) if x < y => a.next(),
                (Some(_), Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (None, None) => return None,
            };
            let i = *next?;
            if self.compiled[i].matches_enums(env, label, risk, qos) {
                return self.rules.get(i);
            }
        }
    }
}

/// Parses a rules document's structure (everything but reachability).
pub(crate) fn parse_rules(doc: &Value) -> Result<Vec<Rule>, RuleSetError> {
    let top = object(doc, "")?;
    known_keys(top, TOP_KEYS, "")?;
    text(top, "description", "")?;
    let list = match top.get("rules") {
        Some(Value::Array(list)) => list,
        Some(_) => return Err(invalid("rules", "rules must be a list")),
        None => return Err(invalid("rules", "rules is required")),
    };
    if list.is_empty() {
        return Err(err("rules", RuleSetProblem::NoRules));
    }
    if list.len() > MAX_RULES {
        return Err(err("rules", RuleSetProblem::TooManyRules));
    }
    let mut seen: HashMap<RuleId, String> = HashMap::new();
    let mut rules = Vec::with_capacity(list.len());
    for (i, value) in list.iter().enumerate() {
        let path = format!("rules[{i}]");
        let rule = parse_rule(value, &path)?;
        if let Some(first_path) = seen.get(&rule.rule_id) {
            return Err(err(
                format!("{path}.rule_id"),
                RuleSetProblem::DuplicateRuleId {
                    rule_id: rule.rule_id.0.clone(),
                    first_path: first_path.clone(),
                },
            ));
        }
        seen.insert(rule.rule_id.clone(), path);
        rules.push(rule);
    }
    Ok(rules)
}

fn parse_rule(value: &Value, path: &str) -> Result<Rule, RuleSetError> {
    let obj = object(value, path)?;
    known_keys(obj, RULE_KEYS, path)?;
    text(obj, "description", path)?;
    let id_path = format!("{path}.rule_id");
    let rule_id = match obj.get("rule_id") {
        Some(Value::String(s)) => RuleId::parse(s).map_err(|m| invalid(&id_path, m))?,
        Some(_) => return Err(invalid(&id_path, "rule_id must be a string")),
        None => return Err(invalid(&id_path, "rule_id is required")),
    };
    let match_path = format!("{path}.match");
    let matching = match obj.get("match") {
        None => parse_match(&Map::new(), &match_path)?,
        Some(v) => parse_match(object(v, &match_path)?, &match_path)?,
    };
    let decision_path = format!("{path}.decision");
    let decision = match obj.get("decision") {
        None => return Err(err(&decision_path, RuleSetProblem::NoCandidates)),
        Some(v) => parse_decision(object(v, &decision_path)?, &decision_path)?,
    };
    Ok(Rule {
        rule_id,
        matching,
        decision,
    })
}

fn parse_match(obj: &Map<String, Value>, path: &str) -> Result<MatchSpec, RuleSetError> {
    known_keys(obj, MATCH_KEYS, path)?;
    let capability_id = condition(obj, "capability_id", path, |s| {
        CapabilityId::parse(s).map_err(|e| e.field("capability_id").to_string())
    })?;
    Ok(MatchSpec {
        capability_id,
        env: enum_condition(obj, "env", path)?,
        data_label: enum_condition(obj, "data_label", path)?,
        tenant_risk: enum_condition(obj, "tenant_risk", path)?,
        qos_class: enum_condition(obj, "qos_class", path)?,
    })
}

fn enum_condition<T: MatchValue>(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Condition<T>, RuleSetError> {
    let parse = |s: &str| T::parse_match(s).map_err(|e| e.field(key.to_string()).to_string());
    Ok(match condition(obj, key, path, parse)? {
        Condition::OneOf(set) if set.len() == T::ALL.len() => Condition::Any,
        other => other,
    })
}

fn condition<T: Ord>(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Condition<T>, RuleSetError> {
    let path = format!("{path}.{key}");
    let shape = || {
        invalid(
            &path,
            format!(
                "{key} must be a value, {{\"in\": [values]}} or {{\"any\": true}}; \
                 leave the key out to match anything"
            ),
        )
    };
    let Some(value) = obj.get(key) else {
        return Ok(Condition::Any);
    };
    match value {
        Value::String(s) => {
            let v = parse(s).map_err(|m| invalid(&path, m))?;
            Ok(Condition::OneOf(BTreeSet::from([v])))
        }
        Value::Object(o) if o.len() == 1 => match o.iter().next() {
            Some((k, Value::Bool(true))) if k == "any" => Ok(Condition::Any),
            Some((k, Value::Array(items))) if k == "in" => {
                if items.is_empty() {
                    return Err(invalid(
                        format!("{path}.in"),
                        "an empty \"in\" list matches nothing, so the rule could never match",
                    ));
                }
                let mut set = BTreeSet::new();
                for (j, item) in items.iter().enumerate() {
                    let item_path = format!("{path}.in[{j}]");
                    let Value::String(s) = item else {
                        return Err(invalid(item_path, format!("{key} values must be strings")));
                    };
                    set.insert(parse(s).map_err(|m| invalid(&item_path, m))?);
                }
                Ok(Condition::OneOf(set))
            }
            _ => Err(shape()),
        },
        _ => Err(shape()),
    }
}

fn parse_decision(obj: &Map<String, Value>, path: &str) -> Result<Decision, RuleSetError> {
    known_keys(obj, DECISION_KEYS, path)?;
    let cand_path = format!("{path}.candidate_workers_ranked");
    let candidates = match obj.get("candidate_workers_ranked") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(j, v)| parse_candidate(v, &format!("{cand_path}[{j}]")))
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(invalid(
                &cand_path,
                "candidate_workers_ranked must be a list",
            ))
        }
    };
    if candidates.is_empty() {
        return Err(err(cand_path, RuleSetProblem::NoCandidates));
    }
    let mut required_controls: Vec<ControlId> = Vec::new();
    for c in id_list(obj, "required_controls_suggested", path, ControlId::parse)? {
        if !required_controls.contains(&c) {
            required_controls.push(c);
        }
    }
    let recommended_profiles = id_list(obj, "recommended_profiles", path, ProfileId::parse)?;
    let escalation = match obj.get("escalation") {
        None => Escalation::default(),
        Some(v) => parse_escalation(v, &format!("{path}.escalation"))?,
    };
    let preconditions = match obj.get("preconditions") {
        None => Preconditions::default(),
        Some(v) => parse_preconditions(v, &format!("{path}.preconditions"))?,
    };
    Ok(Decision {
        candidates,
        required_controls,
        recommended_profiles,
        escalation,
        preconditions,
    })
}

fn parse_candidate(value: &Value, path: &str) -> Result<Candidate, RuleSetError> {
    let obj = object(value, path)?;
    known_keys(obj, CANDIDATE_KEYS, path)?;
    let species_path = format!("{path}.worker_species_id");
    let worker_species_id = match obj.get("worker_species_id") {
        Some(Value::String(s)) => {
            SpeciesId::parse(s).map_err(|e| invalid(&species_path, e.to_string()))?
        }
        Some(_) => return Err(invalid(&species_path, "worker_species_id must be a string")),
        None => return Err(invalid(&species_path, "worker_species_id is required")),
    };
    let score_hint = match obj.get("score_hint") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(_) => {
            return Err(invalid(
                format!("{path}.score_hint"),
                "score_hint must be a number",
            ))
        }
    };
    let requires_controls_minimum =
        id_list(obj, "requires_controls_minimum", path, ControlId::parse)?;
    Ok(Candidate {
        worker_species_id,
        score_hint,
        requires_controls_minimum,
    })
}

fn parse_escalation(value: &Value, path: &str) -> Result<Escalation, RuleSetError> {
    let obj = object(value, path)?;
    known_keys(obj, ESCALATION_KEYS, path)?;
    let human_required_if = match obj.get("human_required_if") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(j, v)| object(v, &format!("{path}.human_required_if[{j}]")).cloned())
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(invalid(
                format!("{path}.human_required_if"),
                "human_required_if must be a list of objects",
            ))
        }
    };
    Ok(Escalation {
        policy_gate: flag(obj, "policy_gate", path, false)?,
        msavx_step_up: flag(obj, "msavx_step_up", path, false)?,
        human_required_default: flag(obj, "human_required_default", path, false)?,
        human_required_if,
        rationale: text(obj, "rationale", path)?,
    })
}

fn parse_preconditions(value: &Value, path: &str) -> Result<Preconditions, RuleSetError> {
    let obj = object(value, path)?;
    known_keys(obj, PRECONDITION_KEYS, path)?;
    let d = Preconditions::default();
    Ok(Preconditions {
        must_have_correlation_id: flag(
            obj,
            "must_have_correlation_id",
            path,
            d.must_have_correlation_id,
        )?,
        must_attach_policy_version: flag(
            obj,
            "must_attach_policy_version",
            path,
            d.must_attach_policy_version,
        )?,
        must_record_artifact_hash_if_executes: flag(
            obj,
            "must_record_artifact_hash_if_executes",
            path,
            d.must_record_artifact_hash_if_executes,
        )?,
        deny_if_missing_required_controls: flag(
            obj,
            "deny_if_missing_required_controls",
            path,
            d.deny_if_missing_required_controls,
        )?,
        deny_if_unsigned_artifact_in_prod: flag(
            obj,
            "deny_if_unsigned_artifact_in_prod",
            path,
            d.deny_if_unsigned_artifact_in_prod,
        )?,
        deny_if_no_attestation_in_prod: flag(
            obj,
            "deny_if_no_attestation_in_prod",
            path,
            d.deny_if_no_attestation_in_prod,
        )?,
    })
}

fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, RuleSetError> {
    value.as_object().ok_or_else(|| {
        let what = if path.is_empty() {
            "the rules document"
        } else {
            path
        };
        invalid(path, format!("{what} must be a JSON object"))
    })
}

fn known_keys(obj: &Map<String, Value>, allowed: &[&str], path: &str) -> Result<(), RuleSetError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(key) => Err(err(
            if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            },
            RuleSetProblem::UnknownKey {
                key: key.clone(),
                allowed: allowed.join(", "),
            },
        )),
    }
}

fn flag(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
    default: bool,
) -> Result<bool, RuleSetError> {
    match obj.get(key) {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(invalid(
            format!("{path}.{key}"),
            format!("{key} must be true or false"),
        )),
    }
}

fn text(obj: &Map<String, Value>, key: &str, path: &str) -> Result<Option<String>, RuleSetError> {
    let at = || {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= MAX_TEXT_LEN => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(invalid(
            at(),
            format!("{key} is longer than {MAX_TEXT_LEN} bytes"),
        )),
        Some(_) => Err(invalid(at(), format!("{key} must be a string"))),
    }
}

fn id_list<T>(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
    parse: impl Fn(&str) -> Result<T, wcp::IdError>,
) -> Result<Vec<T>, RuleSetError> {
    let list_path = format!("{path}.{key}");
    match obj.get(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(j, item)| {
                let item_path = format!("{list_path}[{j}]");
                match item {
                    Value::String(s) => parse(s).map_err(|e| invalid(item_path, e.to_string())),
                    _ => Err(invalid(item_path, format!("{key} entries must be strings"))),
                }
            })
            .collect(),
        Some(_) => Err(invalid(list_path, format!("{key} must be a list"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(id: &str, matching: Value) -> Value {
        json!({
            "rule_id": id,
            "match": matching,
            "decision": {"candidate_workers_ranked": [{"worker_species_id": "wrk.doc.summarizer"}]}
        })
    }

    fn set(rules: Vec<Value>) -> Result<RuleSet, RuleSetError> {
        RuleSet::parse(&json!({ "rules": rules }))
    }

    fn input(cap: &str, env: &str, label: &str, risk: &str, qos: &str) -> RouteInput {
        RouteInput::parse(json!({
            "capability_id": cap, "env": env, "data_label": label, "tenant_risk": risk,
            "qos_class": qos, "correlation_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
        }))
        .unwrap()
    }

    fn matched<'a>(s: &'a RuleSet, i: &RouteInput) -> Option<&'a str> {
        s.first_match(i).map(|r| r.rule_id.as_str())
    }

    fn problem(rules: Vec<Value>) -> RuleSetError {
        set(rules).unwrap_err()
    }

    #[test]
    fn an_exact_value_matches_only_itself() {
        let s = set(vec![rule("r1", json!({"env": "prod"}))]).unwrap();
        let doc = "cap.doc.summarize";
        assert_eq!(
            matched(&s, &input(doc, "prod", "PUBLIC", "low", "P0")),
            Some("r1")
        );
        assert_eq!(matched(&s, &input(doc, "dev", "PUBLIC", "low", "P0")), None);
    }

    #[test]
    fn a_membership_list_matches_its_values() {
        let s = set(vec![rule(
            "r1",
            json!({"qos_class": {"in": ["P0", "P1"]}, "capability_id": {"in": ["cap.doc.summarize", "cap.doc.translate"]}}),
        )])
        .unwrap();
        assert_eq!(
            matched(
                &s,
                &input("cap.doc.translate", "dev", "PUBLIC", "low", "P1")
            ),
            Some("r1")
        );
        assert_eq!(
            matched(
                &s,
                &input("cap.doc.summarize", "dev", "PUBLIC", "low", "P0")
            ),
            Some("r1")
        );
        assert_eq!(
            matched(
                &s,
                &input("cap.doc.summarize", "dev", "PUBLIC", "low", "P2")
            ),
            None
        );
        assert_eq!(
            matched(&s, &input("cap.doc.delete", "dev", "PUBLIC", "low", "P0")),
            None
        );
    }

    #[test]
    fn a_wildcard_and_a_missing_key_match_anything() {
        let s = set(vec![rule("r1", json!({"env": {"any": true}}))]).unwrap();
        assert_eq!(
            matched(
                &s,
                &input("cap.a.b", "edge", "RESTRICTED", "critical", "P3")
            ),
            Some("r1")
        );
        let s = set(vec![rule("r1", json!({}))]).unwrap();
        assert_eq!(
            matched(&s, &input("cap.a.b", "dev", "PUBLIC", "low", "P0")),
            Some("r1")
        );
        let s = RuleSet::parse(&json!({"rules": [{"rule_id": "r1",
            "decision": {"candidate_workers_ranked": [{"worker_species_id": "wrk.a.b"}]}}]}))
        .unwrap();
        assert_eq!(
            matched(&s, &input("cap.a.b", "dev", "PUBLIC", "low", "P0")),
            Some("r1")
        );
    }

    #[test]
    fn the_first_matching_rule_wins_across_exact_and_wildcard_capabilities() {
        let s = set(vec![
            rule(
                "exact_prod",
                json!({"capability_id": "cap.doc.summarize", "env": "prod"}),
            ),
            rule("any_dev", json!({"env": "dev"})),
            rule(
                "exact_any_env",
                json!({"capability_id": "cap.doc.summarize"}),
            ),
            rule("fallback", json!({})),
        ])
        .unwrap();
        let cap = "cap.doc.summarize";
        assert_eq!(
            matched(&s, &input(cap, "prod", "PUBLIC", "low", "P0")),
            Some("exact_prod")
        );
        assert_eq!(
            matched(&s, &input(cap, "dev", "PUBLIC", "low", "P0")),
            Some("any_dev")
        );
        assert_eq!(
            matched(&s, &input(cap, "stage", "PUBLIC", "low", "P0")),
            Some("exact_any_env")
        );
        assert_eq!(
            matched(&s, &input("cap.other.x", "stage", "PUBLIC", "low", "P0")),
            Some("fallback")
        );
    }

    #[test]
    fn no_matching_rule_means_no_match() {
        let s = set(vec![rule("r1", json!({"data_label": "PUBLIC"}))]).unwrap();
        assert_eq!(
            matched(&s, &input("cap.a.b", "dev", "INTERNAL", "low", "P0")),
            None
        );
    }

    #[test]
    fn a_confidential_match_value_matches_restricted_inputs() {
        let s = set(vec![rule("r1", json!({"data_label": "CONFIDENTIAL"}))]).unwrap();
        assert_eq!(
            matched(&s, &input("cap.a.b", "dev", "RESTRICTED", "low", "P0")),
            Some("r1")
        );
        assert_eq!(
            matched(&s, &input("cap.a.b", "dev", "CONFIDENTIAL", "low", "P0")),
            Some("r1")
        );
    }

    #[test]
    fn the_decision_carries_typed_candidates_controls_profiles_and_escalation() {
        let s = RuleSet::parse(&json!({"rules": [{
            "rule_id": "rr_doc_001",
            "match": {"capability_id": "cap.doc.summarize"},
            "decision": {
                "candidate_workers_ranked": [
                    {"worker_species_id": "wrk.doc.summarizer", "score_hint": 0.9},
                    {"worker_species_id": "wrk.doc.fallback", "requires_controls_minimum": ["ctrl.a.b"]}
                ],
                "required_controls_suggested": ["ctrl.obs.audit-log-append-only", "ctrl.obs.audit-log-append-only"],
                "recommended_profiles": ["prof.doc.default"],
                "escalation": {"policy_gate": true, "human_required_default": false, "rationale": "pii"},
                "preconditions": {"deny_if_no_attestation_in_prod": true}
            }
        }]}))
        .unwrap();
        let d = &s.rules()[0].decision;
        assert_eq!(d.candidates.len(), 2);
        assert_eq!(
            d.candidates[0].worker_species_id.as_str(),
            "wrk.doc.summarizer"
        );
        assert_eq!(d.candidates[0].score_hint, Some(0.9));
        assert_eq!(
            d.candidates[1].requires_controls_minimum[0].as_str(),
            "ctrl.a.b"
        );
        assert_eq!(d.required_controls.len(), 1);
        assert_eq!(d.recommended_profiles[0].as_str(), "prof.doc.default");
        assert!(d.escalation.policy_gate);
        assert_eq!(d.escalation.rationale.as_deref(), Some("pii"));
        assert!(d.preconditions.deny_if_no_attestation_in_prod);
        assert!(
            d.preconditions.must_have_correlation_id,
            "pyhall's default is kept"
        );
    }

    #[test]
    fn bad_ids_are_refused_at_their_place() {
        let cases = [
            (rule("rr 1", json!({})), "rules[0].rule_id"),
            (
                rule("r1", json!({"capability_id": "wrk.doc.x"})),
                "rules[0].match.capability_id",
            ),
            (
                rule("r1", json!({"capability_id": {"in": ["cap.a.b", "Cap.X"]}})),
                "rules[0].match.capability_id.in[1]",
            ),
            (
                rule("r1", json!({"env": "production-eu"})),
                "rules[0].match.env",
            ),
            (
                rule("r1", json!({"qos_class": {"in": ["P5"]}})),
                "rules[0].match.qos_class.in[0]",
            ),
        ];
        for (r, path) in cases {
            assert_eq!(problem(vec![r]).path, path);
        }
        let bad_species = json!({"rules": [{"rule_id": "r1", "decision": {
            "candidate_workers_ranked": [{"worker_species_id": "cap.not.species"}]}}]});
        assert_eq!(
            RuleSet::parse(&bad_species).unwrap_err().path,
            "rules[0].decision.candidate_workers_ranked[0].worker_species_id"
        );
        let bad_control = json!({"rules": [{"rule_id": "r1", "decision": {
            "candidate_workers_ranked": [{"worker_species_id": "wrk.a.b"}],
            "required_controls_suggested": ["ctrl.ok.one", "CTRL"]}}]});
        assert_eq!(
            RuleSet::parse(&bad_control).unwrap_err().path,
            "rules[0].decision.required_controls_suggested[1]"
        );
    }

    #[test]
    fn an_unknown_enum_value_is_refused_naming_the_match_key() {
        let e = problem(vec![rule("r1", json!({"tenant_risk": "extreme"}))]);
        assert_eq!(e.path, "rules[0].match.tenant_risk");
        assert!(e.to_string().contains("tenant_risk \"extreme\""), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused_at_every_level() {
        let cases = [
            (
                json!({"rules": [rule("r1", json!({}))], "rulez": []}),
                "rulez",
            ),
            (
                json!({"rules": [rule("r1", json!({"environment": "dev"}))]}),
                "rules[0].match.environment",
            ),
            (
                json!({"rules": [{"rule_id": "r1", "when": {}, "decision": {}}]}),
                "rules[0].when",
            ),
            (
                json!({"rules": [{"rule_id": "r1", "decision": {"candidates": []}}]}),
                "rules[0].decision.candidates",
            ),
            (
                json!({"rules": [{"rule_id": "r1", "decision": {
                "candidate_workers_ranked": [{"worker_species_id": "wrk.a.b"}],
                "escalation": {"policy_gates": true}}}]}),
                "rules[0].decision.escalation.policy_gates",
            ),
        ];
        for (doc, path) in cases {
            let e = RuleSet::parse(&doc).unwrap_err();
            assert_eq!(e.path, path, "{e}");
            assert!(
                matches!(e.problem, RuleSetProblem::UnknownKey { .. }),
                "{e}"
            );
        }
    }

    #[test]
    fn malformed_match_values_are_refused() {
        for m in [
            json!({"env": {"any": false}}),
            json!({"env": {"in": ["dev"], "any": true}}),
            json!({"env": null}),
            json!({"env": ["dev"]}),
            json!({"env": {"eq": "dev"}}),
        ] {
            assert_eq!(
                problem(vec![rule("r1", m.clone())]).path,
                "rules[0].match.env",
                "{m}"
            );
        }
        assert_eq!(
            problem(vec![rule("r1", json!({"env": {"in": []}}))]).path,
            "rules[0].match.env.in"
        );
    }

    #[test]
    fn duplicate_rule_ids_are_refused_naming_the_first() {
        let e = problem(vec![
            rule("r1", json!({"env": "dev"})),
            rule("r1", json!({"env": "prod"})),
        ]);
        assert_eq!(e.path, "rules[1].rule_id");
        assert!(e.to_string().contains("rules[0]"), "{e}");
    }

    #[test]
    fn a_rule_set_that_routes_nothing_is_refused() {
        assert_eq!(problem(vec![]).problem, RuleSetProblem::NoRules);
        assert!(RuleSet::parse(&json!({})).is_err());
        assert!(RuleSet::parse(&json!([])).is_err());
    }

    #[test]
    fn a_rule_without_candidates_is_refused() {
        for doc in [
            json!({"rules": [{"rule_id": "r1", "decision": {"candidate_workers_ranked": []}}]}),
            json!({"rules": [{"rule_id": "r1", "decision": {}}]}),
            json!({"rules": [{"rule_id": "r1"}]}),
        ] {
            let e = RuleSet::parse(&doc).unwrap_err();
            assert_eq!(e.problem, RuleSetProblem::NoCandidates, "{doc}");
        }
    }

    #[test]
    fn too_many_rules_are_refused() {
        let rules: Vec<Value> = (0..=MAX_RULES)
            .map(|i| {
                rule(
                    &format!("r{i}"),
                    json!({"capability_id": format!("cap.n.c{i}")}),
                )
            })
            .collect();
        assert_eq!(problem(rules).problem, RuleSetProblem::TooManyRules);
    }

    #[test]
    fn the_largest_rule_set_with_a_catch_all_is_accepted() {
        let mut rules: Vec<Value> = (0..MAX_RULES - 1)
            .map(|i| rule(&format!("r{i}"), json!({"capability_id": format!("cap.n.c{i}"), "env": {"in": ["dev", "stage", "prod"]}})))
            .collect();
        rules.push(rule("catch_all", json!({})));
        let s = set(rules).unwrap();
        assert_eq!(
            matched(&s, &input("cap.n.c7", "edge", "PUBLIC", "low", "P0")),
            Some("catch_all")
        );
        assert_eq!(
            matched(&s, &input("cap.n.c7", "dev", "PUBLIC", "low", "P0")),
            Some("r7")
        );
    }

    #[test]
    fn a_shadowed_rule_is_refused_naming_both_rules() {
        let e = problem(vec![
            rule("broad", json!({"env": {"in": ["dev", "stage"]}})),
            rule("narrow", json!({"env": "dev", "qos_class": "P0"})),
        ]);
        assert_eq!(e.path, "rules[1]");
        assert_eq!(
            e.problem,
            RuleSetProblem::Unreachable {
                shadowed: RuleId::parse("narrow").unwrap(),
                shadowed_by: vec![RuleId::parse("broad").unwrap()],
            }
        );
        let text = e.to_string();
        assert!(
            text.contains("\"narrow\"") && text.contains("\"broad\""),
            "{text}"
        );
    }

    #[test]
    fn descriptions_are_allowed_as_documentation() {
        let mut r = rule("r1", json!({}));
        r["description"] = json!("summaries everywhere");
        assert!(RuleSet::parse(&json!({"description": "ours", "rules": [r]})).is_ok());
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const CAPS: &[&str] = &["cap.a.one", "cap.a.two", "cap.b.three"];
    const ENVS: &[&str] = &["dev", "stage", "prod", "edge"];
    const LABELS: &[&str] = &["PUBLIC", "INTERNAL", "RESTRICTED", "CONFIDENTIAL"];
    const RISKS: &[&str] = &["low", "medium", "high", "critical"];
    const QOS: &[&str] = &["P0", "P1", "P2", "P3"];

    fn cond(values: &'static [&'static str]) -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            Just(None),
            Just(Some(json!({"any": true}))),
            prop::sample::select(values).prop_map(|v| Some(json!(v))),
            prop::sample::subsequence(values, 1..=values.len())
                .prop_map(|l| Some(json!({ "in": l }))),
        ]
    }

    fn rule_doc() -> impl Strategy<Value = Value> {
        let one = (cond(CAPS), cond(ENVS), cond(LABELS), cond(RISKS), cond(QOS));
        prop::collection::vec(one, 1..8).prop_map(|rules| {
            let rules: Vec<Value> = rules
                .into_iter()
                .enumerate()
                .map(|(i, (c, e, l, r, q))| {
                    let mut m = Map::new();
                    for (k, v) in [("capability_id", c), ("env", e), ("data_label", l), ("tenant_risk", r), ("qos_class", q)] {
                        if let Some(v) = v {
                            m.insert(k.to_string(), v);
                        }
                    }
                    json!({"rule_id": format!("r{i}"), "match": m,
                           "decision": {"candidate_workers_ranked": [{"worker_species_id": "wrk.a.b"}]}})
                })
                .collect();
            json!({ "rules": rules })
        })
    }

    fn input() -> impl Strategy<Value = RouteInput> {
        (
            prop::sample::select(&["cap.a.one", "cap.a.two", "cap.b.three", "cap.z.none"][..]),
            prop::sample::select(ENVS),
            prop::sample::select(LABELS),
            prop::sample::select(RISKS),
            prop::sample::select(QOS),
        )
            .prop_map(|(c, e, l, r, q)| {
                RouteInput::parse(json!({"capability_id": c, "env": e, "data_label": l,
                    "tenant_risk": r, "qos_class": q,
                    "correlation_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301"}))
                .expect("generated inputs are valid")
            })
    }

    proptest! {
        #[test]
        fn well_formed_rule_sets_are_accepted_or_refused_only_as_unreachable(doc in rule_doc()) {
            if let Err(e) = RuleSet::parse(&doc) {
                let unreachable = matches!(e.problem, RuleSetProblem::Unreachable { .. });
                prop_assert!(unreachable, "{}", e);
            }
        }

        #[test]
        fn the_compiled_first_match_is_the_first_rule_whose_conditions_all_hold(
            doc in rule_doc(),
            inputs in prop::collection::vec(input(), 1..20),
        ) {
            if let Ok(set) = RuleSet::parse(&doc) {
                for i in &inputs {
                    let naive = set.rules().iter().find(|r| {
                        let m = &r.matching;
                        m.capability_id.matches(&i.capability_id)
                            && m.env.matches(&i.env)
                            && m.data_label.matches(&i.data_label)
                            && m.tenant_risk.matches(&i.tenant_risk)
                            && m.qos_class.matches(&i.qos_class)
                    });
                    prop_assert_eq!(
                        set.first_match(i).map(|r| &r.rule_id),
                        naive.map(|r| &r.rule_id)
                    );
                }
            }
        }

        #[test]
        fn every_rule_of_an_accepted_set_is_the_first_match_of_some_input(doc in rule_doc()) {
            if let Ok(set) = RuleSet::parse(&doc) {
                let mut reached = std::collections::HashSet::new();
                for c in ["cap.a.one", "cap.a.two", "cap.b.three", "cap.z.none"] {
                    for e in ENVS { for l in &LABELS[..3] { for r in RISKS { for q in QOS {
                        let i = RouteInput::parse(json!({"capability_id": c, "env": e,
                            "data_label": l, "tenant_risk": r, "qos_class": q,
                            "correlation_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301"}))
                            .expect("valid");
                        if let Some(rule) = set.first_match(&i) {
                            reached.insert(rule.rule_id.clone());
                        }
                    }}}}
                }
                prop_assert_eq!(reached.len(), set.rules().len());
            }
        }
    }
}
