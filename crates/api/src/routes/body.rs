//! Request bodies: a JSON object turned into a request type, with errors a
//! person can act on.
//!
//! `web::Json<T>` reports serde's own words (`invalid type: integer 5,
//! expected a string`, `expected struct DecisionRequest with 10 elements`):
//! no field, and Rust's names for things. [`JsonBody`] reads the body as
//! JSON first (malformed JSON, a wrong content type and oversize bodies keep
//! their `web::Json` answers, see [`crate::error::json_error`]), refuses
//! anything but an object, then deserializes the request type while keeping
//! track of the field being read, so every error is one sentence that names
//! the field (`scopes[1] must be a string`, `env is required`,
//! `decisions.tier_floors.prod must be an integer from 0 to 255`).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::error::ApiError;

/// A JSON object body deserialized into `T`, every error naming its field.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T> JsonBody<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for JsonBody<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let object = JsonObject::from_request(req, payload);
        Box::pin(async move {
            let value = object.await?.into_inner();
            Ok(JsonBody(from_object(value)?))
        })
    }
}

/// A JSON object body as read, for requests whose fields are parsed by the
/// domain's own parser (route inputs, worker records, rules documents),
/// which names the field it refuses. The same answers as [`JsonBody`] for
/// bodies that are not JSON objects; the value is not deserialized a second
/// time.
#[derive(Debug)]
pub struct JsonObject(pub Value);

impl JsonObject {
    pub fn into_inner(self) -> Value {
        self.0
    }
}

impl std::ops::Deref for JsonObject {
    type Target = Value;
    fn deref(&self) -> &Value {
        &self.0
    }
}

impl FromRequest for JsonObject {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let value = web::Json::<Value>::from_request(req, payload);
        Box::pin(async move {
            let value = value.await?.into_inner();
            if !value.is_object() {
                return Err(not_an_object().into());
            }
            Ok(JsonObject(value))
        })
    }
}

/// The answer to a body that is JSON but not an object.
pub fn not_an_object() -> ApiError {
    ApiError::bad_request("invalid_request", "the body must be a JSON object")
}

/// Deserializes a JSON object into `T`; errors name the field (with its
/// path: `decisions.tier_floors.prod`, `scopes[1]`).
pub fn from_object<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    if !value.is_object() {
        return Err(not_an_object());
    }
    let path = RefCell::new(String::new());
    T::deserialize(Tracked {
        value,
        path: String::new(),
        current: &path,
    })
    .map_err(|e| ApiError::bad_request("invalid_request", describe(&e.to_string(), &path.borrow())))
}

/// One sentence for a serde error about the field at `path` (empty for the
/// body itself), in words rather than Rust's type names.
pub fn describe(serde_message: &str, path: &str) -> String {
    // serde_json appends the position for errors read from text.
    let msg = match serde_message.rfind(" at line ") {
        Some(i) if serde_message[i..].contains(" column ") => &serde_message[..i],
        _ => serde_message,
    };
    let within = |name: &str| {
        if path.is_empty() || path == name {
            name.to_string()
        } else if let Some(parent) = parent_of(path, name) {
            format!("{parent}.{name}")
        } else {
            name.to_string()
        }
    };
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or_default();
        return format!("{} is required", within(name));
    }
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or_default();
        let allowed: Vec<String> = rest
            .split_once("expected one of ")
            .or_else(|| rest.split_once("expected "))
            .map(|(_, list)| items(&list.replace('`', "")))
            .unwrap_or_default();
        return match allowed.as_slice() {
            [] => format!(
                "{} is not a field of this request, which takes none",
                within(name)
            ),
            [one] => format!(
                "{} is not a field of this request; its only field is {one}",
                within(name)
            ),
            list => format!(
                "{} is not a field of this request; its fields are {}",
                within(name),
                join(list, "and")
            ),
        };
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `") {
        let (value, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let allowed = tail
            .split_once("expected one of ")
            .or_else(|| tail.split_once("expected "))
            .map(|(_, list)| join(&items(&list.replace('`', "")), "or"))
            .unwrap_or_default();
        return format!("{} {value:?} is not one of {allowed}", subject(path));
    }
    if msg.starts_with("invalid type: ")
        || msg.starts_with("invalid value: ")
        || msg.starts_with("invalid length ")
    {
        let expected = plain(msg.rsplit_once(", expected ").map(|(_, e)| e).unwrap_or(""));
        return match path {
            "" if expected == "an object" => "the body must be a JSON object".into(),
            // Only when the field cannot be known (a `web::Json` body).
            "" => format!("a field of the body must be {expected}"),
            path => format!("{path} must be {expected}"),
        };
    }
    match path {
        "" => format!("the body is invalid: {}", scrub(msg)),
        // A field type's own refusal (`must be a tier from 0 to 8`).
        path if msg.starts_with("must ") => format!("{path} {}", scrub(msg)),
        path => format!("{path} is invalid: {}", scrub(msg)),
    }
}

