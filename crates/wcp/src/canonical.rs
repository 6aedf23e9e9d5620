//! Canonical JSON, byte for byte what Python's
//! `json.dumps(obj, sort_keys=True, separators=(",", ":"))` writes (with its
//! default `ensure_ascii=True`): keys sorted by code point at every level, no
//! whitespace, and every character outside printable ASCII as a lowercase
//! `\uXXXX` escape (UTF-16, so astral characters become surrogate pairs).
//! The enrollment `artifact_hash` is defined over these bytes.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The canonical serialisation of `value`.
pub fn to_canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // Rust orders `String`s by UTF-8 bytes, which is code-point order, as Python's sort is.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_value(out, &map[*key]);
            }
            out.push('}');
        }
    }
}

/// Integers print as Python prints them. Floats follow Python's `repr`
/// (shortest round trip, `1.0` keeps its `.0`, exponents as `1e+16`).
fn write_number(out: &mut String, n: &serde_json::Number) {
    if n.is_i64() || n.is_u64() {
        out.push_str(&n.to_string());
        return;
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    if !f.is_finite() {
        // JSON input cannot carry these; Python would write NaN/Infinity.
        out.push_str(if f.is_nan() {
            "NaN"
        } else if f > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        });
        return;
    }
    out.push_str(&python_float_repr(f));
}

fn python_float_repr(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        // Scientific: Rust gives `1e16` / `1.5e-5`; Python gives `1e+16` / `1.5e-05`.
        let s = format!("{f:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    let s = format!("{f}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// `"sha256:" + hex(sha256(canonical JSON of the record without artifact_hash))`.
pub fn artifact_hash(record: &serde_json::Map<String, Value>) -> String {
    let mut without = record.clone();
    without.remove("artifact_hash");
    let canonical = to_canonical_json(&Value::Object(without));
    format!("sha256:{}", hex(&Sha256::digest(canonical.as_bytes())))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Expected strings produced by CPython 3.11:
    // json.dumps(v, sort_keys=True, separators=(",", ":"))
    #[test]
    fn matches_python_for_nesting_sorting_and_escapes() {
        let v = json!({"b": [1, {"z": null, "a": true}], "a": "x\"y\\z\n\t", "é": "ü😀", "c": 1.5});
        assert_eq!(
            to_canonical_json(&v),
            r#"{"a":"x\"y\\z\n\t","b":[1,{"a":true,"z":null}],"c":1.5,"\u00e9":"\u00fc\ud83d\ude00"}"#
        );
    }

    #[test]
    fn control_characters_and_del_are_escaped_like_python() {
        let v = json!("\u{1}\u{7f}\u{8}\u{c}/");
        assert_eq!(to_canonical_json(&v), r#""\u0001\u007f\b\f/""#);
    }

    #[test]
    fn floats_print_like_python_repr() {
        assert_eq!(python_float_repr(1.0), "1.0");
        assert_eq!(python_float_repr(0.1), "0.1");
        assert_eq!(python_float_repr(1e16), "1e+16");
        assert_eq!(python_float_repr(1.5e-5), "1.5e-05");
        assert_eq!(python_float_repr(-0.0), "-0.0");
        assert_eq!(python_float_repr(123456.789), "123456.789");
    }

    #[test]
    fn artifact_hash_excludes_itself_and_matches_python() {
        // hashlib.sha256(json.dumps({"capabilities":["cap.doc.summarize"],"worker_id":
        //   "org.example.doc-summarizer"}, sort_keys=True, separators=(",",":")).encode()).hexdigest()
        let record = json!({
            "worker_id": "org.example.doc-summarizer",
            "capabilities": ["cap.doc.summarize"],
            "artifact_hash": "sha256:ignored"
        });
        let h = artifact_hash(record.as_object().unwrap());
        let expected_input =
            r#"{"capabilities":["cap.doc.summarize"],"worker_id":"org.example.doc-summarizer"}"#;
        assert_eq!(
            h,
            format!("sha256:{}", hex(&Sha256::digest(expected_input.as_bytes())))
        );
    }
}
