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

fn document() -> serde_json::Value {
    serde_json::from_str(&api::openapi::document_json().unwrap()).unwrap()
}

/// Every (path, method, operation) of the document.
fn operations(doc: &serde_json::Value) -> Vec<(String, String, serde_json::Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops.push((path.clone(), method.clone(), op.clone()));
        }
    }
    ops
}

#[test]
fn every_secured_operation_takes_all_three_credentials_and_documents_401_403_429_503() {
    let doc = document();
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(schemes["api_key"]["in"], "header");
    assert_eq!(schemes["api_key"]["name"], "X-API-Key");
    assert_eq!(schemes["session_cookie"]["in"], "cookie");
    assert_eq!(schemes["session_cookie"]["name"], "pyhall_session");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    let mut secured = 0;
    for (path, method, op) in operations(&doc) {
        let Some(security) = op["security"].as_array().filter(|s| !s.is_empty()) else {
            assert!(
                op["responses"].get("401").is_none() || path == "/metrics",
                "{method} {path} is anonymous but documents 401"
            );
            continue;
        };
        secured += 1;
        let names: Vec<&str> = security
            .iter()
            .flat_map(|s| s.as_object().unwrap().keys().map(String::as_str))
            .collect();
        assert_eq!(
            names,
            ["bearer", "api_key", "session_cookie"],
            "{method} {path}"
        );
        for status in ["401", "429", "503"] {
            assert!(
                op["responses"].get(status).is_some(),
                "{method} {path} lacks {status}"
            );
        }
        if op["operationId"] != "standing" {
            assert!(
                op["responses"].get("403").is_some(),
                "{method} {path} lacks 403"
            );
        }
    }
    assert!(secured > 40, "only {secured} secured operations");
}

#[test]
fn every_operation_with_a_body_documents_400_413_415_and_takes_an_object() {
    let doc = document();
    for (path, method, op) in operations(&doc) {
        let Some(body) = op.get("requestBody") else {
            continue;
        };
        for status in ["400", "413", "415"] {
            assert!(
                op["responses"].get(status).is_some(),
                "{method} {path} lacks {status}"
            );
        }
        let schema = &body["content"]["application/json"]["schema"];
        assert!(
            schema.get("oneOf").is_none(),
            "{method} {path}: an optional body is absent or an object, not null: {schema}"
        );
    }
}

#[test]
fn path_parameters_document_404_and_ids_carry_their_grammar() {
    let doc = document();
    for (path, method, op) in operations(&doc) {
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        if params.iter().any(|p| p["in"] == "path") {
            assert!(
                op["responses"].get("404").is_some(),
                "{method} {path} lacks 404"
            );
        }
        // Checking a namespace answers `invalid` for any string.
        if op["operationId"] == "check_namespace" {
            continue;
        }
        for p in params.iter().filter(|p| p["in"] != "header") {
            let expected = match p["name"].as_str().unwrap() {
                "tenant_id" => "#/components/schemas/TenantId",
                "namespace" => "#/components/schemas/Namespace",
                _ => continue,
            };
            assert_eq!(
                p["schema"]["$ref"], expected,
                "{method} {path} {}",
                p["name"]
            );
        }
    }
    let tenant = &doc["components"]["schemas"]["TenantId"];
    assert_eq!(tenant["pattern"], api::openapi::TENANT_ID_PATTERN);
    assert_eq!(tenant["maxLength"], 64);
}

#[test]
fn a_registered_worker_links_to_the_operations_on_its_id() {
    let doc = document();
    let links = &doc["paths"]["/api/v1/workers"]["post"]["responses"]["201"]["links"];
    for (name, op) in [
        ("GetWorker", "get_worker"),
        ("UpdateWorker", "update_worker"),
        ("RevokeWorker", "revoke_worker"),
    ] {
        assert_eq!(links[name]["operationId"], op, "{links}");
        assert_eq!(links[name]["parameters"]["id"], "$response.body#/id");
    }
    // Every link names an operation that exists, with a parameter it has.
    let ops = operations(&doc);
    for (path, method, op) in &ops {
        for (status, response) in op["responses"].as_object().unwrap() {
            for (name, link) in response["links"].as_object().into_iter().flatten() {
                let target = ops
                    .iter()
                    .find(|(.., o)| o["operationId"] == link["operationId"])
                    .unwrap_or_else(|| {
                        panic!("{method} {path} {status} link {name}: no such operation")
                    });
                for param in link["parameters"].as_object().unwrap().keys() {
                    assert!(
                        target.2["parameters"]
                            .as_array()
                            .is_some_and(|ps| ps.iter().any(|p| p["name"] == *param)),
                        "link {name}: {} has no parameter {param}",
                        link["operationId"]
                    );
                }
            }
        }
    }
}

#[test]
fn every_event_type_is_described_with_its_payload_schema() {
    let doc = document();
    let hooks = doc["webhooks"].as_object().expect("top-level webhooks");
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for event in webhooks::EventType::ALL {
        let hook = &hooks[event.as_str()]["post"];
        let body = &hook["requestBody"]["content"]["application/json"]["schema"]["allOf"];
        assert_eq!(
            body[0]["$ref"], "#/components/schemas/WebhookDeliveryBody",
            "{event}"
        );
        assert_eq!(body[1]["properties"]["type"]["const"], event.as_str());
        let data = body[1]["properties"]["data"]["$ref"].as_str().unwrap();
        let name = data.trim_start_matches("#/components/schemas/");
        assert!(schemas.contains_key(name), "{event}: no schema {name}");
        let headers: Vec<&str> = hook["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            headers,
            ["webhook-id", "webhook-timestamp", "webhook-signature"]
        );
    }
    assert_eq!(hooks.len(), webhooks::EventType::ALL.len());
    // The sev1 payload names the break.
    let failure = &schemas["ChainIntegrityFailureEvent"]["required"];
    for field in [
        "tenant_id",
        "position",
        "kind",
        "reason",
        "verified_through",
    ] {
        assert!(
            failure.as_array().unwrap().iter().any(|f| f == field),
            "{field}"
        );
    }
}
