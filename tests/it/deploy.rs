//! The deployment files agree with the program: every YAML file under `deploy/` parses,
//! every TOML config they ship passes `inventory-monitor check` with the environment the
//! manifest gives it, every command line they run parses with our CLI, the Kubernetes
//! objects point at each other (selectors, ports, probes, volumes, secrets), the Dockerfile
//! builds what the manifests run, and the systemd unit passes `systemd-analyze verify` and
//! its offline security rating.
//!
//! One image name and tag (Cargo.toml's version) runs everywhere; the kustomize base has
//! only built-in kinds and the overlays render (a subset of kustomize is emulated: resources
//! and JSON patches) to what they promise. The Dockerfile's HEALTHCHECK and the overlays'
//! probe commands run (curl) against the binary serving TLS with basic auth.
//!
//! Docker and Kubernetes do not run here; what they would read is checked instead. Debian's
//! kubectl (1.20) embeds a kustomize too old for directory resources and `patches`, which
//! every kustomize since 2020 reads, so no kubectl is required: the overlays were rendered
//! with kubectl 1.32 (kustomize 5.5) when written.
//! `systemd-analyze` and `amtool` are skipped with a printed reason when absent, except
//! under `CI=true`, where they fail the test.

use crate::observability;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use inventory_monitor::cli::{Cli, Command as Sub};
use inventory_monitor::config::{self, HOSTNAME_ENV, SHARD_COUNT_ENV, SHARD_INDEX_ENV};
use observability::{files_under, repo, tool};
use serde_norway::Value as Y;

const BINARY: &str = env!("CARGO_BIN_EXE_inventory-monitor");

fn deploy() -> PathBuf {
    repo().join("deploy")
}

fn overlays() -> PathBuf {
    deploy().join("kubernetes-overlays")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every YAML document of a file (`---`-separated).
fn documents(path: &Path) -> Vec<Y> {
    use serde::Deserialize;
    let text = read(path);
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| {
            Y::deserialize(doc).unwrap_or_else(|e| panic!("{}: not YAML: {e}", path.display()))
        })
        .collect()
}

/// The Kubernetes object of `kind` (and `name`, when given) under deploy/kubernetes.
fn k8s(kind: &str, name: Option<&str>) -> Y {
    let mut found = Vec::new();
    for file in files_under(&deploy().join("kubernetes"), &[".yaml", ".yml"]) {
        for doc in documents(&file) {
            if doc["kind"].as_str() == Some(kind)
                && name.is_none_or(|n| doc["metadata"]["name"].as_str() == Some(n))
            {
                found.push(doc);
            }
        }
    }
    assert_eq!(
        found.len(),
        1,
        "expected one {kind} {name:?}, found {}",
        found.len()
    );
    found.remove(0)
}