/// `decisions.tier_floors` of the path `decisions.tier_floors.prod` when
/// the error is about `name` inside it.
fn parent_of<'a>(path: &'a str, name: &str) -> Option<&'a str> {
    // At the end of an object the path is the object's own; inside it,
    // the last field read.
    match path.rsplit_once('.') {
        Some((parent, last)) if last == name => Some(parent),
        _ => Some(path),
    }
}

fn subject(path: &str) -> &str {
    if path.is_empty() {
        "the body"
    } else {
        path
    }
}

/// serde's `a, b, c` or `a or b` → `["a", "b", "c"]`.
fn items(list: &str) -> Vec<String> {
    list.replace(" or ", ", ")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `["a", "b", "c"]` → `a, b and c` (or `or`).
fn join(items: &[String], last_word: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {last_word} {last}", init.join(", ")),
    }
}

/// serde's description of an expected value, in JSON's words.
fn plain(expected: &str) -> String {
    match expected {
        "a string" | "a borrowed string" | "string" | "a string or null" => "a string".into(),
        "a boolean" | "bool" => "true or false".into(),
        "u8" => "an integer from 0 to 255".into(),
        "u16" => "an integer from 0 to 65535".into(),
        "u32" => "an integer from 0 to 4294967295".into(),
        "u64" | "usize" | "u128" => "a non-negative integer".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" | "i128" | "an integer" => "an integer".into(),
        "f32" | "f64" | "a number" => "a number".into(),
        "a sequence" | "a list" | "a vec" => "an array".into(),
        "a map" | "a JSON object" => "an object".into(),
        "unit" => "null".into(),
        e if e.starts_with("struct ") || e.starts_with("a map") => "an object".into(),
        e if e.starts_with("a sequence") || e.starts_with("tuple") => "an array".into(),
        e => {
            let e = scrub(e);
            if e.is_empty() {
                "a value of another type".into()
            } else {
                e
            }
        }
    }
}

/// Removes what would leak Rust internals from a message we pass through.
fn scrub(msg: &str) -> String {
    if msg.contains("struct ") || msg.contains("enum ") || msg.contains("::") {
        return "the value has the wrong type".into();
    }
    msg.trim().to_string()
}

/// A value being deserialized at `path`, which it records in `current` as
/// the deserializer moves into objects and arrays.
struct Tracked<'a> {
    value: Value,
    path: String,
    current: &'a RefCell<String>,
}

impl Tracked<'_> {
    fn enter(&self) {
        self.current.replace(self.path.clone());
    }
}

macro_rules! forward_scalar {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
                self.enter();
                match self.value {
                    Value::Object(_) | Value::Array(_) => self.deserialize_any(visitor),
                    value => value.$method(visitor),
                }
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for Tracked<'_> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.enter();
        match self.value {
            Value::Object(map) => {
                let len = map.len();
                visitor.visit_map(TrackedMap {
                    iter: map.into_iter(),
                    pending: None,
                    path: self.path,
                    current: self.current,
                    len,
                })
            }
            Value::Array(items) => {
                let len = items.len();
                visitor.visit_seq(TrackedSeq {
                    iter: items.into_iter().enumerate(),
                    path: self.path,
                    current: self.current,
                    len,
                })
            }
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.enter();
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.enter();
        self.value.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.enter();
        self.value.deserialize_unit_struct(name, visitor)
    }

    forward_scalar! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_unit
        deserialize_identifier deserialize_ignored_any
    }
}

