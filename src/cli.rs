//! The command line (README, Commands): one binary, subcommands, `--help` on each.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Health monitor and Prometheus exporter for inventory connection profiles.
#[derive(Debug, Parser)]
#[command(name = "inventory-monitor", version, about, long_about = None)]
pub struct Cli {
    /// Config file; without a subcommand, runs the daemon with it (same as `run --config`).
    #[arg(long, global = false)]
    pub config: Option<PathBuf>,

    /// With `--config` alone: the web config file (TLS, client certificates, basic auth;
    /// Prometheus exporter-toolkit format), as `run --web-config`.
    #[arg(long, global = false, requires = "config")]
    pub web_config: Option<PathBuf>,

    /// Log format on stderr; the level comes from RUST_LOG (default `info`).
    #[arg(long, value_enum, default_value_t = LogFormat::Pretty, global = true)]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: poll, judge, export /metrics, alert.
    Run(RunArgs),
    /// A built-in simulated upstream and the daemon polling it: try it with no setup.
    Demo(DemoArgs),
    /// One sweep, a report of every profile's health on stdout. Exit 0 when all judged
    /// profiles are healthy, 1 when any alert condition holds, 2 on an error.
    Once(OnceArgs),
    /// Validate the config (and the env vars and files it references): exit 0, or print
    /// every problem with its key path and exit 2.
    Check(ConfigArg),
    /// Send a clearly marked test notification to one or all receivers (through a
    /// receiver's `template` when it has one: README, Message templates).
    NotifyTest(NotifyTestArgs),
    /// Serve a simulated upstream API for trials, tests and benchmarks.
    Simulate(crate::simulator::SimulateArgs),
    /// Silence alerts on a running daemon, list silences, end them (README, Silences).
    Silence(SilenceArgs),
}

/// `silence add|query|expire`
#[derive(Debug, Args)]
pub struct SilenceArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: SilenceCommand,
}