fn strings(value: &Y) -> Vec<String> {
    value
        .as_sequence()
        .map(|s| {
            s.iter()
                .map(|v| match v {
                    Y::String(s) => s.clone(),
                    other => serde_norway::to_string(other)
                        .expect("scalar")
                        .trim()
                        .to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Parses `args` (without the program name) as our command line.
fn parse_cli(args: &[String], context: &str) -> Cli {
    let mut argv = vec!["inventory-monitor".to_string()];
    argv.extend(args.iter().cloned());
    Cli::try_parse_from(&argv)
        .unwrap_or_else(|e| panic!("{context}: {argv:?} does not parse:\n{e}"))
}

/// The config path of a `run` command line.
fn run_config(cli: &Cli, context: &str) -> PathBuf {
    match &cli.command {
        Some(Sub::Run(args)) => args.config.clone(),
        other => panic!("{context}: expected `run --config FILE`, got {other:?}"),
    }
}

/// `inventory-monitor check --config FILE` in exactly the environment `env`; (exit code,
/// stdout, stderr).
fn check(file: &Path, env: &BTreeMap<String, String>) -> (Option<i32>, String, String) {
    let out = Command::new(BINARY)
        .arg("check")
        .arg("--config")
        .arg(file)
        .env_clear()
        .envs(env)
        .output()
        .expect("run inventory-monitor check");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The environment variables a config file makes the monitor read: the token's variable
/// and every receiver's `url_env` and `secret_env`.
fn referenced_env(text: &str) -> BTreeSet<String> {
    let config = config::parse(text).unwrap_or_else(|e| panic!("config does not parse:\n{e}"));
    let mut names = BTreeSet::new();
    if config.api.token_file.is_none() {
        names.insert(
            config
                .api
                .token_env
                .clone()
                .unwrap_or_else(|| config::DEFAULT_TOKEN_ENV.to_string()),
        );
    }
    for receiver in &config.alerting.receivers {
        names.extend(receiver.url_env.clone());
        names.extend(receiver.secret_env.clone());
    }
    names
}

/// A value to stand in for a secret of the variable `name`.
fn dummy_secret(name: &str) -> String {
    if name.contains("URL") {
        "https://hooks.example.invalid/dummy".to_string()
    } else {
        "dummy-secret".to_string()
    }
}

#[test]
fn every_yaml_file_under_deploy_parses() {
    let files = files_under(&deploy(), &[".yml", ".yaml"]);
    assert!(files.len() >= 12, "{files:?}");
    for file in files {
        let docs = documents(&file);
        assert!(!docs.is_empty(), "{}: empty", file.display());
        for doc in docs {
            // A JSON patch (kustomize overlays) is a list of operations; all else, mappings.
            let is_patch = doc.as_sequence().is_some_and(|ops| {
                ops.iter()
                    .all(|op| op["op"].is_string() && op["path"].is_string())
            });
            assert!(
                doc.is_mapping() || is_patch,
                "{}: a document that is neither a mapping nor a JSON patch",
                file.display()
            );
        }
    }
}

#[test]
fn every_toml_file_under_deploy_is_used_by_a_manifest() {
    // Each is checked with its manifest's environment below; none is left unchecked.
    let tomls: Vec<PathBuf> = files_under(&deploy(), &[".toml"]);
    let used = [deploy().join("compose/inventory-monitor.toml")];
    for file in &tomls {
        assert!(
            used.contains(file),
            "{} is not checked by any test",
            file.display()
        );
    }
}

#[test]
fn kubernetes_config_passes_check_for_every_replica_and_only_those() {
    let statefulset = k8s("StatefulSet", Some("inventory-monitor"));
    let configmap = k8s("ConfigMap", Some("inventory-monitor"));
    let name = statefulset["metadata"]["name"].as_str().expect("name");
    let replicas = statefulset["spec"]["replicas"].as_u64().expect("replicas");
    let pod = &statefulset["spec"]["template"]["spec"];
    let container = &pod["containers"][0];

    // The config file the container runs is the ConfigMap's key, where it is mounted.
    let cli = parse_cli(&strings(&container["args"]), "StatefulSet args");
    assert!(
        container["command"].is_null(),
        "the image's ENTRYPOINT is the binary"
    );
    let config_path = run_config(&cli, "StatefulSet");
    let mount = container["volumeMounts"]
        .as_sequence()
        .expect("volumeMounts")
        .iter()
        .find(|m| config_path.starts_with(m["mountPath"].as_str().unwrap_or("-")))
        .expect("the config path is on a volume");
    let volume = pod["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the config volume");
    assert_eq!(volume["configMap"]["name"], configmap["metadata"]["name"]);
    let key = config_path
        .strip_prefix(mount["mountPath"].as_str().expect("mountPath"))
        .expect("under the mount")
        .to_string_lossy()
        .into_owned();
    let text = configmap["data"][key.as_str()]
        .as_str()
        .unwrap_or_else(|| panic!("the ConfigMap has no key {key}"));
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("config.toml");
    std::fs::write(&file, text).expect("write the ConfigMap's config");

    // The environment the manifest gives the container, secrets replaced by dummies.
    let mut env = BTreeMap::new();
    for var in container["env"].as_sequence().expect("env") {
        let var_name = var["name"].as_str().expect("env name").to_string();
        let value = match (&var["value"], &var["valueFrom"]["secretKeyRef"]) {
            (Y::String(v), Y::Null) => v.clone(),
            (Y::Null, secret) if secret.is_mapping() => dummy_secret(&var_name),
            other => panic!("{var_name}: unexpected env source {other:?}"),
        };
        env.insert(var_name, value);
    }

    for ordinal in 0..replicas {
        env.insert(HOSTNAME_ENV.to_string(), format!("{name}-{ordinal}"));
        let (code, stdout, stderr) = check(&file, &env);
        assert_eq!(code, Some(0), "pod {ordinal}:\n{stdout}{stderr}");
        assert!(
            stdout.contains(&format!("shard {ordinal}/{replicas}")),
            "pod {ordinal}: {stdout}"
        );
    }
    // One replica more than the count: the manifest's count is the replicas.
    env.insert(HOSTNAME_ENV.to_string(), format!("{name}-{replicas}"));
    let (code, _, stderr) = check(&file, &env);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("shard.index (line 18): must be less than shard.count"),
        "{stderr}"
    );
}

#[test]
fn statefulset_environment_is_what_the_config_reads_with_secrets_by_reference() {
    let statefulset = k8s("StatefulSet", Some("inventory-monitor"));
    let configmap = k8s("ConfigMap", Some("inventory-monitor"));
    let container = &statefulset["spec"]["template"]["spec"]["containers"][0];
    let text = configmap["data"]["config.toml"]
        .as_str()
        .expect("config.toml");
    let referenced = referenced_env(text);
    assert!(
        text.contains("index = \"auto\""),
        "the shard index comes from the pod name"
    );

    let mut names = BTreeSet::new();
    for var in container["env"].as_sequence().expect("env") {
        let name = var["name"].as_str().expect("name").to_string();
        if referenced.contains(&name) {
            // Secrets only by reference: never a literal value in the manifest.
            assert!(var["value"].is_null(), "{name} is written in the manifest");
            let secret = &var["valueFrom"]["secretKeyRef"];
            assert!(
                secret["name"].is_string() && secret["key"].is_string(),
                "{name} is not from a Secret"
            );
        } else {
            assert!(
                [SHARD_COUNT_ENV, SHARD_INDEX_ENV, HOSTNAME_ENV, "RUST_LOG"]
                    .contains(&name.as_str()),
                "{name} is set but nothing reads it"
            );
        }
        names.insert(name);
    }
    for name in &referenced {
        assert!(
            names.contains(name),
            "the config reads {name}, the pod lacks it"
        );
    }
    // The count is the number of replicas.
    let count = container["env"]
        .as_sequence()
        .expect("env")
        .iter()
        .find(|v| v["name"].as_str() == Some(SHARD_COUNT_ENV))
        .and_then(|v| v["value"].as_str())
        .expect("the shard count is set");
    assert_eq!(
        count.parse::<u64>().ok(),
        statefulset["spec"]["replicas"].as_u64()
    );

    // No Secret with literal data is shipped.
    for file in files_under(&deploy(), &[".yaml", ".yml"]) {
        for doc in documents(&file) {
            assert!(
                doc["kind"].as_str() != Some("Secret"),
                "{} ships a Secret",
                file.display()
            );
        }
    }
}

#[test]
fn kubernetes_objects_point_at_each_other() {
    let statefulset = k8s("StatefulSet", Some("inventory-monitor"));
    let spec = &statefulset["spec"];
    let pod = &spec["template"]["spec"];
    let labels = &spec["template"]["metadata"]["labels"];
    let container = &pod["containers"][0];
    let matches = |selector: &Y| {
        selector
            .as_mapping()
            .expect("selector")
            .iter()
            .all(|(k, v)| &labels[k] == v)
    };
    assert!(matches(&spec["selector"]["matchLabels"]));

    // The container port is the config's listen port; probes use it.
    let configmap = k8s("ConfigMap", Some("inventory-monitor"));
    let config = config::parse(configmap["data"]["config.toml"].as_str().expect("config"))
        .expect("config parses");
    let listen_port = config
        .server
        .listen
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u64>().ok())
        .expect("listen port");
    let port = &container["ports"][0];
    assert_eq!(port["containerPort"].as_u64(), Some(listen_port));
    let port_name = port["name"].as_str().expect("port name");
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"],
        Y::from("/healthz")
    );
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"],
        Y::from("/readyz")
    );
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(
            container[probe]["httpGet"]["port"],
            Y::from(port_name),
            "{probe}"
        );
    }

    // Locked down, with resources.
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], Y::from(true));
    assert_eq!(security["allowPrivilegeEscalation"], Y::from(false));
    assert_eq!(strings(&security["capabilities"]["drop"]), ["ALL"]);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], Y::from(true));
    assert!(pod["securityContext"]["runAsUser"]
        .as_u64()
        .is_some_and(|u| u > 0));
    assert!(container["resources"]["requests"]["memory"].is_string());
    assert!(container["resources"]["limits"]["memory"].is_string());

    // The state directory is the volume claim's mount.
    let claim = &spec["volumeClaimTemplates"][0];
    let state_mount = container["volumeMounts"]
        .as_sequence()
        .expect("mounts")
        .iter()
        .find(|m| m["name"] == claim["metadata"]["name"])
        .expect("the claim is mounted");
    assert_eq!(
        state_mount["mountPath"].as_str().map(PathBuf::from),
        Some(config.state.dir.clone())
    );

    // Services select the pods; the headless one is the StatefulSet's.
    let headless = k8s("Service", spec["serviceName"].as_str());
    assert_eq!(headless["spec"]["clusterIP"], Y::from("None"));
    let metrics = k8s("Service", Some("inventory-monitor"));
    for service in [&headless, &metrics] {
        assert!(matches(&service["spec"]["selector"]));
        assert_eq!(
            service["spec"]["ports"][0]["targetPort"],
            Y::from(port_name)
        );
    }
    // The ServiceMonitor (an overlay) scrapes the metrics Service only (not twice through both).
    let monitor = documents(&overlays().join("servicemonitor/servicemonitor.yaml")).remove(0);
    let wanted = monitor["spec"]["selector"]["matchLabels"]
        .as_mapping()
        .expect("matchLabels");
    let selected = |service: &Y| {
        wanted
            .iter()
            .all(|(k, v)| &service["metadata"]["labels"][k] == v)
    };
    assert!(selected(&metrics) && !selected(&headless));
    assert_eq!(
        monitor["spec"]["endpoints"][0]["port"],
        metrics["spec"]["ports"][0]["name"]
    );
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], Y::from("/metrics"));

    let pdb = k8s("PodDisruptionBudget", None);
    assert!(matches(&pdb["spec"]["selector"]["matchLabels"]));

    // kustomize applies every manifest of the directory.
    let kustomization = &documents(&deploy().join("kubernetes/kustomization.yaml"))[0];
    let listed: BTreeSet<String> = strings(&kustomization["resources"]).into_iter().collect();
    let present: BTreeSet<String> = files_under(&deploy().join("kubernetes"), &[".yaml"])
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|n| n != "kustomization.yaml")
        .collect();
    assert_eq!(listed, present);
}

