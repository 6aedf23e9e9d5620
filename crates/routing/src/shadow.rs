//! Unreachable rules. A later rule is shadowed when every input it matches
//! is matched first by an earlier rule.
//!
//! pyhall's `detect_shadow_rules` compares rules pairwise: an earlier rule
//! shadows a later one when, on every match key, its condition covers the
//! later one's (absent or `{"any": true}` covers everything; `{"in": L}`
//! covers a value in `L` and any subset of `L`; a value covers itself).
//! That is sound but incomplete, and this module is stricter in three ways,
//! each still exact (a rule is only refused when no input can reach it):
//! - conditions are compared as the sets of inputs they match, so `"a"` and
//!   `{"in": ["a"]}` are the same condition, and a list naming every value
//!   of an enumeration (`env: {"in": ["dev", "stage", "prod", "edge"]}`) is
//!   the wildcard;
//! - a rule covered by several earlier rules together (one for `dev`, one
//!   for `prod`, then one for both) is unreachable too: each point of the
//!   later rule's match (its capabilities, or when it matches any
//!   capability, every capability an earlier rule names plus one no rule
//!   names, times its enumeration values) is checked against the earlier
//!   rules.

use std::collections::BTreeSet;

use serde_json::Value;
use wcp::{CapabilityId, DataLabel, Env, QosClass, RiskTier};

use crate::rules::{parse_rules, Compiled, MatchValue, RuleId, RuleSetError};

/// One earlier rule that matches every input a later rule matches.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ShadowPair {
    pub shadower: RuleId,
    pub shadowed: RuleId,
}

/// Every pair (earlier, later) where the earlier rule alone covers the later
/// one, in rule order: the relation pyhall's `detect_shadow_rules` reports,
/// computed on sets of matched inputs. Checks the document's structure, not
/// its reachability (that is [`crate::RuleSet::parse`]'s refusal).
pub fn shadow_pairs(doc: &Value) -> Result<Vec<ShadowPair>, RuleSetError> {
    let rules = parse_rules(doc)?;
    let compiled: Vec<Compiled> = rules
        .iter()
        .map(|r| Compiled::of_spec(&r.matching))
        .collect();
    let mut pairs = Vec::new();
    for (j, late) in compiled.iter().enumerate() {
        for (i, early) in compiled[..j].iter().enumerate() {
            if covers(early, late) {
                pairs.push(ShadowPair {
                    shadower: rules[i].rule_id.clone(),
                    shadowed: rules[j].rule_id.clone(),
                });
            }
        }
    }
    Ok(pairs)
}

/// Does `early` match every input `late` matches?
pub(crate) fn covers(early: &Compiled, late: &Compiled) -> bool {
    let caps = match (&early.capability, &late.capability) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(e), Some(l)) => e.is_superset(l),
    };
    caps && late.env & !early.env == 0
        && late.data_label & !early.data_label == 0
        && late.tenant_risk & !early.tenant_risk == 0
        && late.qos_class & !early.qos_class == 0
}

/// The first rule no input can reach, with the earlier rules that take its
/// inputs: one rule when a single earlier rule covers it, otherwise every
/// earlier rule that is the first match for some of its inputs.
pub(crate) fn first_unreachable(rules: &[Compiled]) -> Option<(usize, Vec<usize>)> {
    for (j, late) in rules.iter().enumerate() {
        let earlier = &rules[..j];
        if let Some(i) = earlier.iter().position(|e| covers(e, late)) {
            return Some((j, vec![i]));
        }
        if let Some(by) = covered_jointly(earlier, late) {
            return Some((j, by));
        }
    }
    None
}

fn bits<T: MatchValue>(mask: u8) -> impl Iterator<Item = u8> {
    T::ALL
        .iter()
        .map(|v| v.bit())
        .filter(move |b| mask & b != 0)
}

