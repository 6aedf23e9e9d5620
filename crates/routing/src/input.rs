//! The route input (WCP §4.1): the capability request an agent submits.
//! Parsed once into typed values; every refusal names the field.

use std::borrow::Cow;
use std::fmt;

use serde_json::{Map, Value};
use wcp::{BlastRadius, CapabilityId, DataLabel, Env, QosClass, RiskTier, TenantId};

/// Largest `request` payload accepted, in bytes of its compact JSON.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Largest `privilege_context`, in bytes of its compact JSON.
pub const MAX_PRIVILEGE_CONTEXT_BYTES: usize = 16 * 1024;
/// Longest `tenant_credential` accepted, in characters (as JSON Schema's
/// `maxLength` counts).
pub const MAX_CREDENTIAL_LEN: usize = 8 * 1024;

/// The fields a route input may carry: WCP §4.1 and pyhall-wcp 0.2.2's
/// `RouteInput`. Anything else is refused, so a misspelt governance field
/// (`blast_radious`) is never silently ignored.
pub const FIELDS: &[&str] = &[
    "capability_id",
    "env",
    "data_label",
    "tenant_risk",
    "qos_class",
    "tenant_id",
    "correlation_id",
    "request",
    "blast_radius",
    "blast_score",
    "privilege_context",
    "dry_run",
    "tenant_credential",
    "approval_id",
];

/// Why a route input was refused: the field and one sentence naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RouteInputError {
    pub field: Cow<'static, str>,
    pub message: String,
}

impl RouteInputError {
    fn new(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        RouteInputError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A correlation id: a UUID in its hyphenated form (any hex case; kept in
/// lower case), propagated through every telemetry event (§5.4).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CorrelationId(String);

impl CorrelationId {
    pub fn parse(s: &str) -> Result<Self, RouteInputError> {
        let groups: Vec<&str> = s.split('-').collect();
        let shape_ok = groups.len() == 5
            && groups
                .iter()
                .zip([8, 4, 4, 4, 12])
                .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()));
        if !shape_ok {
            return Err(RouteInputError::new(
                "correlation_id",
                format!(
                    "correlation_id {s:?} is not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"
                ),
            ));
        }
        Ok(CorrelationId(s.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A typed route input.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteInput {
    pub capability_id: CapabilityId,
    pub env: Env,
    pub data_label: DataLabel,
    pub tenant_risk: RiskTier,
    pub qos_class: QosClass,
    /// The tenant the request names; absent means the caller's own (the
    /// router decides what a named tenant may be).
    pub tenant_id: Option<TenantId>,
    pub correlation_id: CorrelationId,
    /// The worker's payload: opaque to routing, at most
    /// [`MAX_REQUEST_BYTES`].
    pub request: Map<String, Value>,
    /// Declared blast radius (§6), if the caller computed it.
    pub blast_radius: Option<BlastRadius>,
    /// A pre-computed blast score, 0–100.
    pub blast_score: Option<u8>,
    /// Privilege context for envelope checks: opaque, bounded.
    pub privilege_context: Option<Map<String, Value>>,
    /// Decide fully, execute nothing (§5.5).
    pub dry_run: bool,
    pub tenant_credential: Option<String>,
    /// An approved human approval (§5.8) for exactly this request, from an
    /// earlier decision's `pending_approval_id` (ours; pyhall has none).
    /// A UUID, kept in lower case.
    pub approval_id: Option<String>,
}

impl RouteInput {
    /// Parses a route input; `data_label` is required.
    pub fn parse(value: Value) -> Result<RouteInput, RouteInputError> {
        Self::parse_inner(value, None)
    }

    /// Parses a route input, reading an omitted `data_label` as `default`
    /// (the tenant's configured label: an omitted label must never widen
    /// access).
    pub fn parse_with_default_label(
        value: Value,
        default: DataLabel,
    ) -> Result<RouteInput, RouteInputError> {
        Self::parse_inner(value, Some(default))
    }

    fn parse_inner(
        value: Value,
        default_label: Option<DataLabel>,
    ) -> Result<RouteInput, RouteInputError> {
        let Value::Object(mut obj) = value else {
            return Err(RouteInputError::new(
                "",
                "a route input must be a JSON object",
            ));
        };
        if let Some(unknown) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(RouteInputError::new(
                Cow::Owned(unknown.clone()),
                format!(
                    "{unknown:?} is not a route input field; the fields are {}",
                    FIELDS.join(", ")
                ),
            ));
        }

        let capability_id =
            CapabilityId::parse(required_str(&obj, "capability_id")?).map_err(|e| {
                RouteInputError::new("capability_id", e.field("capability_id").to_string())
            })?;
        let env = Env::parse(required_str(&obj, "env")?).map_err(vocab("env"))?;
        let data_label = match (optional_str(&obj, "data_label")?, default_label) {
            (Some(s), _) => crate::parse_data_label(s).map_err(vocab("data_label"))?,
            (None, Some(default)) => default,
            (None, None) => return Err(missing("data_label")),
        };
        let tenant_risk =
            RiskTier::parse(required_str(&obj, "tenant_risk")?).map_err(vocab("tenant_risk"))?;
        let qos_class =
            QosClass::parse(required_str(&obj, "qos_class")?).map_err(vocab("qos_class"))?;
        let tenant_id = optional_str(&obj, "tenant_id")?
            .map(|s| {
                TenantId::parse(s).map_err(|e| {
                    RouteInputError::new("tenant_id", e.field("tenant_id").to_string())
                })
            })
            .transpose()?;
        let correlation_id = CorrelationId::parse(required_str(&obj, "correlation_id")?)?;

        let request = match obj.remove("request") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m,
            Some(_) => return Err(not_object("request")),
        };
        check_size("request", &request, MAX_REQUEST_BYTES)?;

        let blast_radius = match obj.get("blast_radius") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                BlastRadius::from_json(v)
                    .map_err(|e| RouteInputError::new("blast_radius", e.to_string()))?,
            ),
        };
        let blast_score = match obj.get("blast_score") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(n) if n <= 100 => u8::try_from(n).ok(),
                _ => {
                    return Err(RouteInputError::new(
                        "blast_score",
                        format!("blast_score is {v}; it must be an integer from 0 to 100"),
                    ))
                }
            },
        };
        let privilege_context = match obj.remove("privilege_context") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => {
                check_size("privilege_context", &m, MAX_PRIVILEGE_CONTEXT_BYTES)?;
                Some(m)
            }
            Some(_) => return Err(not_object("privilege_context")),
        };
        let dry_run = match obj.get("dry_run") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(RouteInputError::new(
                    "dry_run",
                    "dry_run must be true or false",
                ))
            }
        };
        let tenant_credential = match optional_str(&obj, "tenant_credential")? {
            Some(s) if s.chars().count() > MAX_CREDENTIAL_LEN => {
                return Err(RouteInputError::new(
                    "tenant_credential",
                    format!("tenant_credential is longer than {MAX_CREDENTIAL_LEN} characters"),
                ))
            }
            other => other.map(str::to_string),
        };

        let approval_id = optional_str(&obj, "approval_id")?
            .map(|s| {
                CorrelationId::parse(s).map(|id| id.0).map_err(|_| {
                    RouteInputError::new(
                        "approval_id",
                        format!(
                            "approval_id {s:?} is not a UUID; send the pending_approval_id \
                                 an earlier decision gave"
                        ),
                    )
                })
            })
            .transpose()?;

        Ok(RouteInput {
            capability_id,
            env,
            data_label,
            tenant_risk,
            qos_class,
            tenant_id,
            correlation_id,
            request,
            blast_radius,
            blast_score,
            privilege_context,
            dry_run,
            tenant_credential,
            approval_id,
        })
    }
}

