//! The command line (README, Commands): one binary, subcommands, `--help` on each.

use std::path::PathBuf;

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
    /// Send a clearly marked test notification to one or all receivers.
    NotifyTest(NotifyTestArgs),
    /// Serve a simulated upstream API for trials, tests and benchmarks.
    Simulate(crate::simulator::SimulateArgs),
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

/// `--auto-reload-interval`: a duration as in the config file, at least 1s.
fn parse_auto_reload_interval(text: &str) -> Result<std::time::Duration, String> {
    let every = crate::config::parse_period(text)?;
    if every < crate::config_watch::MIN_INTERVAL {
        return Err(format!("must be 1s or more, got {text:?}"));
    }
    Ok(every)
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
    /// How many simulated profiles.
    #[arg(long, default_value_t = 300)]
    pub profiles: usize,
    /// Time between sweeps (more than 0s).
    #[arg(long, default_value = "5s", value_parser = crate::config::parse_period)]
    pub interval: std::time::Duration,
    /// How often the simulated fleet's health changes.
    #[arg(long, default_value = "4s", value_parser = humantime::parse_duration)]
    pub drift: std::time::Duration,
    /// Seed of the simulated fleet.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}