/// `Some(first matches)` when every point of `late` is matched by one of
/// `earlier`; `None` as soon as one point is not.
fn covered_jointly(earlier: &[Compiled], late: &Compiled) -> Option<Vec<usize>> {
    let overlapping: Vec<usize> = (0..earlier.len())
        .filter(|&i| intersects(&earlier[i], late))
        .collect();
    if overlapping.is_empty() {
        return None;
    }
    // Capability points: `None` stands for a capability no earlier rule names.
    let caps: Vec<Option<&CapabilityId>> = match &late.capability {
        Some(set) => set.iter().map(Some).collect(),
        None => {
            let named: BTreeSet<&CapabilityId> = overlapping
                .iter()
                .filter_map(|&i| earlier[i].capability.as_ref())
                .flatten()
                .collect();
            // The unnamed capability first: it is the likeliest to be uncovered.
            [None]
                .into_iter()
                .chain(named.into_iter().map(Some))
                .collect()
        }
    };
    let mut firsts = BTreeSet::new();
    for cap in caps {
        for env in bits::<Env>(late.env) {
            for label in bits::<DataLabel>(late.data_label) {
                for risk in bits::<RiskTier>(late.tenant_risk) {
                    for qos in bits::<QosClass>(late.qos_class) {
                        let first = overlapping.iter().copied().find(|&i| {
                            let e = &earlier[i];
                            let cap_ok = match (&e.capability, cap) {
                                (None, _) => true,
                                (Some(set), Some(c)) => set.contains(c),
                                (Some(_), None) => false,
                            };
                            cap_ok && e.matches_enums(env, label, risk, qos)
                        })?;
                        firsts.insert(first);
                    }
                }
            }
        }
    }
    Some(firsts.into_iter().collect())
}

