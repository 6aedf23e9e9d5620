//! The deployment files and the README agree with what the server reads.
//! No Docker engine runs in CI, so the compose file is checked by parsing it.

use std::collections::BTreeSet;

use crate::support::workspace_root;
use api::config::Config;

fn compose() -> serde_yaml::Value {
    let text = std::fs::read_to_string(workspace_root().join("docker-compose.yml")).unwrap();
    serde_yaml::from_str(&text).expect("docker-compose.yml is valid YAML")
}

fn environment_keys(service: &serde_yaml::Value) -> Vec<String> {
    match &service["environment"] {
        serde_yaml::Value::Mapping(m) => {
            m.keys().map(|k| k.as_str().unwrap().to_string()).collect()
        }
        serde_yaml::Value::Sequence(s) => s
            .iter()
            .map(|e| e.as_str().unwrap().split('=').next().unwrap().to_string())
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn every_variable_compose_passes_to_the_registry_is_one_the_server_reads() {
    let compose = compose();
    let registry = &compose["services"]["registry"];
    let passed = environment_keys(registry);
    assert!(!passed.is_empty());
    let read: BTreeSet<String> = Config::environment_variables().into_iter().collect();
    for var in &passed {
        assert!(
            read.contains(var),
            "compose passes {var}, which the server does not read"
        );
    }
    for required in [
        "DATABASE_URL",
        "REDIS_URL",
        "HALL_LISTEN",
        "HALL_BOOTSTRAP_API_KEY",
    ] {
        assert!(
            passed.iter().any(|v| v == required),
            "compose does not pass {required}"
        );
    }
}

#[test]
fn compose_runs_registry_postgres_and_redis_with_healthchecks_and_a_named_volume() {
    let compose = compose();
    let services = compose["services"].as_mapping().unwrap();
    for name in ["registry", "postgres", "redis"] {
        let svc = &compose["services"][name];
        assert!(services.contains_key(name), "service {name} missing");
        assert!(
            svc["healthcheck"]["test"].is_sequence(),
            "{name} has no healthcheck"
        );
    }
    let depends = &compose["services"]["registry"]["depends_on"];
    for dep in ["postgres", "redis"] {
        assert_eq!(
            depends[dep]["condition"], "service_healthy",
            "registry must wait for {dep}"
        );
    }
    let volumes = compose["volumes"].as_mapping().expect("named volumes");
    assert!(!volumes.is_empty());
    let pg_volumes = compose["services"]["postgres"]["volumes"]
        .as_sequence()
        .unwrap();
    let vol_name = volumes.keys().next().unwrap().as_str().unwrap();
    assert!(pg_volumes
        .iter()
        .any(|v| v.as_str().unwrap().starts_with(&format!("{vol_name}:"))));
}

#[test]
fn dockerfile_is_multi_stage_and_runs_as_a_non_root_user() {
    let text = std::fs::read_to_string(workspace_root().join("deploy/Dockerfile")).unwrap();
    let stages = text
        .lines()
        .filter(|l| l.trim_start().starts_with("FROM "))
        .count();
    assert!(stages >= 2, "multi-stage build expected");
    let user = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("USER "))
        .expect("a USER instruction");
    let who = user.trim_start().trim_start_matches("USER ").trim();
    assert!(who != "root" && who != "0", "runs as {who}");
}

#[test]
fn readme_configuration_table_lists_exactly_the_variables_the_server_reads() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let documented: BTreeSet<String> = readme
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| l.split('`').nth(1).map(str::to_string))
        .filter(|v| v.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .collect();
    let read: BTreeSet<String> = Config::environment_variables().into_iter().collect();
    assert_eq!(
        documented, read,
        "README configuration table and the server disagree"
    );
}

fn kubernetes() -> Vec<serde_yaml::Value> {
    use serde::Deserialize;
    let text =
        std::fs::read_to_string(workspace_root().join("deploy/kubernetes/hall-registry.yaml"))
            .unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| serde_yaml::Value::deserialize(doc).expect("valid YAML document"))
        .collect()
}

fn kind<'a>(docs: &'a [serde_yaml::Value], kind: &str) -> &'a serde_yaml::Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in the manifests"))
}

#[test]
fn kubernetes_replicas_share_one_key_file_and_pass_only_variables_the_server_reads() {
    let docs = kubernetes();
    let deployment = kind(&docs, "Deployment");
    assert!(deployment["spec"]["replicas"].as_u64().unwrap() >= 2);
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let env: Vec<(String, serde_yaml::Value)> = container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e.clone()))
        .collect();
    let read: BTreeSet<String> = Config::environment_variables().into_iter().collect();
    for (name, _) in &env {
        assert!(
            read.contains(name),
            "the Deployment passes {name}, which the server does not read"
        );
    }
    for required in [
        "DATABASE_URL",
        "REDIS_URL",
        "HALL_BOOTSTRAP_API_KEY",
        "HALL_RECEIPT_SIGNING_KEY_FILE",
        "HALL_SESSION_SECRET_FILE",
    ] {
        assert!(
            env.iter().any(|(n, _)| n == required),
            "the Deployment does not pass {required}"
        );
    }
    // The key file is a mounted Secret item: every replica reads the same key.
    let key_file = env
        .iter()
        .find(|(n, _)| n == "HALL_RECEIPT_SIGNING_KEY_FILE")
        .and_then(|(_, e)| e["value"].as_str().map(str::to_string))
        .unwrap();
    let mount = container["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| key_file.starts_with(&format!("{}/", m["mountPath"].as_str().unwrap())))
        .expect("the key file lies in a mounted volume");
    let volume = pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    let file_name = key_file.rsplit('/').next().unwrap();
    assert!(
        volume["secret"]["items"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|i| i["path"] == file_name),
        "the key volume is not a Secret holding {file_name}"
    );
}

#[test]
fn kubernetes_probes_and_user_match_the_server_and_the_image() {
    let docs = kubernetes();
    let deployment = kind(&docs, "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/health");
    let listen = container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "HALL_LISTEN")
        .and_then(|e| e["value"].as_str())
        .unwrap();
    let port: u64 = listen.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(container["ports"][0]["containerPort"].as_u64(), Some(port));
    let service = kind(&docs, "Service");
    assert_eq!(
        service["spec"]["ports"][0]["targetPort"],
        container["ports"][0]["name"]
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let dockerfile = std::fs::read_to_string(workspace_root().join("deploy/Dockerfile")).unwrap();
    let uid = pod["securityContext"]["runAsUser"].as_u64().unwrap();
    assert!(
        dockerfile.contains(&format!("--uid {uid}")),
        "the pod runs as {uid}, which is not the image's user"
    );
}
