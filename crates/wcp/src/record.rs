//! Worker registrations. Two forms are accepted and become one
//! [`WorkerRecord`]:
//!
//! - the seed SDK's: `{"name", "namespace", "capabilities", "policy_tier"}`;
//! - a full WCP registry record: `{"worker_id", "worker_species_id",
//!   "capabilities", "risk_tier", "allowed_environments", …, "artifact_hash"}`.
//!
//! Every field is checked here, with errors naming the field and the rule;
//! fields this registry does not know are kept (the WCP schema allows them,
//! and the artifact hash covers them).

use serde_json::{Map, Value};

use crate::canonical::artifact_hash;
use crate::id::{CapabilityId, ControlId, IdError, Namespace, SpeciesId, WorkerId};
use crate::privilege::PrivilegeEnvelope;
use crate::vocab::{BlastRadius, DataLabel, Env, RiskTier, Visibility, VocabError};

/// The highest policy tier (L8, gatekeeper).
pub const MAX_POLICY_TIER: u8 = 8;
const MAX_CAPABILITIES: usize = 256;
const MAX_CONTROLS: usize = 256;
const MAX_CONTACT_LEN: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("the registration must be a JSON object")]
    NotAnObject,
    /// `message` is one sentence that names `field` (once).
    #[error("{message}")]
    Field { field: String, message: String },
    #[error(
        "artifact_hash {declared} does not match the record ({computed}): the record was \
         changed after it was hashed"
    )]
    Tampered { declared: String, computed: String },
}

impl RecordError {
    /// `field` followed by `rest`: `RecordError::field("policy_tier", "must be …")`.
    fn field(field: impl Into<String>, rest: impl std::fmt::Display) -> Self {
        let field = field.into();
        RecordError::Field {
            message: format!("{field} {rest}"),
            field,
        }
    }

    /// A whole sentence about `field` (that names it).
    fn sentence(field: impl Into<String>, message: impl Into<String>) -> Self {
        RecordError::Field {
            field: field.into(),
            message: message.into(),
        }
    }

    fn id(field: impl Into<String>, e: IdError) -> Self {
        let field = field.into();
        Self::sentence(field.clone(), e.field(field).to_string())
    }

    fn vocab(field: &'static str, e: VocabError) -> Self {
        Self::sentence(field, e.field(field).to_string())
    }
}

/// A checked worker registration.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerRecord {
    pub worker_id: WorkerId,
    pub species: Option<SpeciesId>,
    pub capabilities: Vec<CapabilityId>,
    pub policy_tier: u8,
    pub risk_tier: Option<RiskTier>,
    pub allowed_environments: Vec<Env>,
    pub required_controls: Vec<ControlId>,
    pub currently_implements: Vec<ControlId>,
    pub blast_radius: Option<(BlastRadius, Value)>,
    pub privilege_envelope: Option<Value>,
    /// The authority namespace standing behind the worker (= its namespace).
    pub owner: Namespace,
    pub contact: Option<String>,
    /// `sha256:<hex>`, checked against the record when given.
    pub artifact_hash: Option<String>,
    pub max_data_label: DataLabel,
    pub visibility: Visibility,
    /// The registration as submitted.
    pub record: Map<String, Value>,
}

impl WorkerRecord {
    pub fn namespace(&self) -> Namespace {
        self.worker_id.namespace()
    }