/// A Dockerfile's instructions, continuation lines joined, comments dropped.
fn dockerfile() -> Vec<(String, String)> {
    let text = read(&repo().join("Dockerfile"));
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (op, rest) = current.split_once(' ').unwrap_or((current.as_str(), ""));
                out.push((op.to_uppercase(), rest.trim().to_string()));
                current.clear();
            }
        }
    }
    out
}

#[test]
fn dockerfile_builds_the_locked_release_and_runs_it_unprivileged() {
    let instructions = dockerfile();
    let all = |op: &str| -> Vec<String> {
        instructions
            .iter()
            .filter(|(o, _)| o == op)
            .map(|(_, a)| a.clone())
            .collect()
    };
    let last = |op: &str| all(op).pop().unwrap_or_else(|| panic!("no {op}"));

    let froms = all("FROM");
    assert_eq!(froms.len(), 2, "multi-stage: {froms:?}");
    assert!(froms[0].starts_with("rust:1-bookworm AS "), "{froms:?}");
    assert!(
        froms[1].starts_with("debian:bookworm-slim") || froms[1].contains("distroless"),
        "{froms:?}"
    );
    let runs = all("RUN").join("\n");
    assert!(runs.contains("cargo build --release --locked"), "{runs}");
    assert!(runs.contains("ca-certificates"), "{runs}");

    // Not root, state on a volume, the default port.
    let user = last("USER");
    let uid = user.split(':').next().unwrap_or("");
    assert!(uid.parse::<u32>().is_ok_and(|u| u > 0), "USER {user}");
    let volume = last("VOLUME");
    assert_eq!(volume, "/var/lib/inventory-monitor");
    let default_listen = config::Config::default().server.listen;
    let port = default_listen
        .rsplit_once(':')
        .map(|(_, p)| p)
        .expect("port");
    assert_eq!(last("EXPOSE"), port);
    let healthcheck = last("HEALTHCHECK");
    assert!(
        healthcheck.contains(&format!("http://127.0.0.1:{port}/healthz")),
        "{healthcheck}"
    );
    // The working directory is the volume, so the default state.dir ("./data") is on it.
    assert_eq!(last("WORKDIR"), volume);

    // ENTRYPOINT is the binary; CMD parses as our command line.
    let entrypoint: Vec<String> =
        serde_json::from_str(&last("ENTRYPOINT")).expect("ENTRYPOINT in exec form");
    assert_eq!(entrypoint, ["inventory-monitor"]);
    let cmd: Vec<String> = serde_json::from_str(&last("CMD")).expect("CMD in exec form");
    let cli = parse_cli(&cmd, "Dockerfile CMD");
    assert_eq!(
        run_config(&cli, "Dockerfile CMD"),
        PathBuf::from("/etc/inventory-monitor/config.toml")
    );

    // Everything COPYed from the context survives .dockerignore.
    let ignored: Vec<String> = read(&repo().join(".dockerignore"))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    assert!(ignored.contains(&"target".to_string()) && ignored.contains(&".git".to_string()));
    for copy in all("COPY") {
        if copy.starts_with("--from") {
            continue;
        }
        let parts: Vec<&str> = copy.split_whitespace().collect();
        for source in &parts[..parts.len() - 1] {
            assert!(
                repo().join(source).exists(),
                "COPY {source}: not in the repository"
            );
            let first = source.split('/').next().unwrap_or(source);
            assert!(
                !ignored.iter().any(|i| i == first || i == *source),
                "COPY {source} is excluded by .dockerignore"
            );
        }
    }
}