/// The `silence` subcommands.
#[derive(Debug, Subcommand)]
pub enum SilenceCommand {
    /// Silence the alerts every MATCHER matches; prints the silence's id.
    Add {
        /// Matchers in Alertmanager's syntax: `name="v"`, `name!="v"`, `name=~"re"`,
        /// `name!~"re"` (regexes anchored), e.g. 'profile_name=~"legacy-.*"'.
        #[arg(required = true, value_name = "MATCHER")]
        matchers: Vec<String>,
        /// How long from now (`2h`, `30m`, `1d`).
        #[arg(long, default_value = "1h", value_parser = parse_silence_duration)]
        duration: Duration,
        /// Why (required).
        #[arg(long)]
        comment: String,
        /// Who (default: $USER).
        #[arg(long, env = "USER")]
        author: Option<String>,
        /// How to reach the daemon.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List the silences not yet expired (id, matchers, ends, author, comment); with
    /// MATCHERs, those whose matchers satisfy them all.
    Query {
        /// Filters in the matcher syntax.
        #[arg(value_name = "MATCHER")]
        matchers: Vec<String>,
        /// Include expired silences.
        #[arg(long)]
        expired: bool,
        /// Print only the ids.
        #[arg(long, short)]
        quiet: bool,
        /// How to reach the daemon.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// End silences now.
    Expire {
        /// Silence ids, as `add` printed them.
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
        /// How to reach the daemon.
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// How the `silence` command reaches a daemon, and the auth a secured one asks for.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The daemon's URL.
    #[arg(long, env = "INVENTORY_MONITOR_URL", default_value = crate::silences::client::DEFAULT_URL)]
    pub url: String,
    /// Basic-auth user (the web config's basic_auth_users).
    #[arg(long)]
    pub basic_auth_user: Option<String>,
    /// A file holding the basic-auth password (its first line); or set
    /// INVENTORY_MONITOR_PASSWORD.
    #[arg(long)]
    pub basic_auth_password_file: Option<PathBuf>,
    /// A CA file (PEM) to verify the daemon's TLS certificate with.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// A client certificate (PEM) to present, for a daemon that verifies them.
    #[arg(long, requires = "key_file")]
    pub cert_file: Option<PathBuf>,
    /// The client certificate's key (PEM).
    #[arg(long, requires = "cert_file")]
    pub key_file: Option<PathBuf>,
}

/// `silence add --duration`: at least a minute, at most a year.
pub fn parse_silence_duration(text: &str) -> Result<Duration, String> {
    parse_duration_within(
        text,
        Duration::from_secs(60),
        Duration::from_secs(365 * 86_400),
    )
}

/// `--config FILE [--web-config FILE]`
#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The TOML config file.
    #[arg(long)]
    pub config: PathBuf,
    /// The web config file: TLS, client certificates and basic auth for our endpoints, in
    /// the Prometheus exporter-toolkit format. Wins over `server.web_config`.
    #[arg(long)]
    pub web_config: Option<PathBuf>,
}

/// `run --config FILE [--web-config FILE] [--auto-reload-interval DUR]`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The TOML config file.
    #[arg(long)]
    pub config: PathBuf,
    /// The web config file: TLS, client certificates and basic auth for our endpoints, in
    /// the Prometheus exporter-toolkit format. Wins over `server.web_config`.
    #[arg(long)]
    pub web_config: Option<PathBuf>,
    /// Read the config file every DUR (1s or more) and reload it, as SIGHUP does, when its
    /// content changed (a ConfigMap update, say). Off without the flag.
    #[arg(long, value_name = "DUR", value_parser = parse_auto_reload_interval)]
    pub auto_reload_interval: Option<std::time::Duration>,
}

/// `--auto-reload-interval`: a duration as in the config file, from 1s to a day.
fn parse_auto_reload_interval(text: &str) -> Result<std::time::Duration, String> {
    parse_duration_within(text, crate::config_watch::MIN_INTERVAL, MAX_PERIOD)
}

/// `once`
#[derive(Debug, Args)]
pub struct OnceArgs {
    /// The TOML config file.
    #[arg(long)]
    pub config: PathBuf,
    /// Report format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// Report formats of `once`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// An aligned text table.
    Table,
    /// One JSON document.
    Json,
}

/// `notify-test`
#[derive(Debug, Args)]
pub struct NotifyTestArgs {
    /// The TOML config file.
    #[arg(long)]
    pub config: PathBuf,
    /// Only this receiver (default: all).
    #[arg(long)]
    pub receiver: Option<String>,
}

/// `demo`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to serve /metrics and the status page.
    #[arg(long, default_value = "127.0.0.1:9857")]
    pub listen: String,
    /// How many simulated profiles (1 to 100000).
    #[arg(long, default_value_t = 300, value_parser = parse_demo_fleet)]
    pub profiles: usize,
    /// Time between sweeps (1s to 1d, as `poll.interval`).
    #[arg(long, default_value = "5s", value_parser = parse_interval)]
    pub interval: Duration,
    /// How often the simulated fleet's health changes (100ms to 1d).
    #[arg(long, default_value = "4s", value_parser = parse_drift)]
    pub drift: Duration,
    /// Seed of the simulated fleet.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// The longest period any argument takes: a day. Longer ones are typos (`5d` for `5s`), and
/// a timer far enough in the future overflows the clock.
pub const MAX_PERIOD: Duration = Duration::from_secs(86_400);

/// The longest simulated delay (`simulate --latency`, `--slow-latency`): an hour.
pub const MAX_DELAY: Duration = Duration::from_secs(3_600);

/// The largest simulated fleet: a million profiles (about 1.5 GB).
pub const MAX_FLEET: usize = 1_000_000;

/// The largest demo fleet.
pub const MAX_DEMO_FLEET: usize = 100_000;

/// A duration in `least..=most`, written as in the config file (`30s`, `5m`, `1h 30m`).
/// clap puts the argument's name in front of the message.
pub fn parse_duration_within(
    text: &str,
    least: Duration,
    most: Duration,
) -> Result<Duration, String> {
    let Ok(value) = humantime::parse_duration(text.trim()) else {
        // Reads it again for the config's wording of what is wrong with it.
        return Err(crate::config::parse_period(text)
            .err()
            .unwrap_or_else(|| format!("{text:?} is not a duration")));
    };
    let show = |d: Duration| humantime::format_duration(d).to_string();
    if value < least {
        return Err(format!("must be at least {}, got {text:?}", show(least)));
    }
    if value > most {
        return Err(format!("must be at most {}, got {text:?}", show(most)));
    }
    Ok(value)
}

/// `demo --interval`: as `poll.interval`, at least 1s (and at most a day).
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    parse_duration_within(text, Duration::from_secs(1), MAX_PERIOD)
}

