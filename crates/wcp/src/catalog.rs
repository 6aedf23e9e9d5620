//! The WCP catalog file (`{"_meta": {...}, "entities": [...]}`): capabilities,
//! worker species, controls, profiles and policies, each with an id whose
//! prefix matches its type.

use serde_json::Value;

use crate::id::check_dotted;

/// Largest catalog accepted in one import.
pub const MAX_ENTITIES: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("the catalog must be an object with an `entities` array")]
    Shape,
    #[error("the catalog has {0} entities; at most {MAX_ENTITIES} are accepted at once")]
    TooLarge(usize),
    /// `message` is one sentence naming `entities[index]` or its field.
    #[error("{message}")]
    Entity { index: usize, message: String },
}

/// One checked catalog entity; `data` is the entity as given.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogEntity {
    pub id: String,
    pub entity_type: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub risk_tier: Option<String>,
    pub data: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    /// `_meta.version`, when given.
    pub version: Option<String>,
    pub entities: Vec<CatalogEntity>,
}

/// Each entity type of the catalog and the prefix its ids start with.
const ENTITY_TYPES: &[(&str, &str)] = &[
    ("capability", "cap"),
    ("worker_species", "wrk"),
    ("control", "ctrl"),
    ("profile", "prof"),
    ("policy", "pol"),
    ("event", "evt"),
];

/// One of the catalog's entity types (`capability`, `worker_species`,
/// `control`, `profile`, `policy`, `event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityType {
    name: &'static str,
    prefix: &'static str,
}

/// A type the catalog does not have; the sentence completes one that
/// starts with the field's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not one of capability, worker_species, control, profile, policy or event")]
pub struct UnknownEntityType(pub String);

impl EntityType {
    pub const CAPABILITY: EntityType = EntityType {
        name: "capability",
        prefix: "cap",
    };

    pub fn parse(s: &str) -> Result<Self, UnknownEntityType> {
        ENTITY_TYPES
            .iter()
            .find(|(name, _)| *name == s)
            .map(|&(name, prefix)| EntityType { name, prefix })
            .ok_or_else(|| UnknownEntityType(s.to_string()))
    }

    pub fn as_str(&self) -> &'static str {
        self.name
    }

    /// Every type's name, in the catalog's order.
    pub fn names() -> impl Iterator<Item = &'static str> {
        ENTITY_TYPES.iter().map(|&(name, _)| name)
    }

    /// What ids of this type start with (before the first dot).
    pub fn prefix(&self) -> &'static str {
        self.prefix
    }
}

impl Catalog {
    pub fn parse(doc: &Value) -> Result<Self, CatalogError> {
        let entities = doc
            .get("entities")
            .and_then(Value::as_array)
            .ok_or(CatalogError::Shape)?;
        if entities.len() > MAX_ENTITIES {
            return Err(CatalogError::TooLarge(entities.len()));
        }
        let version = doc
            .get("_meta")
            .and_then(|m| m.get("version"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut seen = std::collections::HashSet::new();
        let entities = entities
            .iter()
            .enumerate()
            .map(|(index, e)| {
                // `field` (of this entity; empty for the entity) and the rest of the sentence.
                let err = |field: &str, rest: String| CatalogError::Entity {
                    index,
                    message: if field.is_empty() {
                        format!("entities[{index}] {rest}")
                    } else {
                        format!("entities[{index}].{field} {rest}")
                    },
                };
                let text = |field: &str| -> Result<Option<String>, CatalogError> {
                    match e.get(field) {
                        None | Some(Value::Null) => Ok(None),
                        Some(Value::String(s)) => Ok(Some(s.clone())),
                        Some(_) => Err(err(field, "must be a string".into())),
                    }
                };
                if !e.is_object() {
                    return Err(err("", "must be an object".into()));
                }
                let id = text("id")?.ok_or_else(|| err("id", "is required".into()))?;
                let entity_type = text("type")?.ok_or_else(|| err("type", "is required".into()))?;
                let prefix = EntityType::parse(&entity_type)
                    .map_err(|e| err("type", e.to_string()))?
                    .prefix();
                check_dotted("catalog id", &id).map_err(|e| CatalogError::Entity {
                    index,
                    message: e.field(format!("entities[{index}].id")).to_string(),
                })?;
                if id.split('.').next() != Some(prefix) {
                    return Err(err(
                        "id",
                        format!("{id:?} must start with `{prefix}.` (its type is {entity_type})"),
                    ));
                }
                if !seen.insert(id.clone()) {
                    return Err(err("id", format!("{id:?} appears twice in the catalog")));
                }
                Ok(CatalogEntity {
                    id,
                    entity_type,
                    name: text("name")?,
                    description: text("description")?,
                    risk_tier: text("risk_tier")?,
                    data: e.clone(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { version, entities })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_entities_and_checks_prefixes() {
        let c = Catalog::parse(&json!({"_meta": {"version": "0.1.0"}, "entities": [
            {"id": "cap.doc.summarize", "type": "capability", "name": "Summarize", "risk_tier": "low"},
            {"id": "wrk.doc.summarizer", "type": "worker_species"}
        ]}))
        .unwrap();
        assert_eq!(c.version.as_deref(), Some("0.1.0"));
        assert_eq!(c.entities.len(), 2);
        assert_eq!(c.entities[0].name.as_deref(), Some("Summarize"));

        let bad = Catalog::parse(&json!({"entities": [{"id": "wrk.doc.x", "type": "capability"}]}));
        assert!(matches!(bad, Err(CatalogError::Entity { index: 0, .. })));
        let dup = Catalog::parse(&json!({"entities": [
            {"id": "cap.a.b", "type": "capability"}, {"id": "cap.a.b", "type": "capability"}]}));
        assert!(matches!(dup, Err(CatalogError::Entity { index: 1, .. })));
        assert_eq!(Catalog::parse(&json!([])).unwrap_err(), CatalogError::Shape);
    }

    #[test]
    fn each_entity_type_has_its_prefix_and_others_are_refused_by_name() {
        assert_eq!(
            EntityType::parse("capability").unwrap(),
            EntityType::CAPABILITY
        );
        assert_eq!(EntityType::parse("worker_species").unwrap().prefix(), "wrk");
        assert_eq!(EntityType::parse("event").unwrap().as_str(), "event");
        assert_eq!(
            EntityType::parse("widget").unwrap_err().to_string(),
            "\"widget\" is not one of capability, worker_species, control, profile, policy or event"
        );
        let bad = Catalog::parse(&json!({"entities": [{"id": "cap.a.b", "type": "widget"}]}));
        assert_eq!(
            bad.unwrap_err().to_string(),
            "entities[0].type \"widget\" is not one of capability, worker_species, control, profile, policy or event"
        );
    }
}