fn intersects(a: &Compiled, b: &Compiled) -> bool {
    let caps = match (&a.capability, &b.capability) {
        (Some(x), Some(y)) => !x.is_disjoint(y),
        _ => true,
    };
    caps && a.matches_enums(b.env, b.data_label, b.tenant_risk, b.qos_class)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{RuleSet, RuleSetProblem};
    use serde_json::json;

    fn rules(matches: &[Value]) -> Value {
        let list: Vec<Value> = matches
            .iter()
            .enumerate()
            .map(|(i, m)| {
                json!({"rule_id": format!("r{i}"), "match": m,
                       "decision": {"candidate_workers_ranked": [{"worker_species_id": "wrk.a.b"}]}})
            })
            .collect();
        json!({ "rules": list })
    }

    fn pairs(matches: &[Value]) -> Vec<(String, String)> {
        shadow_pairs(&rules(matches))
            .unwrap()
            .into_iter()
            .map(|p| (p.shadower.to_string(), p.shadowed.to_string()))
            .collect()
    }

    fn pair(a: &str, b: &str) -> (String, String) {
        (a.to_string(), b.to_string())
    }

    /// The earlier rules that make the first unreachable rule unreachable.
    fn unreachable(matches: &[Value]) -> Option<(String, Vec<String>)> {
        match RuleSet::parse(&rules(matches)) {
            Ok(_) => None,
            Err(e) => match e.problem {
                RuleSetProblem::Unreachable {
                    shadowed,
                    shadowed_by,
                } => Some((
                    shadowed.to_string(),
                    shadowed_by.iter().map(|r| r.to_string()).collect(),
                )),
                other => panic!("{other}"),
            },
        }
    }

    #[test]
    fn identical_matches_shadow() {
        let m = json!({"env": "dev"});
        assert_eq!(pairs(&[m.clone(), m]), vec![pair("r0", "r1")]);
    }

    #[test]
    fn a_missing_key_or_wildcard_shadows_any_condition_on_that_key() {
        assert_eq!(
            pairs(&[json!({}), json!({"env": "dev"})]),
            vec![pair("r0", "r1")]
        );
        assert_eq!(
            pairs(&[
                json!({"env": {"any": true}}),
                json!({"env": {"in": ["dev", "prod"]}})
            ]),
            vec![pair("r0", "r1")]
        );
    }

    #[test]
    fn a_narrower_earlier_rule_does_not_shadow_a_broader_later_one() {
        assert!(pairs(&[json!({"env": "dev"}), json!({})]).is_empty());
        assert!(pairs(&[
            json!({"env": {"in": ["dev"]}}),
            json!({"env": {"any": true}})
        ])
        .is_empty());
        assert!(pairs(&[
            json!({"capability_id": {"in": ["cap.a.b"]}}),
            json!({"env": "dev"})
        ])
        .is_empty());
    }

    #[test]
    fn a_membership_list_shadows_its_values_and_its_subsets_only() {
        let early = json!({"env": {"in": ["dev", "stage"]}});
        assert_eq!(
            pairs(&[early.clone(), json!({"env": "dev"})]),
            vec![pair("r0", "r1")]
        );
        assert_eq!(
            pairs(&[early.clone(), json!({"env": {"in": ["stage"]}})]),
            vec![pair("r0", "r1")]
        );
        assert!(pairs(&[early.clone(), json!({"env": {"in": ["stage", "prod"]}})]).is_empty());
        assert!(pairs(&[early, json!({"env": "prod"})]).is_empty());
    }

    #[test]
    fn an_exact_value_and_a_one_value_list_are_the_same_condition() {
        // pyhall misses this one; no input can reach r1.
        assert_eq!(
            pairs(&[json!({"env": "dev"}), json!({"env": {"in": ["dev"]}})]),
            vec![pair("r0", "r1")]
        );
    }

    #[test]
    fn a_list_of_every_enum_value_is_the_wildcard() {
        // pyhall misses this one too.
        assert_eq!(
            pairs(&[
                json!({"env": {"in": ["dev", "stage", "prod", "edge"]}}),
                json!({})
            ]),
            vec![pair("r0", "r1")]
        );
    }

    #[test]
    fn extra_constraints_on_other_keys_only_narrow_the_later_rule() {
        assert_eq!(
            pairs(&[
                json!({"env": "dev"}),
                json!({"env": "dev", "qos_class": "P0", "capability_id": "cap.a.b"})
            ]),
            vec![pair("r0", "r1")]
        );
        assert!(pairs(&[
            json!({"env": "dev", "qos_class": "P0"}),
            json!({"env": "dev"})
        ])
        .is_empty());
    }

    #[test]
    fn every_earlier_shadower_is_listed() {
        assert_eq!(
            pairs(&[
                json!({"env": "dev"}),
                json!({"qos_class": "P0"}),
                json!({"env": "dev", "qos_class": "P0"})
            ]),
            vec![pair("r0", "r2"), pair("r1", "r2")]
        );
    }

    #[test]
    fn overlapping_lists_do_not_shadow_but_their_union_does() {
        let m = [
            json!({"env": {"in": ["dev", "stage"]}}),
            json!({"env": {"in": ["stage", "prod"]}}),
            json!({"env": {"in": ["dev", "prod"]}}),
        ];
        assert!(pairs(&m).is_empty(), "no single earlier rule covers r2");
        assert_eq!(
            unreachable(&m),
            Some(("r2".to_string(), vec!["r0".to_string(), "r1".to_string()]))
        );
    }

    #[test]
    fn rules_covering_every_value_together_shadow_a_wildcard_rule() {
        let m = [
            json!({"data_label": "PUBLIC"}),
            json!({"data_label": {"in": ["INTERNAL", "RESTRICTED"]}}),
            json!({"qos_class": "P0"}),
        ];
        assert_eq!(
            unreachable(&m),
            Some(("r2".to_string(), vec!["r0".to_string(), "r1".to_string()]))
        );
    }

    #[test]
    fn capability_specific_rules_never_cover_a_wildcard_capability() {
        // Some capability no rule names still reaches r2.
        let m = [
            json!({"capability_id": "cap.a.b"}),
            json!({"capability_id": {"in": ["cap.c.d", "cap.e.f"]}}),
            json!({"env": "dev"}),
        ];
        assert_eq!(unreachable(&m), None);
        let m = [
            json!({"capability_id": "cap.a.b"}),
            json!({"env": {"in": ["dev", "stage"]}}),
            json!({"env": {"in": ["prod", "edge"]}}),
            json!({"capability_id": {"in": ["cap.a.b", "cap.x.y"]}}),
        ];
        assert_eq!(
            unreachable(&m),
            Some((
                "r3".to_string(),
                vec!["r0".to_string(), "r1".to_string(), "r2".to_string()]
            ))
        );
    }

    #[test]
    fn a_partly_covered_rule_stays_reachable() {
        let m = [
            json!({"env": "dev", "qos_class": "P0"}),
            json!({"env": "prod"}),
            json!({"env": {"in": ["dev", "prod"]}}),
        ];
        assert_eq!(unreachable(&m), None);
    }

    #[test]
    fn the_refusal_names_one_shadower_when_one_suffices() {
        let m = [
            json!({"env": "dev"}),
            json!({}),
            json!({"env": "dev", "qos_class": "P1"}),
        ];
        assert_eq!(
            unreachable(&m),
            Some(("r2".to_string(), vec!["r0".to_string()]))
        );
    }
}