#[test]
fn compose_services_run_our_cli_with_files_that_exist() {
    let compose = &documents(&deploy().join("docker-compose.yml"))[0];
    let services = compose["services"].as_mapping().expect("services");
    for service in [
        "simulator",
        "inventory-monitor",
        "prometheus",
        "alertmanager",
        "grafana",
    ] {
        assert!(services.contains_key(service), "no {service} service");
    }
    // Every host path it mounts exists; the build context has the Dockerfile.
    for (name, service) in services {
        for volume in strings(&service["volumes"]) {
            if let Some(host) = volume.split(':').next().filter(|h| h.starts_with('.')) {
                assert!(
                    deploy().join(host).exists(),
                    "{name:?} mounts {host}, which does not exist"
                );
            }
        }
        if let Some(context) = service["build"]["context"].as_str() {
            let dockerfile = service["build"]["dockerfile"]
                .as_str()
                .unwrap_or("Dockerfile");
            assert!(deploy().join(context).join(dockerfile).is_file());
        }
    }

    // The simulator and the monitor run our binary; their commands parse.
    let simulator = &compose["services"]["simulator"];
    let cli = parse_cli(&strings(&simulator["command"]), "compose simulator");
    match cli.command {
        Some(Sub::Simulate(args)) => {
            assert_eq!(args.listen, "0.0.0.0:8080");
            assert!(args.drift.is_some(), "the simulator's health drifts");
        }
        other => panic!("compose simulator: expected simulate, got {other:?}"),
    }
    let monitor = &compose["services"]["inventory-monitor"];
    assert_eq!(monitor["image"], simulator["image"], "one image for both");
    let cli = parse_cli(&strings(&monitor["command"]), "compose inventory-monitor");
    let config_path = run_config(&cli, "compose inventory-monitor");

    // The config it runs is the mounted file, and it passes check in the service's
    // environment, pointing at the simulator.
    let host = strings(&monitor["volumes"])
        .into_iter()
        .find_map(|v| {
            let mut parts = v.split(':');
            let host = parts.next()?.to_string();
            (parts.next()? == config_path.to_string_lossy()).then_some(host)
        })
        .expect("the config file is mounted");
    let file = deploy().join(host);
    let env: BTreeMap<String, String> = monitor["environment"]
        .as_mapping()
        .expect("environment")
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().expect("name").to_string(),
                v.as_str().expect("value").to_string(),
            )
        })
        .collect();
    let (code, stdout, stderr) = check(&file, &env);
    assert_eq!(code, Some(0), "{}:\n{stdout}{stderr}", file.display());
    let config = config::parse(&read(&file)).expect("parses");
    assert!(config.api.base_url.starts_with("http://simulator:8080/"));
    let volume_dirs: Vec<String> = strings(&monitor["volumes"])
        .iter()
        .filter_map(|v| v.split(':').nth(1).map(str::to_string))
        .collect();
    assert!(
        volume_dirs.contains(&config.state.dir.to_string_lossy().into_owned()),
        "state.dir {:?} is not on a volume: {volume_dirs:?}",
        config.state.dir
    );
    // Prometheus scrapes the monitor's service name and port.
    let prometheus = read(&deploy().join("prometheus/prometheus.yml"));
    assert!(prometheus.contains(&format!(
        "inventory-monitor:{}",
        config
            .server
            .listen
            .rsplit_once(':')
            .map(|(_, p)| p)
            .unwrap_or("")
    )));
}