fn missing(field: &'static str) -> RouteInputError {
    RouteInputError::new(field, format!("{field} is required"))
}

fn not_object(field: &'static str) -> RouteInputError {
    RouteInputError::new(field, format!("{field} must be a JSON object"))
}

fn vocab(field: &'static str) -> impl Fn(wcp::VocabError) -> RouteInputError {
    move |e| RouteInputError::new(field, e.field(field).to_string())
}

fn optional_str<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, RouteInputError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(RouteInputError::new(
            field,
            format!("{field} must be a string"),
        )),
    }
}

fn required_str<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, RouteInputError> {
    optional_str(obj, field)?.ok_or_else(|| missing(field))
}

fn check_size(
    field: &'static str,
    map: &Map<String, Value>,
    max: usize,
) -> Result<(), RouteInputError> {
    // Serialising a `Map` cannot fail (string keys, JSON values).
    let len = serde_json::to_vec(map)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if len > max {
        return Err(RouteInputError::new(
            field,
            format!("{field} is {len} bytes of JSON; at most {max} are accepted"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body() -> Value {
        json!({
            "capability_id": "cap.doc.summarize",
            "env": "dev",
            "data_label": "INTERNAL",
            "tenant_risk": "low",
            "qos_class": "P2",
            "tenant_id": "org.acme",
            "correlation_id": "3F2504E0-4F89-41D3-9A0C-0305E82C3301",
            "request": {"text": "hello"}
        })
    }

    fn with(key: &str, value: Value) -> Value {
        let mut b = body();
        b[key] = value;
        b
    }

    fn without(key: &str) -> Value {
        let mut b = body();
        b.as_object_mut().map(|o| o.remove(key));
        b
    }

    #[test]
    fn a_complete_input_parses_into_typed_values() {
        let input = RouteInput::parse(body()).unwrap();
        assert_eq!(input.capability_id.as_str(), "cap.doc.summarize");
        assert_eq!(input.env, Env::Dev);
        assert_eq!(input.data_label, DataLabel::Internal);
        assert_eq!(input.tenant_risk, RiskTier::Low);
        assert_eq!(input.qos_class, QosClass::P2);
        assert_eq!(input.tenant_id.unwrap().as_str(), "org.acme");
        assert_eq!(
            input.correlation_id.as_str(),
            "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
        );
        assert_eq!(input.request["text"], "hello");
        assert!(!input.dry_run);
    }

    #[test]
    fn confidential_input_is_routed_as_restricted() {
        let input = RouteInput::parse(with("data_label", json!("CONFIDENTIAL"))).unwrap();
        assert_eq!(input.data_label, DataLabel::Restricted);
    }

    #[test]
    fn an_omitted_label_is_refused_unless_a_default_is_given() {
        let err = RouteInput::parse(without("data_label")).unwrap_err();
        assert_eq!(err.field, "data_label");
        let input =
            RouteInput::parse_with_default_label(without("data_label"), DataLabel::Restricted)
                .unwrap();
        assert_eq!(input.data_label, DataLabel::Restricted);
    }

    #[test]
    fn each_refusal_names_its_field() {
        for (key, value) in [
            ("capability_id", json!("wrk.doc.summarizer")),
            ("env", json!("moon")),
            ("data_label", json!("SECRET")),
            ("tenant_risk", json!("extreme")),
            ("qos_class", json!("P9")),
            ("tenant_id", json!("Not An Id")),
            ("correlation_id", json!("not-a-uuid")),
            ("request", json!([1, 2])),
            ("blast_radius", json!({"data": 9})),
            ("blast_score", json!(101)),
            ("blast_score", json!(true)),
            ("privilege_context", json!("root")),
            ("dry_run", json!("yes")),
            ("approval_id", json!("approval-1")),
            ("env", json!(3)),
        ] {
            let err = RouteInput::parse(with(key, value.clone())).unwrap_err();
            assert_eq!(err.field, key, "{key}={value}: {err}");
            assert!(err.message.contains(key), "{key}={value}: {err}");
        }
    }

    #[test]
    fn a_missing_required_field_is_named() {
        for key in [
            "capability_id",
            "env",
            "tenant_risk",
            "qos_class",
            "correlation_id",
        ] {
            let err = RouteInput::parse(without(key)).unwrap_err();
            assert_eq!(err.field, key);
            assert_eq!(err.message, format!("{key} is required"));
        }
    }

    #[test]
    fn an_unknown_field_is_refused_by_name() {
        let err = RouteInput::parse(with("blast_radious", json!({}))).unwrap_err();
        assert_eq!(err.field, "blast_radious");
    }

    #[test]
    fn an_oversized_request_payload_is_refused() {
        let big = "x".repeat(MAX_REQUEST_BYTES);
        let err = RouteInput::parse(with("request", json!({ "text": big }))).unwrap_err();
        assert_eq!(err.field, "request");
        let fits = "x".repeat(MAX_REQUEST_BYTES - 100);
        assert!(RouteInput::parse(with("request", json!({ "text": fits }))).is_ok());
    }

    #[test]
    fn blast_inputs_are_typed() {
        let mut b = body();
        b["blast_radius"] = json!({"data": 2, "network": 1});
        b["blast_score"] = json!(40);
        b["dry_run"] = json!(true);
        let input = RouteInput::parse(b).unwrap();
        assert_eq!(input.blast_radius.unwrap().data, 2);
        assert_eq!(input.blast_score, Some(40));
        assert!(input.dry_run);
    }

    #[test]
    fn an_omitted_tenant_and_request_are_allowed() {
        let mut b = without("tenant_id");
        b.as_object_mut().map(|o| o.remove("request"));
        let input = RouteInput::parse(b).unwrap();
        assert!(input.tenant_id.is_none());
        assert!(input.request.is_empty());
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn junk() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            ".{0,12}".prop_map(Value::String),
            "[a-z]{1,8}(\\.[a-z0-9-]{1,8}){1,3}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn valid() -> Value {
        json!({
            "capability_id": "cap.doc.summarize", "env": "dev", "data_label": "INTERNAL",
            "tenant_risk": "low", "qos_class": "P2",
            "correlation_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
        })
    }

    proptest! {
        #[test]
        fn any_json_is_parsed_or_refused_without_panicking(v in junk()) {
            let _ = RouteInput::parse(v);
        }

        #[test]
        fn a_junk_field_is_accepted_or_refused_by_its_name(
            field in prop::sample::select(FIELDS),
            v in junk(),
        ) {
            let mut body = valid();
            body[field] = v;
            if let Err(e) = RouteInput::parse(body) {
                prop_assert_eq!(e.field.as_ref(), field, "{}", e);
            }
        }
    }
}
