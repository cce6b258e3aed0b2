//! The README as a newcomer meets it: it opens with the two commands, every
//! `inventory-monitor ...` line of its shell blocks is a command line the binary accepts, and
//! the "Try it against the simulator" blocks run as written (only the two ports are swapped
//! for free ones, since tests never bind a fixed port).

use std::path::Path;
use std::time::Duration;

use clap::Parser;
use inventory_monitor::cli::Cli;
use inventory_monitor_testkit::{free_port, repo_path, Launch, Signal};

use crate::common::{wait_for, wait_ready, BIN};

fn readme() -> String {
    std::fs::read_to_string(repo_path("README.md")).expect("README.md is readable")
}

/// The fenced code blocks of `markdown` with their info string: (info, body).
fn blocks(markdown: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in markdown.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim().to_string(), String::new())),
            (Some(_), Some(_)) => out.extend(open.take()),
            (Some((_, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

/// The markdown between the heading `heading` and the next heading of the same level.
fn section<'a>(markdown: &'a str, heading: &str) -> &'a str {
    let start = markdown
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README has no {heading:?} section"));
    let rest = &markdown[start + heading.len() + 2..];
    let level = heading.split(' ').next().unwrap_or("##");
    let end = rest.find(&format!("\n{level} ")).unwrap_or(rest.len());
    &rest[..end]
}

/// Splits a shell line into words: whitespace separates, single and double quotes group,
/// an unquoted `#` starts a comment.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '#') if !in_word => break,
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// Every `inventory-monitor ...` command line of the README's shell blocks.
fn command_lines(markdown: &str) -> Vec<Vec<String>> {
    blocks(markdown)
        .into_iter()
        .filter(|(info, _)| info == "sh")
        .flat_map(|(_, body)| {
            body.lines()
                .map(shell_words)
                .filter(|w| w.first().is_some_and(|w| w == "inventory-monitor"))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_readme_opens_with_the_demo_and_the_test_command() {
    let text = readme();
    let (info, first) = blocks(&text).into_iter().next().expect("a code block");
    assert_eq!(info, "sh");
    assert_eq!(first, "cargo run --release -- demo\ncargo test\n");
    // Nothing but the title comes before it.
    let before = &text[..text.find("```").unwrap_or(0)];
    assert_eq!(before.trim(), "# inventory-monitor");
}

#[test]
fn every_inventory_monitor_command_in_the_readme_parses() {
    let lines = command_lines(&readme());
    assert!(
        lines.len() >= 7,
        "expected the README's examples, found {lines:?}"
    );
    for words in &lines {
        if let Err(e) = Cli::try_parse_from(words) {
            panic!("README command {words:?} does not parse:\n{e}");
        }
    }
}

#[test]
fn a_command_the_binary_refuses_is_caught() {
    let bad = command_lines("```sh\ninventory-monitor once --confg x.toml # typo\n```\n");
    assert_eq!(bad, [["inventory-monitor", "once", "--confg", "x.toml"]]);
    assert!(Cli::try_parse_from(&bad[0]).is_err());
}

/// `text` with the README's fixed ports replaced by the test's.
fn with_ports(text: &str, sim_port: u16, monitor_port: u16) -> String {
    text.replace("127.0.0.1:8080", &format!("127.0.0.1:{sim_port}"))
        .replace("127.0.0.1:9857", &format!("127.0.0.1:{monitor_port}"))
}

/// PATH with the binary under test first, so `inventory-monitor` runs it.
fn path_with_binary() -> String {
    let dir = Path::new(BIN).parent().expect("the binary has a directory");
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[tokio::test]
async fn the_try_it_blocks_run_as_written() {
    let text = readme();
    let try_it = section(&text, "## Try it against the simulator");
    let shell: Vec<String> = blocks(try_it)
        .into_iter()
        .filter(|(info, _)| info == "sh")
        .map(|(_, body)| body)
        .collect();
    assert_eq!(shell.len(), 2, "one block per terminal: {shell:?}");
    for body in &shell {
        assert!(
            body.contains("127.0.0.1:8080"),
            "the port this test swaps is gone"
        );
    }
    let (sim_port, monitor_port) = (free_port(), free_port());
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = path_with_binary();

    // Terminal 1: the simulator, its one line as written.
    let sim_line = with_ports(shell[0].trim(), sim_port, monitor_port);
    assert_eq!(sim_line.lines().count(), 1, "{sim_line}");
    let mut sim = Launch::new("sh")
        .arg("-c")
        .arg(format!("exec {sim_line}"))
        .env("PATH", &path)
        .spawn()
        .expect("the simulator starts");
    let listening = wait_for(Duration::from_secs(20), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", sim_port))
            .await
            .is_ok()
    })
    .await;
    assert!(listening, "simulator: {}", sim.stderr_text());

    // Terminal 2, all but the daemon: each command's exit code is printed after it by a
    // wrapper, so the lines themselves run unchanged.
    let second = with_ports(&shell[1], sim_port, monitor_port);
    let (run_lines, script_lines): (Vec<&str>, Vec<&str>) = second
        .lines()
        .partition(|l| l.starts_with("inventory-monitor run "));
    assert_eq!(run_lines.len(), 1, "{second}");
    let script = format!(
        "inventory-monitor() {{ command inventory-monitor \"$@\"; echo \"[exit $?]\"; }}\n{}\n",
        script_lines.join("\n")
    );
    // bash, not sh: dash refuses a function name with a dash in it.
    let (code, stdout, stderr) = Launch::new("bash")
        .arg("-c")
        .arg(&script)
        .env("PATH", &path)
        .current_dir(dir.path())
        .output(Duration::from_secs(60))
        .await;
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let exits: Vec<&str> = stdout.lines().filter(|l| l.starts_with("[exit ")).collect();
    assert_eq!(exits.len(), 2, "check and once: {stdout}\n{stderr}");
    assert_eq!(exits[0], "[exit 0]", "check: {stdout}\n{stderr}");
    assert!(
        exits[1] == "[exit 0]" || exits[1] == "[exit 1]",
        "once: {stdout}\n{stderr}"
    );
    assert!(stdout.contains("try.toml: OK"), "{stdout}");
    // A row per profile (ids are the simulator's, not 1..=200), and the summary under them.
    let ids: std::collections::BTreeSet<u64> = stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(ids.len(), 200, "once lists every profile:\n{stdout}");
    assert!(
        stdout.contains("\n200 profile(s), 200 detail(s) read"),
        "{stdout}"
    );

    // The daemon, its line as written, with what the lines before it set up.
    let export: Vec<&str> = script_lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("export "))
        .collect();
    let mut daemon = Launch::new("sh")
        .arg("-c")
        .arg(format!("{}\nexec {}", export.join("\n"), run_lines[0]))
        .env("PATH", &path)
        .current_dir(dir.path())
        .spawn()
        .expect("the daemon starts");
    let ready = wait_ready(
        &format!("http://127.0.0.1:{monitor_port}/readyz"),
        Duration::from_secs(30),
    )
    .await;
    assert!(ready, "daemon: {}", daemon.stderr_text());
    let metrics = reqwest::get(format!("http://127.0.0.1:{monitor_port}/metrics"))
        .await
        .expect("a scrape")
        .text()
        .await
        .expect("a body");
    assert!(
        metrics.contains("inventory_profile_connectivity_healthy{"),
        "{metrics}"
    );
    assert_eq!(daemon.terminate(Duration::from_secs(15)).await, 0);
    assert!(dir.path().join("data").is_dir(), "state goes to ./data");
    sim.stop(Signal::Term, Duration::from_secs(15)).await;
}
