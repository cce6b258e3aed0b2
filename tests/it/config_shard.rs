//! Sharding from the environment: one config file (a Kubernetes ConfigMap) for every replica,
//! the shard count and index overridden by `INVENTORY_MONITOR_SHARD_COUNT` /
//! `INVENTORY_MONITOR_SHARD_INDEX`, and `shard.index = "auto"` read from the trailing `-N` of
//! `HOSTNAME` (a StatefulSet pod's name), each mistake refused with its key path and where
//! the value came from.
//!
//! The environment is injected (`load_with`): test threads share the process environment.
//! The one test of the binary sets variables on the child process only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use inventory_monitor::config::{self, Config, HOSTNAME_ENV, SHARD_COUNT_ENV, SHARD_INDEX_ENV};
use inventory_monitor::shard::Shard;

const BASE: &str = "[api]\nbase_url = \"https://control.example.com/api/v1\"\n";

/// A config file holding `BASE` and then `shard`, in a directory that lives as long as
/// the returned guard.
fn file_with(shard: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.toml");
    std::fs::write(&path, format!("{BASE}{shard}")).expect("write config");
    (dir, path)
}

/// An environment holding the API token and `vars`.
fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let mut all: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    all.insert("INVENTORY_API_TOKEN".into(), "t0ken".into());
    move |name| all.get(name).cloned()
}

fn load(shard: &str, vars: &[(&str, &str)]) -> Result<Config, Vec<String>> {
    let (_dir, path) = file_with(shard);
    config::load_with(&path, &env_of(vars))
        .map_err(|e| e.problems.iter().map(ToString::to_string).collect())
}

fn shard_of(shard: &str, vars: &[(&str, &str)]) -> Shard {
    match load(shard, vars) {
        Ok(config) => config.shard(),
        Err(problems) => panic!("refused: {problems:?}"),
    }
}

fn problems(shard: &str, vars: &[(&str, &str)]) -> Vec<String> {
    match load(shard, vars) {
        Ok(config) => panic!("accepted with shard {:?}", config.shard()),
        Err(problems) => problems,
    }
}

#[test]
fn auto_index_is_the_ordinal_at_the_end_of_the_pod_name() {
    let config = load(
        "[shard]\nindex = \"auto\"\ncount = 3\n",
        &[(HOSTNAME_ENV, "inventory-monitor-2")],
    )
    .expect("loads");
    assert_eq!(config.shard(), Shard { index: 2, count: 3 });
    assert_eq!((config.shard.index, config.shard.count), (2, 3));
    assert!(config.shard.index_from_hostname);

    // Names with dashes of their own: only the last `-N` counts.
    assert_eq!(
        shard_of(
            "[shard]\nindex = \"auto\"\ncount = 12\n",
            &[(HOSTNAME_ENV, "prod-eu-1-inventory-monitor-10")]
        ),
        Shard {
            index: 10,
            count: 12
        }
    );
}

#[test]
fn environment_overrides_the_file() {
    assert_eq!(
        shard_of(
            "[shard]\nindex = 0\ncount = 1\n",
            &[(SHARD_INDEX_ENV, "1"), (SHARD_COUNT_ENV, "2")]
        ),
        Shard { index: 1, count: 2 }
    );
    // The count alone (a StatefulSet passes its replicas; the index comes from the name).
    assert_eq!(
        shard_of(
            "[shard]\nindex = \"auto\"\n",
            &[
                (SHARD_COUNT_ENV, "4"),
                (HOSTNAME_ENV, "inventory-monitor-3")
            ]
        ),
        Shard { index: 3, count: 4 }
    );
    // `auto` in the environment works without touching the file.
    assert_eq!(
        shard_of(
            "",
            &[
                (SHARD_INDEX_ENV, "auto"),
                (SHARD_COUNT_ENV, "3"),
                (HOSTNAME_ENV, "inventory-monitor-1")
            ]
        ),
        Shard { index: 1, count: 3 }
    );
    // A number in the environment wins over the file's `auto`.
    assert_eq!(
        shard_of(
            "[shard]\nindex = \"auto\"\ncount = 2\n",
            &[(SHARD_INDEX_ENV, "0"), (HOSTNAME_ENV, "not-a-pod")]
        ),
        Shard { index: 0, count: 2 }
    );
}