/// What a program printed: its stdout, then its stderr.
fn said(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn compose_alertmanager_config_passes_amtool() {
    let Some(amtool) = tool("amtool") else {
        return;
    };
    let out = Command::new(amtool)
        .arg("check-config")
        .arg(deploy().join("compose/alertmanager.yml"))
        .output()
        .expect("run amtool");
    assert!(out.status.success(), "{}", said(&out));
}

#[test]
fn systemd_unit_verifies_and_is_hardened() {
    let unit = read(&deploy().join("systemd/inventory-monitor.service"));
    let directives: BTreeMap<String, Vec<String>> = unit
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| !k.trim_start().starts_with('#'))
        .fold(BTreeMap::new(), |mut m, (k, v)| {
            m.entry(k.trim().to_string())
                .or_default()
                .push(v.trim().to_string());
            m
        });
    let one = |key: &str| -> &str {
        directives
            .get(key)
            .and_then(|v| v.last())
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no {key}="))
    };
    for (key, value) in [
        ("DynamicUser", "yes"),
        ("StateDirectory", "inventory-monitor"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_INET AF_INET6"),
        ("Restart", "on-failure"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
    ] {
        assert_eq!(one(key), value, "{key}");
    }
    assert!(directives["SystemCallFilter"].contains(&"@system-service".to_string()));
    assert!(one("EnvironmentFile").starts_with("/etc/inventory-monitor/"));

    // ExecStart parses as our command line; its config is the one the comments install.
    let exec: Vec<String> = one("ExecStart")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(exec[0], "/usr/local/bin/inventory-monitor");
    let cli = parse_cli(&exec[1..], "ExecStart");
    assert_eq!(
        run_config(&cli, "ExecStart"),
        PathBuf::from("/etc/inventory-monitor/config.toml")
    );

    // The example config passes check with exactly the variables of the shipped env file.
    let env: BTreeMap<String, String> = read(&deploy().join("systemd/inventory-monitor.env"))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let example = repo().join("config/inventory-monitor.toml");
    assert_eq!(
        env.keys().cloned().collect::<BTreeSet<_>>(),
        referenced_env(&read(&example))
    );
    let (code, stdout, stderr) = check(&example, &env);
    assert_eq!(code, Some(0), "{stdout}{stderr}");

    let Some(analyze) = tool("systemd-analyze") else {
        return;
    };
    // verify wants the binary to exist: point ExecStart at the one cargo built.
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("inventory-monitor.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/inventory-monitor", BINARY),
    )
    .expect("write unit");
    let out = Command::new(&analyze)
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("run systemd-analyze verify");
    let verdict = said(&out);
    // verify exits 0 on unknown keys, only saying so: any output is a finding.
    assert!(
        out.status.success() && verdict.trim().is_empty(),
        "systemd-analyze verify:\n{verdict}"
    );

    // Exposure 2.0 or less ("OK") on systemd's 0-10 scale (the threshold is in tenths).
    let out = Command::new(&analyze)
        .args(["security", "--offline=true", "--threshold=20", "--no-pager"])
        .arg(&copy)
        .output()
        .expect("run systemd-analyze security");
    assert!(
        out.status.success(),
        "systemd-analyze security:\n{}",
        said(&out)
    );
}

// ---------------------------------------------------------------------------------------
// One image name and tag; kustomize's base and overlays.

/// The image every deploy file runs: `inventory-monitor:` and Cargo.toml's version.
fn image() -> String {
    format!("inventory-monitor:{}", env!("CARGO_PKG_VERSION"))
}

#[test]
fn one_image_name_and_tag_everywhere_and_the_tag_is_the_version() {
    let image = image();
    // The Dockerfile's header builds and runs it.
    let dockerfile = read(&repo().join("Dockerfile"));
    let build = dockerfile
        .lines()
        .find_map(|l| {
            l.trim_start_matches('#')
                .trim()
                .strip_prefix("docker build -t ")
        })
        .expect("a `docker build -t` line in the Dockerfile's header");
    assert_eq!(build, format!("{image} ."));
    let run_line = dockerfile
        .lines()
        .rev()
        .find(|l| l.contains("inventory-monitor-state:/var/lib/inventory-monitor"))
        .expect("the docker run example");
    assert_eq!(run_line.split_whitespace().last(), Some(image.as_str()));

    // Compose builds it under that name, for both services that run it.
    let compose = &documents(&deploy().join("docker-compose.yml"))[0];
    for service in ["simulator", "inventory-monitor"] {
        assert_eq!(
            compose["services"][service]["image"].as_str(),
            Some(image.as_str()),
            "compose {service}"
        );
    }

    // The StatefulSet runs it, with a pull policy that fits a fixed version tag.
    let statefulset = k8s("StatefulSet", Some("inventory-monitor"));
    let container = &statefulset["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"].as_str(), Some(image.as_str()));
    assert_eq!(container["imagePullPolicy"].as_str(), Some("IfNotPresent"));
    assert!(!env!("CARGO_PKG_VERSION").contains("latest"));

    // The README's build, tag and push steps make it.
    let readme = read(&repo().join("README.md"));
    for step in [
        format!("docker build -t {image} ."),
        format!("docker tag {image} REGISTRY/{image}"),
        format!("docker push REGISTRY/{image}"),
    ] {
        assert!(readme.contains(&step), "README lacks `{step}`");
    }
}