struct TrackedMap<'a> {
    iter: serde_json::map::IntoIter,
    pending: Option<(String, Value)>,
    path: String,
    current: &'a RefCell<String>,
    len: usize,
}

impl TrackedMap<'_> {
    fn child(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }
}

impl<'de> MapAccess<'de> for TrackedMap<'_> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match self.iter.next() {
            Some((key, value)) => {
                self.current.replace(self.child(&key));
                self.len -= 1;
                self.pending = Some((key.clone(), value));
                seed.deserialize(Value::String(key)).map(Some)
            }
            None => {
                // A missing field is reported after the last key: the path
                // is then the object's own.
                self.current.replace(self.path.clone());
                Ok(None)
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let (key, value) = self
            .pending
            .take()
            .ok_or_else(|| de::Error::custom("a value was read before its key"))?;
        seed.deserialize(Tracked {
            value,
            path: self.child(&key),
            current: self.current,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.len)
    }
}

struct TrackedSeq<'a> {
    iter: std::iter::Enumerate<std::vec::IntoIter<Value>>,
    path: String,
    current: &'a RefCell<String>,
    len: usize,
}

impl<'de> SeqAccess<'de> for TrackedSeq<'_> {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        match self.iter.next() {
            Some((i, value)) => {
                self.len -= 1;
                seed.deserialize(Tracked {
                    value,
                    path: format!("{}[{i}]", self.path),
                    current: self.current,
                })
                .map(Some)
            }
            None => {
                self.current.replace(self.path.clone());
                Ok(None)
            }
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        tier_floors: std::collections::BTreeMap<String, u8>,
        #[serde(default)]
        signatories: Vec<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        scopes: Vec<String>,
        flag: Option<bool>,
        inner: Option<Inner>,
    }

    fn message(v: Value) -> String {
        let err = from_object::<Outer>(v).unwrap_err();
        err.body().error.message
    }

    #[test]
    fn every_error_names_its_field_in_plain_words() {
        let cases = [
            (json!([1, 2]), "the body must be a JSON object"),
            (json!("x"), "the body must be a JSON object"),
            (json!({"scopes": []}), "name is required"),
            (json!({"name": 5, "scopes": []}), "name must be a string"),
            (
                json!({"name": "a", "scopes": ["a", 3]}),
                "scopes[1] must be a string",
            ),
            (
                json!({"name": "a", "scopes": [], "flag": "yes"}),
                "flag must be true or false",
            ),
            (
                json!({"name": "a", "scopes": [], "nmae": 1}),
                "nmae is not a field of this request; its fields are name, scopes, flag and inner",
            ),
            (
                json!({"name": "a", "scopes": [], "inner": {"tier_floors": {"prod": 300}}}),
                "inner.tier_floors.prod must be an integer from 0 to 255",
            ),
            (
                json!({"name": "a", "scopes": [], "inner": {}}),
                "inner.tier_floors is required",
            ),
            (
                json!({"name": "a", "scopes": [], "inner": {"tier_floors": {}, "x": 1}}),
                "inner.x is not a field of this request; its fields are tier_floors and signatories",
            ),
            (
                json!({"name": "a", "scopes": [], "inner": []}),
                "inner must be an object",
            ),
        ];
        for (body, want) in cases {
            assert_eq!(message(body.clone()), want, "{body}");
        }
    }

    #[test]
    fn a_well_formed_object_passes() {
        let v: Outer = from_object(json!({"name": "a", "scopes": ["x"], "flag": null,
            "inner": {"tier_floors": {"prod": 4}, "signatories": ["org.b"]}}))
        .unwrap();
        assert_eq!(v.scopes, vec!["x"]);
        let any: Value = from_object(json!({"k": [1, {"a": null}]})).unwrap();
        assert_eq!(any, json!({"k": [1, {"a": null}]}));
    }

    #[test]
    fn text_errors_lose_their_position_and_rust_names() {
        assert_eq!(
            describe(
                "invalid length 0, expected struct DecisionRequest with 10 elements at line 1 column 2",
                ""
            ),
            "the body must be a JSON object"
        );
        assert_eq!(
            describe("missing field `env` at line 1 column 40", ""),
            "env is required"
        );
    }
}
