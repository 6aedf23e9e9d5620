//! A route decision's telemetry envelopes (§5.4), typed. Every envelope of a
//! decision repeats the decision's common fields ([`EnvelopeCommon`]); what
//! the envelopes add is small ([`Telemetry`]). The decision's receipt
//! (version 3) records every common field, so the store keeps only the
//! [`Telemetry`] beside the receipt and the envelopes are rebuilt from the
//! two ([`Envelopes`]): one definition of the envelopes for the answer, the
//! store and the telemetry query.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};

/// The telemetry event ids (§5.4; pyhall's spellings).
pub mod event {
    pub const TASK_ROUTED: &str = "evt.os.task.routed";
    pub const WORKER_SELECTED: &str = "evt.os.worker.selected";
    pub const POLICY_GATED: &str = "evt.os.policy.gated";
    pub const TASK_DENIED: &str = "evt.os.task.denied";
}

/// `reason` of `evt.os.worker.selected`: the first candidate that passed.
pub const FIRST_AVAILABLE_CANDIDATE: &str = "first_available_candidate";

/// The fields every envelope of one decision carries, each as the decision
/// (and its receipt) says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeCommon {
    pub decision_id: String,
    /// RFC 3339, UTC: the decision's `timestamp` (its receipt's `decided_at`).
    pub timestamp: String,
    pub correlation_id: String,
    pub tenant_id: String,
    pub capability_id: String,
    /// The rule that matched, or `"NO_MATCH"`.
    pub matched_rule_id: String,
    pub selected_worker_species_id: Option<String>,
    pub rules_version: Option<String>,
    /// A dry run's envelopes say so (`"dry_run": true`); others do not.
    pub dry_run: bool,
}

/// What a decision's envelopes say beyond [`EnvelopeCommon`]: the part its
/// receipt does not record, stored beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Telemetry {
    /// Allowed: `evt.os.task.routed`, `evt.os.worker.selected`,
    /// `evt.os.policy.gated`.
    Routed {
        policy_version: String,
        qos_class: String,
        selected_worker_id: Option<String>,
        /// `no_gate_required`, `policy_gate_allow` or `human_approved`.
        gate_reason: String,
    },
    /// Denied (REQUIRE_HUMAN included): one `evt.os.task.denied`.
    Denied {
        deny_code: String,
        deny_message: String,
    },
}

/// A decision's envelopes: serialised as the JSON array §5.4 describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelopes {
    pub common: EnvelopeCommon,
    pub telemetry: Telemetry,
}

impl Envelopes {
    /// The event ids, in order.
    pub fn event_ids(&self) -> &'static [&'static str] {
        match self.telemetry {
            Telemetry::Routed { .. } => &[
                event::TASK_ROUTED,
                event::WORKER_SELECTED,
                event::POLICY_GATED,
            ],
            Telemetry::Denied { .. } => &[event::TASK_DENIED],
        }
    }

    /// Each envelope as a JSON value (for readers that take them one by one).
    pub fn to_values(&self) -> Vec<serde_json::Value> {
        // Serialising these plain strings and booleans cannot fail.
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Array(a)) => a,
            _ => Vec::new(),
        }
    }
}

/// One envelope: the common fields, then its own.
struct Envelope<'a> {
    event_id: &'static str,
    common: &'a EnvelopeCommon,
    own: &'a [(&'static str, Field<'a>)],
}

/// The value of an envelope's own field.
enum Field<'a> {
    Str(&'a str),
    OptStr(Option<&'a str>),
}

impl Serialize for Field<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Str(v) => s.serialize_str(v),
            Field::OptStr(v) => v.serialize(s),
        }
    }
}

impl Serialize for Envelope<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.common;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("event_id", self.event_id)?;
        m.serialize_entry("decision_id", &c.decision_id)?;
        m.serialize_entry("timestamp", &c.timestamp)?;
        m.serialize_entry("correlation_id", &c.correlation_id)?;
        m.serialize_entry("tenant_id", &c.tenant_id)?;
        m.serialize_entry("capability_id", &c.capability_id)?;
        m.serialize_entry("matched_rule_id", &c.matched_rule_id)?;
        m.serialize_entry("selected_worker_species_id", &c.selected_worker_species_id)?;
        m.serialize_entry("rules_version", &c.rules_version)?;
        for (k, v) in self.own {
            m.serialize_entry(k, v)?;
        }
        if c.dry_run {
            m.serialize_entry("dry_run", &true)?;
        }
        m.end()
    }
}