    /// Checks a registration body in either form.
    pub fn parse(body: &Value) -> Result<Self, RecordError> {
        let record = body.as_object().ok_or(RecordError::NotAnObject)?.clone();
        if let Some(field) = nul_at(body, "") {
            return Err(RecordError::field(
                field,
                "must not contain the NUL character (\\u0000)",
            ));
        }
        let worker_id = worker_identity(&record)?;
        let namespace = worker_id.namespace();

        let capabilities: Vec<CapabilityId> = match record.get("capabilities") {
            None | Some(Value::Null) => {
                return Err(RecordError::field(
                    "capabilities",
                    "is required: the capability ids this worker implements",
                ))
            }
            Some(v) => id_list(v, "capabilities", MAX_CAPABILITIES, CapabilityId::parse)?,
        };
        if capabilities.is_empty() {
            return Err(RecordError::field(
                "capabilities",
                "must list at least one capability",
            ));
        }

        let policy_tier = match record.get("policy_tier") {
            None | Some(Value::Null) => 0,
            Some(v) => v
                .as_u64()
                .filter(|t| *t <= MAX_POLICY_TIER as u64)
                .map(|t| t as u8)
                .ok_or_else(|| {
                    RecordError::field(
                        "policy_tier",
                        format!("must be an integer from 0 to {MAX_POLICY_TIER}"),
                    )
                })?,
        };

        let species = optional_str(&record, "worker_species_id")?
            .map(|s| SpeciesId::parse(s).map_err(|e| RecordError::id("worker_species_id", e)))
            .transpose()?;
        let risk_tier = optional_str(&record, "risk_tier")?
            .map(|s| RiskTier::parse(s).map_err(|e| RecordError::vocab("risk_tier", e)))
            .transpose()?;

        let allowed_environments = match record.get("allowed_environments") {
            None | Some(Value::Null) => Env::ALL.to_vec(),
            Some(v) => {
                let mut envs = string_list(v, "allowed_environments", Env::ALL.len() * 4)?
                    .iter()
                    .map(|s| {
                        Env::parse(s).map_err(|e| RecordError::vocab("allowed_environments", e))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                envs.sort();
                envs.dedup();
                envs
            }
        };

        let required_controls = controls(&record, "required_controls")?;
        let currently_implements = controls(&record, "currently_implements")?;

        let blast_radius = match record.get("blast_radius") {
            None | Some(Value::Null) => None,
            Some(v) => Some((
                BlastRadius::from_json(v)
                    .map_err(|e| RecordError::sentence("blast_radius", e.to_string()))?,
                v.clone(),
            )),
        };
        let privilege_envelope = match record.get("privilege_envelope") {
            None | Some(Value::Null) => None,
            Some(v) => {
                // Kept as given (the artifact hash covers it); read only to
                // refuse what no envelope check could interpret.
                PrivilegeEnvelope::parse(v)
                    .map_err(|e| RecordError::sentence(e.field, e.message))?;
                Some(v.clone())
            }
        };

        let owner = match optional_str(&record, "owner")? {
            None => namespace.clone(),
            Some(o) => {
                let owner = Namespace::parse(o).map_err(|e| RecordError::id("owner", e))?;
                if owner != namespace {
                    return Err(RecordError::field(
                        "owner",
                        format!(
                            "{:?} must be {namespace}, the authority namespace of the worker \
                             (trust comes from its worker id only)",
                            owner.as_str()
                        ),
                    ));
                }
                owner
            }
        };
        let contact = optional_str(&record, "contact")?
            .map(|c| {
                if c.chars().count() > MAX_CONTACT_LEN || c.chars().any(char::is_control) {
                    Err(RecordError::field(
                        "contact",
                        format!("must be at most {MAX_CONTACT_LEN} characters without control characters"),
                    ))
                } else {
                    Ok(c.to_string())
                }
            })
            .transpose()?;

        let artifact_hash = match optional_str(&record, "artifact_hash")? {
            None => None,
            Some(declared) => {
                let well_formed = declared.strip_prefix("sha256:").is_some_and(|h| {
                    h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                });
                if !well_formed {
                    return Err(RecordError::field(
                        "artifact_hash",
                        "must be `sha256:` followed by 64 lowercase hex characters",
                    ));
                }
                let computed = artifact_hash(&record);
                if computed != declared {
                    return Err(RecordError::Tampered {
                        declared: declared.to_string(),
                        computed,
                    });
                }
                Some(declared.to_string())
            }
        };

        let max_data_label = optional_str(&record, "max_data_label")?
            .map(|s| DataLabel::parse(s).map_err(|e| RecordError::vocab("max_data_label", e)))
            .transpose()?
            .unwrap_or(DataLabel::Internal);
        let visibility = optional_str(&record, "visibility")?
            .map(|s| Visibility::parse(s).map_err(|e| RecordError::vocab("visibility", e)))
            .transpose()?
            .unwrap_or(Visibility::Public);

        for field in ["idempotency", "determinism", "catalog_version_min", "label"] {
            optional_str(&record, field)?;
        }
        if let Some(v) = record.get("attestation") {
            if !(v.is_object() || v.is_null()) {
                return Err(RecordError::field("attestation", "must be an object"));
            }
        }

        Ok(Self {
            worker_id,
            species,
            capabilities,
            policy_tier,
            risk_tier,
            allowed_environments,
            required_controls,
            currently_implements,
            blast_radius,
            privilege_envelope,
            owner,
            contact,
            artifact_hash,
            max_data_label,
            visibility,
            record,
        })
    }

    /// Applies a partial update: the given fields replace the stored ones and
    /// the result is checked as a whole. The identity cannot change, and the
    /// old artifact hash no longer describes the record, so it is dropped
    /// unless the update carries a new one that matches.
    pub fn patched(&self, patch: &Value) -> Result<Self, RecordError> {
        let patch = patch.as_object().ok_or(RecordError::NotAnObject)?;
        let mut record = self.record.clone();
        for (key, value) in patch {
            match key.as_str() {
                "worker_id" | "namespace" | "name" => {
                    let unchanged = match key.as_str() {
                        "worker_id" => value.as_str() == Some(self.worker_id.as_str()),
                        "namespace" => value.as_str() == Some(self.worker_id.namespace().as_str()),
                        _ => value.as_str() == Some(self.worker_id.local_name()),
                    };
                    if !unchanged {
                        return Err(RecordError::field(
                            key.clone(),
                            "cannot change (it is part of the worker's identity; register a new \
                             worker instead)",
                        ));
                    }
                }
                _ => {
                    record.insert(key.clone(), value.clone());
                }
            }
        }
        if !patch.contains_key("artifact_hash") {
            record.remove("artifact_hash");
        }
        Self::parse(&Value::Object(record))
    }
}

/// `worker_id`, or `namespace` + `name` (the seed's form), never both disagreeing.
fn worker_identity(record: &Map<String, Value>) -> Result<WorkerId, RecordError> {
    let worker_id = optional_str(record, "worker_id")?;
    let namespace = optional_str(record, "namespace")?;
    let name = optional_str(record, "name")?;
    match (worker_id, namespace, name) {
        (Some(id), ns, name) => {
            let id = WorkerId::parse(id).map_err(|e| RecordError::id("worker_id", e))?;
            if let Some(ns) = ns {
                if ns != id.namespace().as_str() {
                    return Err(RecordError::field(
                        "namespace",
                        format!("{ns:?} does not match worker_id {id}"),
                    ));
                }
            }
            if let Some(name) = name {
                if name != id.local_name() {
                    return Err(RecordError::field(
                        "name",
                        format!("{name:?} does not match worker_id {id}"),
                    ));
                }
            }
            Ok(id)
        }
        (None, Some(ns), Some(name)) => {
            let ns = Namespace::parse(ns).map_err(|e| RecordError::id("namespace", e))?;
            if name.is_empty() {
                return Err(RecordError::field("name", "must not be empty"));
            }
            WorkerId::join(&ns, name).map_err(|e| RecordError::id("name", e))
        }
        (None, None, Some(_)) => Err(RecordError::field(
            "namespace",
            "is required with name (or send worker_id instead)",
        )),
        (None, _, None) => Err(RecordError::sentence(
            "worker_id",
            "the worker is not named: send worker_id, or namespace and name",
        )),
    }
}

fn optional_str<'a>(
    record: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, RecordError> {
    match record.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(RecordError::field(field, "must be a string")),
    }
}

fn string_list<'a>(value: &'a Value, field: &str, max: usize) -> Result<Vec<&'a str>, RecordError> {
    let items = value
        .as_array()
        .ok_or_else(|| RecordError::field(field, "must be an array of strings"))?;
    if items.len() > max {
        return Err(RecordError::field(
            field,
            format!("must have at most {max} entries"),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str()
                .ok_or_else(|| RecordError::field(format!("{field}[{i}]"), "must be a string"))
        })
        .collect()
}