/// The kustomization of `dir`, with every resource and patch it names checked to exist.
fn kustomization(dir: &Path) -> Y {
    let k = documents(&dir.join("kustomization.yaml")).remove(0);
    assert_eq!(
        k["kind"].as_str(),
        Some("Kustomization"),
        "{}",
        dir.display()
    );
    for resource in strings(&k["resources"]) {
        assert!(
            dir.join(&resource).exists(),
            "{}: resource {resource} does not exist",
            dir.display()
        );
        // kustomize refuses an overlay inside its base's directory (a cycle).
        let resource = dir.join(&resource).canonicalize().expect("canonical");
        let here = dir.canonicalize().expect("canonical");
        assert!(
            resource.is_file() || !here.starts_with(&resource),
            "{} is inside its base {}",
            dir.display(),
            resource.display()
        );
    }
    for patch in k["patches"].as_sequence().into_iter().flatten() {
        let path = patch["path"].as_str().expect("patch path");
        assert!(
            dir.join(path).is_file(),
            "{}: no patch {path}",
            dir.display()
        );
    }
    k
}

/// What `kubectl kustomize dir` renders, for the subset of kustomize these files use:
/// resources (files and directories) and JSON patches (`add`, `replace`) by kind and name.
fn render(dir: &Path) -> Vec<serde_json::Value> {
    let k = kustomization(dir);
    let mut objects = Vec::new();
    for resource in strings(&k["resources"]) {
        let path = dir.join(&resource);
        if path.is_dir() {
            objects.extend(render(&path));
        } else {
            for doc in documents(&path) {
                objects.push(serde_json::to_value(&doc).expect("YAML to JSON"));
            }
        }
    }
    for patch in k["patches"].as_sequence().into_iter().flatten() {
        let kind = patch["target"]["kind"].as_str().expect("target kind");
        let name = patch["target"]["name"].as_str().expect("target name");
        let ops = documents(&dir.join(patch["path"].as_str().expect("path"))).remove(0);
        let target = objects
            .iter_mut()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{}: no {kind} {name} to patch", dir.display()));
        for op in ops.as_sequence().expect("a JSON patch") {
            let pointer = op["path"].as_str().expect("op path");
            let value = serde_json::to_value(&op["value"]).expect("value");
            let (parent, last) = pointer.rsplit_once('/').expect("a JSON pointer");
            match op["op"].as_str() {
                Some("add") if last == "-" => target
                    .pointer_mut(parent)
                    .and_then(|p| p.as_array_mut())
                    .unwrap_or_else(|| panic!("add to {pointer}: no list there"))
                    .push(value),
                Some("replace") => {
                    *target
                        .pointer_mut(pointer)
                        .unwrap_or_else(|| panic!("replace {pointer}: nothing there")) = value
                }
                other => panic!("{}: unexpected op {other:?} {pointer}", dir.display()),
            }
        }
    }
    objects
}

fn kinds(objects: &[serde_json::Value]) -> BTreeSet<String> {
    objects
        .iter()
        .map(|o| {
            format!(
                "{} {}",
                o["apiVersion"].as_str().unwrap_or(""),
                o["kind"].as_str().unwrap_or("")
            )
        })
        .collect()
}

fn statefulset_container(objects: &[serde_json::Value]) -> &serde_json::Value {
    let sts = objects
        .iter()
        .find(|o| o["kind"] == "StatefulSet")
        .expect("a StatefulSet");
    &sts["spec"]["template"]["spec"]["containers"][0]
}

