//! The deployment files and the README agree with what the server reads.
//! No Docker engine runs in CI, so the compose file is checked by parsing it.

mod common;

use std::collections::BTreeSet;

use api::config::Config;
use common::workspace_root;

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