/// `--drift`: at least 100ms (drift steps back to back would starve the server), at most a
/// day.
pub fn parse_drift(text: &str) -> Result<Duration, String> {
    parse_duration_within(text, Duration::from_millis(100), MAX_PERIOD)
}

/// `simulate --latency`, `--slow-latency`: 0s to an hour.
pub fn parse_delay(text: &str) -> Result<Duration, String> {
    parse_duration_within(text, Duration::ZERO, MAX_DELAY)
}

/// `simulate --retry-after`: 0s to a day.
pub fn parse_retry_after(text: &str) -> Result<Duration, String> {
    parse_duration_within(text, Duration::ZERO, MAX_PERIOD)
}

/// A whole number in `least..=most`.
pub fn parse_count_within(text: &str, least: usize, most: usize) -> Result<usize, String> {
    let value: usize = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number from {least} to {most}"))?;
    if (least..=most).contains(&value) {
        Ok(value)
    } else {
        Err(format!("must be from {least} to {most}, got {value}"))
    }
}

/// `demo --profiles`: 1 to [`MAX_DEMO_FLEET`].
pub fn parse_demo_fleet(text: &str) -> Result<usize, String> {
    parse_count_within(text, 1, MAX_DEMO_FLEET)
}

/// `simulate --profiles`: 0 (an empty upstream) to [`MAX_FLEET`].
pub fn parse_fleet(text: &str) -> Result<usize, String> {
    parse_count_within(text, 0, MAX_FLEET)
}

/// A token (`simulate --token`, `--forbidden-token`): not empty, no whitespace or control
/// characters (it goes in an `Authorization` header).
pub fn parse_token(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("must not be empty".to_string());
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not hold spaces or control characters".to_string());
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_read_within_their_bounds_with_messages_that_say_why() {
        assert_eq!(parse_interval("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_interval("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_delay("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_drift("100ms"), Ok(Duration::from_millis(100)));
        for (parsed, expected) in [
            (parse_interval("0s"), "must be at least 1s"),
            (parse_interval("500ms"), "must be at least 1s"),
            (parse_interval("2d"), "must be at most 1day"),
            (parse_interval("soon"), "is not a duration"),
            (parse_interval("5"), "the unit is missing"),
            (parse_interval("-5s"), "is not a duration"),
            (parse_interval(""), "is not a duration"),
            (parse_drift("0s"), "must be at least 100ms"),
            (parse_delay("2h"), "must be at most 1h"),
            (parse_retry_after("99999999999999999999s"), "too large"),
            (parse_retry_after("1000000000y"), "must be at most 1day"),
        ] {
            let message = parsed.expect_err(expected);
            assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        }
    }

    #[test]
    fn counts_and_tokens_are_refused_outside_their_range() {
        assert_eq!(parse_demo_fleet("300"), Ok(300));
        assert_eq!(parse_fleet("0"), Ok(0));
        assert!(parse_demo_fleet("0").is_err_and(|m| m.contains("from 1 to 100000")));
        assert!(parse_fleet("1000001").is_err());
        for bad in ["-1", "1e3", "NaN", "lots", "18446744073709551616"] {
            assert!(parse_fleet(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_token("t0k"), Ok("t0k".to_string()));
        assert!(parse_token("").is_err());
        assert!(parse_token("a b").is_err());
    }
}
