//! The checked-in OpenAPI document is exactly what the server generates.

#[test]
fn checked_in_openapi_json_is_current() {
    let generated = api::openapi::document_json().unwrap();
    let path = crate::support::workspace_root().join("openapi/openapi.json");
    let checked_in = std::fs::read_to_string(&path).unwrap();
    assert!(
        generated == checked_in,
        "{} is stale; regenerate it with:\n  cargo run --bin hall-registry -- openapi > openapi/openapi.json",
        path.display()
    );
}

#[test]
fn every_documented_path_has_an_operation_and_responses() {
    let doc: serde_json::Value =
        serde_json::from_str(&api::openapi::document_json().unwrap()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for p in ["/health", "/readyz", "/metrics"] {
        assert!(paths.contains_key(p), "{p} missing");
        assert!(paths[p]["get"]["responses"]
            .as_object()
            .is_some_and(|r| !r.is_empty()));
    }
}
