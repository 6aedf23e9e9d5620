//! Canonical JSON of arbitrary JSON text: no panic, printable ASCII only,
//! parses back to the same value, and is a fixed point. Worker records
//! (whose artifact hash is defined over canonical JSON) parse without panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use wcp::canonical::{artifact_hash, to_canonical_json};
use wcp::WorkerRecord;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let canonical = to_canonical_json(&value);
    assert!(
        canonical.bytes().all(|b| (b' '..=b'~').contains(&b)),
        "{canonical}"
    );
    let back: Value = serde_json::from_str(&canonical).unwrap();
    assert_eq!(back, value);
    assert_eq!(to_canonical_json(&back), canonical);
    if let Value::Object(map) = &value {
        let hash = artifact_hash(map);
        assert!(hash.starts_with("sha256:") && hash.len() == 7 + 64);
    }
    let _ = WorkerRecord::parse(&value);
});