#[test]
fn the_base_applies_to_a_plain_cluster_and_the_servicemonitor_is_an_overlay() {
    // No CRD in the base: every kind is a built-in one.
    let base = render(&deploy().join("kubernetes"));
    assert_eq!(
        kinds(&base),
        [
            "apps/v1 StatefulSet",
            "policy/v1 PodDisruptionBudget",
            "v1 ConfigMap",
            "v1 Service",
        ]
        .map(String::from)
        .into(),
    );
    // The overlay is the base plus a ServiceMonitor carrying the `release` label
    // kube-prometheus-stack selects on.
    let overlay = render(&overlays().join("servicemonitor"));
    assert_eq!(overlay.len(), base.len() + 1);
    let monitor = overlay
        .iter()
        .find(|o| o["apiVersion"] == "monitoring.coreos.com/v1")
        .expect("a monitoring.coreos.com object");
    assert_eq!(monitor["kind"], "ServiceMonitor");
    assert!(
        monitor["metadata"]["labels"]["release"].is_string(),
        "{monitor}"
    );
    let readme = read(&repo().join("README.md"));
    assert!(
        readme.contains("`release`"),
        "the README names the release label"
    );

    // The base's StatefulSet reloads a changed ConfigMap by itself.
    let container = statefulset_container(&base);
    let args: Vec<String> = serde_json::from_value(container["args"].clone()).expect("args");
    let cli = parse_cli(&args, "StatefulSet args");
    match cli.command {
        Some(Sub::Run(run)) => assert_eq!(
            run.auto_reload_interval,
            Some(std::time::Duration::from_secs(30))
        ),
        other => panic!("StatefulSet: expected run, got {other:?}"),
    }
}

#[test]
fn tls_auth_overlays_probe_over_https_with_credentials() {
    // Exec probes: curl over HTTPS with the CA and a netrc from the mounted Secret.
    let objects = render(&overlays().join("tls-auth"));
    let container = statefulset_container(&objects);
    let args: Vec<String> = serde_json::from_value(container["args"].clone()).expect("args");
    let cli = parse_cli(&args, "tls-auth args");
    let web = match cli.command {
        Some(Sub::Run(run)) => run.web_config.expect("--web-config"),
        other => panic!("tls-auth: expected run, got {other:?}"),
    };
    let mount = container["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .find(|m| web.starts_with(m["mountPath"].as_str().unwrap_or("-")))
        .expect("the web config is on a mount");
    let sts = objects
        .iter()
        .find(|o| o["kind"] == "StatefulSet")
        .expect("sts");
    let volume = sts["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the mount's volume");
    assert_eq!(volume["secret"]["secretName"], "inventory-monitor-web");
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let command: Vec<String> =
            serde_json::from_value(container[probe]["exec"]["command"].clone()).expect(probe);
        assert_eq!(command[0], "curl", "{probe}");
        assert!(command
            .last()
            .is_some_and(|u| u.starts_with("https://") && u.ends_with(path)));
        for flag in ["--cacert", "--netrc-file"] {
            let file = command
                .iter()
                .skip_while(|a| *a != flag)
                .nth(1)
                .unwrap_or_else(|| panic!("{probe}: no {flag}"));
            assert!(
                file.starts_with(mount["mountPath"].as_str().expect("path")),
                "{probe} {flag}"
            );
        }
        assert!(container[probe]["httpGet"].is_null(), "{probe}");
    }

    // httpGet probes: HTTPS and a literal Authorization header.
    let objects = render(&overlays().join("tls-auth-httpget"));
    let container = statefulset_container(&objects);
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["scheme"], "HTTPS", "{probe}");
        assert_eq!(get["path"], path, "{probe}");
        assert_eq!(get["httpHeaders"][0]["name"], "Authorization", "{probe}");
        assert!(get["httpHeaders"][0]["value"]
            .as_str()
            .is_some_and(|v| v.starts_with("Basic ")));
        assert!(container[probe]["exec"].is_null(), "{probe}");
    }
}

// ---------------------------------------------------------------------------------------
// The probes' commands against the real binary serving TLS with basic auth.

const PROBE_PASSWORD: &str = "probe-s3cret";