#[test]
fn empty_variables_count_as_unset() {
    assert_eq!(
        shard_of(
            "[shard]\nindex = 1\ncount = 2\n",
            &[(SHARD_INDEX_ENV, ""), (SHARD_COUNT_ENV, "  ")]
        ),
        Shard { index: 1, count: 2 }
    );
}

#[test]
fn without_overrides_the_file_is_used_and_hostname_ignored() {
    assert_eq!(
        shard_of(
            "[shard]\nindex = 1\ncount = 2\n",
            &[(HOSTNAME_ENV, "inventory-monitor-0")]
        ),
        Shard { index: 1, count: 2 }
    );
    assert_eq!(shard_of("", &[]), Shard { index: 0, count: 1 });
}

#[test]
fn auto_without_hostname_says_what_it_needs() {
    assert_eq!(
        problems("[shard]\nindex = \"auto\"\ncount = 2\n", &[]),
        ["shard.index (line 4): \"auto\" takes the index from the trailing -N of the HOSTNAME environment variable (a StatefulSet pod name such as inventory-monitor-2), but HOSTNAME is not set"]
    );
    assert_eq!(
        problems(
            "[shard]\ncount = 2\n",
            &[(SHARD_INDEX_ENV, "auto"), (HOSTNAME_ENV, "")]
        ),
        ["shard.index (line 3): \"auto\" (from INVENTORY_MONITOR_SHARD_INDEX) takes the index from the trailing -N of the HOSTNAME environment variable (a StatefulSet pod name such as inventory-monitor-2), but HOSTNAME is not set"]
    );
}

#[test]
fn auto_with_a_hostname_that_has_no_ordinal_is_refused() {
    for hostname in [
        "inventory-monitor",
        "web-x",
        "pod-",
        "7",
        "inventory-monitor-1a",
    ] {
        assert_eq!(
            problems(
                "[shard]\nindex = \"auto\"\ncount = 2\n",
                &[(HOSTNAME_ENV, hostname)]
            ),
            [format!("shard.index (line 4): \"auto\" takes the index from the trailing -N of the HOSTNAME environment variable (a StatefulSet pod name such as inventory-monitor-2), but HOSTNAME is {hostname:?}")],
            "{hostname}"
        );
    }
}

#[test]
fn ordinal_beyond_the_count_points_at_the_replica_count() {
    assert_eq!(
        problems(
            "[shard]\nindex = \"auto\"\ncount = 2\n",
            &[(HOSTNAME_ENV, "inventory-monitor-5")]
        ),
        ["shard.index (line 4): must be less than shard.count (2), got 5 (from HOSTNAME \"inventory-monitor-5\"; is shard.count the number of replicas?)"]
    );
}

#[test]
fn bad_environment_values_name_the_variable() {
    assert_eq!(
        problems(
            "",
            &[(SHARD_INDEX_ENV, "first"), (SHARD_COUNT_ENV, "three")]
        ),
        [
            "shard.count: environment variable INVENTORY_MONITOR_SHARD_COUNT must be a whole number, got \"three\"",
            "shard.index: environment variable INVENTORY_MONITOR_SHARD_INDEX must be a whole number or \"auto\", got \"first\"",
        ]
    );
    assert_eq!(
        problems("", &[(SHARD_INDEX_ENV, "-1")]),
        ["shard.index: environment variable INVENTORY_MONITOR_SHARD_INDEX must be a whole number or \"auto\", got \"-1\""]
    );
    assert_eq!(
        problems("[shard]\nindex = 0\n", &[(SHARD_COUNT_ENV, "0")]),
        ["shard.count (line 3): must be at least 1, got 0 (from environment variable INVENTORY_MONITOR_SHARD_COUNT)"]
    );
    assert_eq!(
        problems(
            "[shard]\ncount = 3\n",
            &[(SHARD_INDEX_ENV, "3")]
        ),
        ["shard.index (line 3): must be less than shard.count (3), got 3 (from environment variable INVENTORY_MONITOR_SHARD_INDEX)"]
    );
}