fn id_list<T: Ord + Clone>(
    value: &Value,
    field: &str,
    max: usize,
    parse: impl Fn(&str) -> Result<T, IdError>,
) -> Result<Vec<T>, RecordError> {
    let mut ids = string_list(value, field, max)?
        .iter()
        .enumerate()
        .map(|(i, s)| parse(s).map_err(|e| RecordError::id(format!("{field}[{i}]"), e)))
        .collect::<Result<Vec<T>, _>>()?;
    ids.sort();
    ids.dedup();
    Ok(ids)
}

fn controls(record: &Map<String, Value>, field: &str) -> Result<Vec<ControlId>, RecordError> {
    match record.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(v) => id_list(v, field, MAX_CONTROLS, ControlId::parse),
    }
}

/// Where a NUL character first appears, in a key or a string (a record is
/// stored as PostgreSQL `jsonb`, which has no NUL): the field's path, or the
/// path of the object whose key holds it.
fn nul_at(value: &Value, path: &str) -> Option<String> {
    let here = || {
        if path.is_empty() {
            "the record".to_string()
        } else {
            path.to_string()
        }
    };
    match value {
        Value::String(s) => s.contains('\0').then(here),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_at(v, &format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                return Some(format!("{} (a key)", here()));
            }
            let child = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            nul_at(v, &child)
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_nul_character_anywhere_in_the_record_is_refused_naming_where() {
        let seed = json!({"name": "a", "namespace": "x.acme", "capabilities": ["cap.a.b"]});
        for (extra, field) in [
            (json!({"note": "a\u{0}b"}), "note"),
            (json!({"meta": {"tags": ["ok", "\u{0}"]}}), "meta.tags[1]"),
            (json!({"meta": {"k\u{0}": 1}}), "meta (a key)"),
            (json!({"\u{0}": 1}), "the record (a key)"),
        ] {
            let mut body = seed.clone();
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            match WorkerRecord::parse(&body) {
                Err(RecordError::Field { field: f, message }) => {
                    assert_eq!(f, field, "{message}");
                    assert!(message.contains("NUL"), "{message}");
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_seed_quick_start_form_registers_x_myagent_my_agent() {
        let r = WorkerRecord::parse(&json!({
            "name": "my-agent",
            "namespace": "x.myagent",
            "capabilities": ["cap.data.read.v1", "cap.report.generate.v1"],
            "policy_tier": 2
        }))
        .unwrap();
        assert_eq!(r.worker_id.as_str(), "x.myagent.my-agent");
        assert_eq!(r.namespace().as_str(), "x.myagent");
        assert_eq!(r.policy_tier, 2);
        assert_eq!(r.allowed_environments, Env::ALL.to_vec());
        assert_eq!(r.max_data_label, DataLabel::Internal);
        assert_eq!(r.visibility, Visibility::Public);
        assert_eq!(r.owner.as_str(), "x.myagent");
    }

    fn full_record() -> Value {
        json!({
            "worker_id": "org.example.doc-summarizer",
            "worker_species_id": "wrk.doc.summarizer",
            "capabilities": ["cap.doc.summarize"],
            "risk_tier": "low",
            "idempotency": "full",
            "determinism": "captured",
            "required_controls": ["ctrl.obs.audit-log-append-only"],
            "currently_implements": ["ctrl.obs.audit-log-append-only"],
            "allowed_environments": ["dev", "stage", "prod"],
            "privilege_envelope": {"secrets_access": [], "network_egress": "none"},
            "blast_radius": {"data": 1, "network": 0, "financial": 0, "time": 1, "reversibility": "reversible"},
            "owner": "org.example",
            "contact": "https://example.org/contact",
            "catalog_version_min": "1.0.0"
        })
    }

    #[test]
    fn a_full_wcp_record_with_a_matching_artifact_hash_is_accepted() {
        let mut body = full_record();
        let hash = artifact_hash(body.as_object().unwrap());
        body["artifact_hash"] = json!(hash);
        let r = WorkerRecord::parse(&body).unwrap();
        assert_eq!(r.species.unwrap().as_str(), "wrk.doc.summarizer");
        assert_eq!(
            r.allowed_environments,
            vec![Env::Dev, Env::Stage, Env::Prod]
        );
        assert_eq!(r.blast_radius.unwrap().0.score(), 2);
        assert_eq!(r.artifact_hash.as_deref(), Some(hash.as_str()));
    }

    #[test]
    fn an_unreadable_privilege_envelope_is_refused_naming_its_field() {
        let mut body = full_record();
        body["privilege_envelope"] = json!({"network_egress": "wide", "extra": 1});
        match WorkerRecord::parse(&body).unwrap_err() {
            RecordError::Field { field, message } => {
                assert_eq!(field, "privilege_envelope.network_egress");
                assert!(message.starts_with("privilege_envelope.network_egress \"wide\""));
            }
            other => panic!("{other:?}"),
        }
        body["privilege_envelope"] = json!({"network_egress": "Broad", "extra": 1});
        let r = WorkerRecord::parse(&body).unwrap();
        assert_eq!(
            r.privilege_envelope,
            Some(body["privilege_envelope"].clone())
        );
    }

    #[test]
    fn a_record_changed_after_hashing_is_tampered() {
        let mut body = full_record();
        body["artifact_hash"] = json!(artifact_hash(body.as_object().unwrap()));
        body["capabilities"] = json!(["cap.doc.summarize", "cap.web.fetch"]);
        assert!(matches!(
            WorkerRecord::parse(&body),
            Err(RecordError::Tampered { .. })
        ));
    }

    #[test]
    fn every_bad_field_is_named() {
        let cases = [
            (
                json!({"worker_id": "wrk.doc.x", "capabilities": ["cap.a.b"]}),
                "worker_id",
            ),
            (
                json!({"namespace": "cap.doc", "name": "x", "capabilities": ["cap.a.b"]}),
                "namespace",
            ),
            (
                json!({"namespace": "x.me", "name": "Bad_Name", "capabilities": ["cap.a.b"]}),
                "name",
            ),
            (json!({"namespace": "x.me", "name": "a"}), "capabilities"),
            (
                json!({"namespace": "x.me", "name": "a", "capabilities": []}),
                "capabilities",
            ),
            (
                json!({"namespace": "x.me", "name": "a", "capabilities": ["wrk.a.b"]}),
                "capabilities[0]",
            ),
            (
                json!({"namespace": "x.me", "name": "a", "capabilities": "cap.a.b"}),
                "capabilities",
            ),
            (
                json!({"namespace": "x.me", "name": "a", "capabilities": ["cap.a.b"], "policy_tier": 9}),
                "policy_tier",
            ),
            (
                json!({"namespace": "x.me", "name": "a", "capabilities": ["cap.a.b"], "policy_tier": "2"}),
                "policy_tier",
            ),
            (
                json!({"namespace": "x.me", "name": "a", "capabilities": ["cap.a.b"], "risk_tier": "extreme"}),
                "risk_tier",
            ),
            (
                json!({"namespace": "x.me", "name": "a", "capabilities": ["cap.a.b"], "allowed_environments": ["qa"]}),
                "allowed_environments",
            ),
            (
                json!({"namespace": "x.me", "name": "a", "capabilities": ["cap.a.b"], "max_data_label": "SECRET"}),
                "max_data_label",
            ),
            (
                json!({"namespace": "x.me", "name": "a", "capabilities": ["cap.a.b"], "visibility": "hidden"}),
                "visibility",
            ),
            (
                json!({"namespace": "x.me", "name": "a", "capabilities": ["cap.a.b"], "blast_radius": {"data": 9}}),
                "blast_radius",
            ),
            (
                json!({"namespace": "x.me", "name": "a", "capabilities": ["cap.a.b"], "owner": "org.other"}),
                "owner",
            ),
            (
                json!({"namespace": "x.me", "name": "a", "capabilities": ["cap.a.b"], "artifact_hash": "md5:abc"}),
                "artifact_hash",
            ),
            (
                json!({"namespace": "x.me", "name": "a", "capabilities": ["cap.a.b"], "required_controls": ["ctrl.a_b.c"]}),
                "required_controls[0]",
            ),
            (
                json!({"worker_id": "x.me.a", "namespace": "x.other", "capabilities": ["cap.a.b"]}),
                "namespace",
            ),
            (json!({"capabilities": ["cap.a.b"]}), "worker_id"),
        ];
        for (body, field) in cases {
            match WorkerRecord::parse(&body) {
                Err(RecordError::Field { field: f, message }) => {
                    assert_eq!(f, field, "{body}: {message}");
                    // One sentence that names the field once, no `field: field` prefixes.
                    assert_eq!(message.matches(field).count(), 1, "{message}");
                    assert!(!message.starts_with(&format!("{field}:")), "{message}");
                    assert_eq!(message.trim(), message, "{message}");
                }
                other => panic!("{body}: expected an error on {field}, got {other:?}"),
            }
        }
        assert_eq!(
            WorkerRecord::parse(&json!([1])).unwrap_err(),
            RecordError::NotAnObject
        );
    }

    #[test]
    fn env_aliases_and_label_case_become_canonical_values() {
        let r = WorkerRecord::parse(&json!({"namespace": "x.me", "name": "a",
            "capabilities": ["cap.a.b"], "allowed_environments": ["staging", "production", "dev"],
            "max_data_label": "restricted", "visibility": "Private"}))
        .unwrap();
        assert_eq!(
            r.allowed_environments,
            vec![Env::Dev, Env::Stage, Env::Prod]
        );
        assert_eq!(r.max_data_label, DataLabel::Restricted);
        assert_eq!(r.visibility, Visibility::Private);
    }

    #[test]
    fn unknown_fields_are_kept_in_the_record() {
        let r = WorkerRecord::parse(&json!({"namespace": "x.me", "name": "a",
            "capabilities": ["cap.a.b"], "x_custom": {"k": 1}}))
        .unwrap();
        assert_eq!(r.record["x_custom"], json!({"k": 1}));
    }

    #[test]
    fn a_patch_replaces_fields_keeps_identity_and_drops_the_stale_hash() {
        let mut body = full_record();
        body["artifact_hash"] = json!(artifact_hash(body.as_object().unwrap()));
        let r = WorkerRecord::parse(&body).unwrap();
        let p = r
            .patched(&json!({"policy_tier": 5, "visibility": "private"}))
            .unwrap();
        assert_eq!(p.policy_tier, 5);
        assert_eq!(p.visibility, Visibility::Private);
        assert_eq!(p.worker_id, r.worker_id);
        assert_eq!(p.artifact_hash, None);
        assert!(!p.record.contains_key("artifact_hash"));
        assert!(r
            .patched(&json!({"worker_id": "org.example.other"}))
            .is_err());
        assert!(r.patched(&json!({"policy_tier": 12})).is_err());
    }
}