/// A directory laid out like the tls-auth overlay's Secret: ca.crt, tls.crt, tls.key (for
/// localhost and 127.0.0.1), web-config.yml (the user `probe`), probe.netrc, and a netrc
/// with the wrong password.
fn web_secret() -> tempfile::TempDir {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
        SanType,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.distinguished_name
        .push(DnType::CommonName, "probe test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().expect("CA key");
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca, ca_key);
    let mut server = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    server
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    let key = KeyPair::generate().expect("key");
    let cert = server.signed_by(&key, &issuer).expect("certificate");
    let hash = bcrypt::hash(PROBE_PASSWORD, 4).expect("bcrypt");
    for (name, text) in [
        ("ca.crt", ca_cert.pem()),
        ("tls.crt", cert.pem()),
        ("tls.key", key.serialize_pem()),
        (
            "web-config.yml",
            format!(
                "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n\
                 basic_auth_users:\n  probe: \"{hash}\"\n"
            ),
        ),
        (
            "probe.netrc",
            format!("machine localhost login probe password {PROBE_PASSWORD}\n"),
        ),
        (
            "wrong.netrc",
            "machine localhost login probe password guessed\n".to_string(),
        ),
    ] {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    dir
}

/// The binary serving HTTPS with basic auth on `port` (web config from `secret`), polling a
/// simulator; returns once /readyz answers 200 to a client with the CA and the password.
async fn serve_tls_auth(
    secret: &Path,
    port: u16,
) -> (
    crate::common::Sim,
    inventory_monitor_testkit::child::Child,
    tempfile::TempDir,
) {
    let sim = crate::common::start_sim(inventory_monitor::simulator::SimOptions {
        profiles: 3,
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[api]\nbase_url = \"{}\"\ntoken_env = \"IM_TEST_TOKEN\"\n[server]\nlisten = \"127.0.0.1:{port}\"\n\
             [state]\ndir = \"{}\"\n",
            sim.base_url,
            dir.path().join("state").display()
        ),
    )
    .expect("write config");
    let child = inventory_monitor_testkit::child::Launch::new(BINARY)
        .arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--web-config")
        .arg(secret.join("web-config.yml"))
        .env("IM_TEST_TOKEN", "demo-token")
        .spawn()
        .expect("spawn");
    let ca = reqwest::Certificate::from_pem(&std::fs::read(secret.join("ca.crt")).expect("ca"))
        .expect("CA");
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .expect("client");
    let url = format!("https://localhost:{port}/readyz");
    let ready = crate::common::wait_for(std::time::Duration::from_secs(20), || async {
        client
            .get(&url)
            .basic_auth("probe", Some(PROBE_PASSWORD))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(ready, "never ready over TLS:\n{}", child.stderr_text());
    (sim, child, dir)
}

/// The exit code of `program args` (no shell), with `env` added.
fn exit_code(program: &str, args: &[String], env: &[(&str, String)]) -> Option<i32> {
    Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run the probe command")
        .code()
}

#[tokio::test]
async fn dockerfile_healthcheck_and_exec_probes_pass_with_tls_and_basic_auth() {
    if tool("curl").is_none() {
        return;
    }
    let secret = web_secret();
    let s = secret.path();
    let port = observability::free_port();
    let (_sim, mut child, _dir) = serve_tls_auth(s, port).await;

    // The Dockerfile's HEALTHCHECK command, run by a shell as Docker runs its shell form.
    let healthcheck = dockerfile()
        .into_iter()
        .rev()
        .find(|(op, _)| op == "HEALTHCHECK")
        .map(|(_, rest)| rest)
        .expect("HEALTHCHECK");
    let (_, command) = healthcheck
        .split_once(" CMD ")
        .expect("HEALTHCHECK ... CMD");
    let sh = |opts: String| {
        exit_code(
            "sh",
            &["-c".to_string(), command.to_string()],
            &[
                (
                    "INVENTORY_MONITOR_HEALTHCHECK_URL",
                    format!("https://localhost:{port}/healthz"),
                ),
                ("INVENTORY_MONITOR_HEALTHCHECK_CURL_OPTS", opts),
            ],
        )
    };
    let ca = s.join("ca.crt").display().to_string();
    let good = s.join("probe.netrc").display().to_string();
    let wrong = s.join("wrong.netrc").display().to_string();
    assert_eq!(sh(format!("--cacert {ca} --netrc-file {good}")), Some(0));
    // Docker's codes: 1 is unhealthy (2 is reserved), whatever curl's own code was.
    assert_eq!(sh(format!("--cacert {ca} --netrc-file {wrong}")), Some(1));
    assert_eq!(sh(format!("--cacert {ca}")), Some(1), "no credentials");
    assert_eq!(
        sh(format!("--netrc-file {good}")),
        Some(1),
        "unverified server"
    );

    // The tls-auth overlay's exec probes, their Secret paths and port pointed here.
    let objects = render(&overlays().join("tls-auth"));
    let container = statefulset_container(&objects);
    for probe in ["livenessProbe", "readinessProbe"] {
        let command: Vec<String> =
            serde_json::from_value(container[probe]["exec"]["command"].clone()).expect(probe);
        let here = |netrc: &str| -> Vec<String> {
            command[1..]
                .iter()
                .map(|a| {
                    a.replace("/etc/inventory-monitor-web/", &format!("{}/", s.display()))
                        .replace("probe.netrc", netrc)
                        .replace("localhost:9857", &format!("localhost:{port}"))
                })
                .collect()
        };
        assert_eq!(
            exit_code(&command[0], &here("probe.netrc"), &[]),
            Some(0),
            "{probe}"
        );
        assert_ne!(
            exit_code(&command[0], &here("wrong.netrc"), &[]),
            Some(0),
            "{probe}"
        );
    }
    assert!(child.is_running());
}

#[tokio::test]
async fn httpget_probe_header_made_as_documented_is_accepted() {
    let secret = web_secret();
    let port = observability::free_port();
    let (_sim, _child, _dir) = serve_tls_auth(secret.path(), port).await;
    // The kubelet does not verify the certificate of an HTTPS probe.
    let kubelet = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client");
    let probe = |header: String| {
        let kubelet = kubelet.clone();
        async move {
            kubelet
                .get(format!("https://127.0.0.1:{port}/healthz"))
                .header("Authorization", header)
                .send()
                .await
                .expect("probe")
                .status()
                .as_u16()
        }
    };
    // The header as the overlay's kustomization.yaml says to make it.
    let made = Command::new("sh")
        .arg("-c")
        .arg("printf 'Basic %s' \"$(printf 'probe:%s' \"$PASSWORD\" | base64 -w0)\"")
        .env("PASSWORD", PROBE_PASSWORD)
        .output()
        .expect("sh");
    let header = String::from_utf8(made.stdout).expect("UTF-8");
    assert_eq!(probe(header).await, 200);
    // The shipped placeholder is not anyone's password.
    let objects = render(&overlays().join("tls-auth-httpget"));
    let shipped = statefulset_container(&objects)["livenessProbe"]["httpGet"]["httpHeaders"][0]
        ["value"]
        .as_str()
        .expect("header")
        .to_string();
    assert_eq!(probe(shipped).await, 401);
}