#[test]
fn shard_problems_come_with_every_other_problem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        "[api]\nbase_url = \"https://control.example.com/api/v1\"\npage_size = 500\n[shard]\nindex = \"auto\"\n",
    )
    .expect("write");
    let problems: Vec<String> = config::load_with(&path, &env_of(&[(SHARD_COUNT_ENV, "many")]))
        .expect_err("refused")
        .problems
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        problems,
        [
            "api.page_size (line 3): must be between 1 and 100, got 500",
            "shard.count (line 4): environment variable INVENTORY_MONITOR_SHARD_COUNT must be a whole number, got \"many\"",
            "shard.index (line 5): \"auto\" takes the index from the trailing -N of the HOSTNAME environment variable (a StatefulSet pod name such as inventory-monitor-2), but HOSTNAME is not set",
        ]
    );
}

#[test]
fn index_in_the_file_must_be_a_number_or_auto() {
    let parse_problem = |text: &str| match config::parse(text) {
        Ok(c) => panic!("accepted: {:?}", c.shard),
        Err(e) => e.to_string(),
    };
    assert_eq!(
        parse_problem("[shard]\nindex = \"first\"\n"),
        "shard.index (line 2): invalid value: string \"first\", expected a whole number from 0 to 4294967295, or \"auto\""
    );
    assert_eq!(
        parse_problem("[shard]\nindex = -1\n"),
        "shard.index (line 2): invalid value: integer `-1`, expected a whole number from 0 to 4294967295, or \"auto\""
    );
    assert_eq!(
        parse_problem("[shard]\nindex = 5000000000\n"),
        "shard.index (line 2): invalid value: integer `5000000000`, expected a whole number from 0 to 4294967295, or \"auto\""
    );
    assert_eq!(
        parse_problem("[shard]\nindex = 1.5\n"),
        "shard.index (line 2): invalid type: floating point `1.5`, expected a whole number from 0 to 4294967295, or \"auto\""
    );
    assert_eq!(
        parse_problem("[shard]\nindx = 1\n"),
        "shard.indx (line 2): unknown field `indx`, expected `index` or `count`"
    );
}

#[test]
fn auto_survives_a_round_trip_through_toml() {
    let config = config::parse("[shard]\nindex = \"auto\"\ncount = 3\n").expect("parses");
    let text = toml::to_string(&config).expect("serialises");
    assert!(text.contains("index = \"auto\""), "{text}");
    let again = config::parse(&text).expect("parses again");
    assert_eq!(again.shard, config.shard);

    let fixed = config::parse("[shard]\nindex = 1\ncount = 3\n").expect("parses");
    let text = toml::to_string(&fixed).expect("serialises");
    assert!(text.contains("index = 1\n"), "{text}");
}

/// `check` of the binary reads the real process environment (here, the child's).
#[test]
fn check_reports_the_shard_in_force_from_the_environment() {
    let (_dir, path) = file_with("[shard]\nindex = \"auto\"\n");
    let binary: &Path = Path::new(env!("CARGO_BIN_EXE_inventory-monitor"));
    let run = |vars: &[(&str, &str)]| {
        let mut command = std::process::Command::new(binary);
        command
            .arg("check")
            .arg("--config")
            .arg(&path)
            .env_remove(SHARD_INDEX_ENV)
            .env_remove(SHARD_COUNT_ENV)
            .env_remove(HOSTNAME_ENV)
            .env("INVENTORY_API_TOKEN", "t0ken");
        for (k, v) in vars {
            command.env(k, v);
        }
        command.output().expect("the binary runs")
    };

    let ok = run(&[
        (SHARD_COUNT_ENV, "3"),
        (HOSTNAME_ENV, "inventory-monitor-2"),
    ]);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(stdout.contains("shard 2/3"), "{stdout}");

    let refused = run(&[(SHARD_COUNT_ENV, "3")]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("shard.index (line 4): \"auto\" takes the index from the trailing -N of the HOSTNAME environment variable"),
        "{stderr}"
    );
}