impl Serialize for Envelopes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let common = &self.common;
        match &self.telemetry {
            Telemetry::Routed {
                policy_version,
                qos_class,
                selected_worker_id,
                gate_reason,
            } => {
                let mut seq = s.serialize_seq(Some(3))?;
                seq.serialize_element(&Envelope {
                    event_id: event::TASK_ROUTED,
                    common,
                    own: &[
                        ("policy_version", Field::Str(policy_version)),
                        ("qos_class", Field::Str(qos_class)),
                    ],
                })?;
                seq.serialize_element(&Envelope {
                    event_id: event::WORKER_SELECTED,
                    common,
                    own: &[
                        (
                            "selected_worker_id",
                            Field::OptStr(selected_worker_id.as_deref()),
                        ),
                        ("reason", Field::Str(FIRST_AVAILABLE_CANDIDATE)),
                    ],
                })?;
                seq.serialize_element(&Envelope {
                    event_id: event::POLICY_GATED,
                    common,
                    own: &[
                        ("decision", Field::Str("ALLOW")),
                        ("policy_version", Field::Str(policy_version)),
                        ("reason", Field::Str(gate_reason)),
                    ],
                })?;
                seq.end()
            }
            Telemetry::Denied {
                deny_code,
                deny_message,
            } => {
                let mut seq = s.serialize_seq(Some(1))?;
                seq.serialize_element(&Envelope {
                    event_id: event::TASK_DENIED,
                    common,
                    own: &[
                        ("deny_code", Field::Str(deny_code)),
                        ("deny_message", Field::Str(deny_message)),
                    ],
                })?;
                seq.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn common(dry_run: bool) -> EnvelopeCommon {
        EnvelopeCommon {
            decision_id: "01a21740-998a-75ac-9b90-78f71b7f9d25".into(),
            timestamp: "2026-11-26T09:47:19.306320Z".into(),
            correlation_id: "a962ccc5-8755-47ea-af23-6d32b5d4a8ad".into(),
            tenant_id: "org.acme".into(),
            capability_id: "cap.doc.summarize".into(),
            matched_rule_id: "rr_doc".into(),
            selected_worker_species_id: Some("wrk.doc.summarizer".into()),
            rules_version: Some("3".into()),
            dry_run,
        }
    }

    fn common_json() -> serde_json::Value {
        json!({
            "decision_id": "01a21740-998a-75ac-9b90-78f71b7f9d25",
            "timestamp": "2026-11-26T09:47:19.306320Z",
            "correlation_id": "a962ccc5-8755-47ea-af23-6d32b5d4a8ad",
            "tenant_id": "org.acme",
            "capability_id": "cap.doc.summarize",
            "matched_rule_id": "rr_doc",
            "selected_worker_species_id": "wrk.doc.summarizer",
            "rules_version": "3",
        })
    }

    fn with(extra: serde_json::Value) -> serde_json::Value {
        let mut v = common_json();
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    }

    #[test]
    fn an_allowed_route_has_the_three_envelopes_pyhall_sends() {
        let e = Envelopes {
            common: common(false),
            telemetry: Telemetry::Routed {
                policy_version: "hall-default-policy/1".into(),
                qos_class: "P2".into(),
                selected_worker_id: Some("org.acme.summarizer".into()),
                gate_reason: "no_gate_required".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!([
                with(json!({"event_id": "evt.os.task.routed",
                    "policy_version": "hall-default-policy/1", "qos_class": "P2"})),
                with(json!({"event_id": "evt.os.worker.selected",
                    "selected_worker_id": "org.acme.summarizer",
                    "reason": "first_available_candidate"})),
                with(
                    json!({"event_id": "evt.os.policy.gated", "decision": "ALLOW",
                    "policy_version": "hall-default-policy/1", "reason": "no_gate_required"})
                ),
            ])
        );
        assert_eq!(e.to_values().len(), 3);
        assert_eq!(e.event_ids()[1], event::WORKER_SELECTED);
    }

    #[test]
    fn a_denied_route_has_one_envelope_and_a_dry_run_says_so_in_it() {
        let e = Envelopes {
            common: common(true),
            telemetry: Telemetry::Denied {
                deny_code: "DENY_NO_MATCHING_RULE".into(),
                deny_message: "no rule matched".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!([with(json!({"event_id": "evt.os.task.denied",
                "deny_code": "DENY_NO_MATCHING_RULE", "deny_message": "no rule matched",
                "dry_run": true}))])
        );
    }

    #[test]
    fn the_stored_telemetry_reads_back_as_written_and_refuses_what_it_is_not() {
        let t = Telemetry::Routed {
            policy_version: "p/1".into(),
            qos_class: "P0".into(),
            selected_worker_id: None,
            gate_reason: "human_approved".into(),
        };
        let text = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<Telemetry>(&text).unwrap(), t);
        assert!(serde_json::from_str::<Telemetry>(r#"{"kind": "sent"}"#).is_err());
        assert!(serde_json::from_str::<Telemetry>(
            r#"{"kind": "denied", "deny_code": "X", "deny_message": "m", "more": 1}"#
        )
        .is_err());
    }
}
