//! The `inventory-monitor` binary: parses the command line, sets up logging, and hands
//! over to the library. `anyhow` lives here, at the edge.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use inventory_monitor::cli::{Cli, ClientArgs, Command, LogFormat, SilenceCommand};
use inventory_monitor::{app, demo, notify, report, simulator, web_config};
use tokio_util::sync::CancellationToken;

/// The exit code of a panic: `EX_SOFTWARE`, an internal error (sysexits.h).
const INTERNAL_ERROR: u8 = 70;

/// The demo's default log level: its terminal shows the alerts; the daemon's routine
/// information (every sweep, every delivery) would bury them. RUST_LOG overrides it.
const DEMO_LOG_LEVEL: &str = "warn,inventory_monitor::app=info";

/// mimalloc: at 100,000 profiles a lower peak RSS and less CPU than glibc's allocator
/// (README, Serving and resources), with the settings of [`app::tune_allocator`].
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs [`app::tune_allocator`] as a constructor of priority 200: before mimalloc's own
/// (default priority) and before the Rust runtime's first allocation, when the allocator
/// reserves its first arena and reads how to commit it.
#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array.00200"]
static TUNE_ALLOCATOR_FIRST: extern "C" fn() = app::tune_allocator;

fn main() -> ExitCode {
    report_panics_as_internal_errors();
    let cli = Cli::parse();
    let default_level = match cli.command {
        Some(Command::Demo(_)) => DEMO_LOG_LEVEL,
        _ => "info",
    };
    init_logging(cli.log_format, default_level);
    let runtime = match app::main_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    // The last line of defence: a panic is a bug, reported as one (by the hook) with exit
    // code 70, after the unwinding ran every cleanup (the demo's state directory).
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(dispatch(cli))
    })) {
        Ok(code) => code,
        Err(_) => ExitCode::from(INTERNAL_ERROR),
    }
}

/// Replaces Rust's panic message with one that says what happened and what to do. A panic
/// in a task of the runtime is reported the same way, and ends that task only (as before).
fn report_panics_as_internal_errors() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_string());
        let location = info.location().map(|l| (l.file(), l.line()));
        eprintln!("{}", internal_error(&message, location));
    }));
}

/// What a panic prints: what happened, where, and that it is a bug to report.
fn internal_error(message: &str, location: Option<(&str, u32)>) -> String {
    let at = location
        .map(|(file, line)| format!(" at {file}:{line}"))
        .unwrap_or_default();
    format!(
        "internal error: {message}{at}. This is a bug in inventory-monitor {}; please report it with this message and the command line.",
        inventory_monitor::VERSION
    )
}

fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn dispatch(cli: Cli) -> ExitCode {
    match cli.command {
        None => match cli.config {
            Some(path) => run(&path, cli.web_config.as_deref(), None).await,
            None => {
                eprintln!(
                    "error: nothing to do. Try `inventory-monitor demo`, or `inventory-monitor run --config FILE`; see --help"
                );
                ExitCode::from(2)
            }
        },
        Some(Command::Run(args)) => {
            run(
                &args.config,
                args.web_config.as_deref(),
                args.auto_reload_interval,
            )
            .await
        }
        Some(Command::Check(args)) => check(&args.config, args.web_config.as_deref()),
        Some(Command::Once(args)) => report::once(&args.config, args.output).await,
        Some(Command::Demo(args)) => demo::run(args).await,
        Some(Command::NotifyTest(args)) => {
            notify_test(&args.config, args.receiver.as_deref()).await
        }
        Some(Command::Silence(args)) => silence(args.command).await,
        Some(Command::Simulate(args)) => {
            let shutdown = CancellationToken::new();
            app::cancel_on_shutdown_signal(&shutdown);
            match simulator::run(args, async move { shutdown.cancelled().await }).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

fn check(path: &std::path::Path, web: Option<&std::path::Path>) -> ExitCode {
    match report::load_config(path) {
        Some(mut c) => {
            println!(
                "{}: OK ({} receiver(s), shard {}/{})",
                path.display(),
                c.alerting.receivers.len(),
                c.shard.index,
                c.shard.count
            );
            match web_config::resolve(&mut c, web) {
                Ok(Some(w)) => println!("{}: OK ({})", w.path.display(), w.summary()),
                Ok(None) => {}
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            }
            ExitCode::SUCCESS
        }
        None => ExitCode::from(2),
    }
}

/// `notify-test`: one line per receiver, `NAME: delivered (HTTP 200)` or
/// `NAME: FAILED (reason)`; exit 0 when all were delivered, 1 when any failed, 2 for a bad
/// config, an unknown receiver name, or no receiver at all.
async fn notify_test(path: &std::path::Path, receiver: Option<&str>) -> ExitCode {
    let Some(config) = app::notify_test_config(path, receiver) else {
        return ExitCode::from(2);
    };
    if config.alerting.receivers.is_empty() {
        eprintln!(
            "{}: no receivers configured ([[alerting.receivers]]); nothing to test",
            path.display()
        );
        return ExitCode::from(2);
    }
    let outcomes = match notify::send_test(&config, receiver).await {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut all_delivered = true;
    for (name, outcome) in outcomes {
        match outcome {
            Ok(detail) => println!("{name}: delivered ({detail})"),
            Err(reason) => {
                all_delivered = false;
                println!("{name}: FAILED ({reason})");
            }
        }
    }
    if all_delivered {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `silence add|query|expire` against a running daemon (README, Silences): exit 0, or 2
/// with the reason (the daemon's answer, or why it could not be reached) on stderr.
async fn silence(command: SilenceCommand) -> ExitCode {
    use inventory_monitor::matchers::Matcher;
    use inventory_monitor::silences::client::{table, Client};
    let client_args = match &command {
        SilenceCommand::Add { client, .. }
        | SilenceCommand::Query { client, .. }
        | SilenceCommand::Expire { client, .. } => client,
    };
    let client = match client_options(client_args)
        .and_then(|o| Client::new(&o).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let parse = |texts: &[String]| -> Result<Vec<Matcher>, String> {
        texts
            .iter()
            .map(|t| Matcher::parse(t).map_err(|e| e.to_string()))
            .collect()
    };
    let outcome: Result<(), String> = match command {
        SilenceCommand::Add {
            matchers,
            duration,
            comment,
            author,
            ..
        } => match (parse(&matchers), author.filter(|a| !a.trim().is_empty())) {
            (Err(e), _) => Err(e),
            (Ok(_), None) => {
                Err("say who makes the silence: --author NAME (USER is not set)".to_string())
            }
            (Ok(matchers), Some(author)) => client
                .add(&matchers, duration, &author, &comment)
                .await
                .map(|id| println!("{id}"))
                .map_err(|e| e.to_string()),
        },
        SilenceCommand::Query {
            matchers,
            expired,
            quiet,
            ..
        } => match parse(&matchers) {
            Ok(filter) => client
                .query(&filter)
                .await
                .map(|listed| {
                    let shown: Vec<_> = listed
                        .into_iter()
                        .filter(|s| expired || s.state != "expired")
                        .collect();
                    if quiet {
                        for s in &shown {
                            println!("{}", s.id);
                        }
                    } else {
                        print!("{}", table(&shown));
                    }
                })
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        },
        SilenceCommand::Expire { ids, .. } => {
            let mut result = Ok(());
            for id in &ids {
                if let Err(e) = client.expire(id).await {
                    result = Err(e.to_string());
                    break;
                }
            }
            result
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The client's options from the command line; the password from its file or
/// `INVENTORY_MONITOR_PASSWORD`.
fn client_options(
    args: &ClientArgs,
) -> Result<inventory_monitor::silences::client::ClientOptions, String> {
    use inventory_monitor::config::Secret;
    let password = match &args.basic_auth_password_file {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("--basic-auth-password-file {}: {e}", file.display()))?;
            Some(Secret::new(text.lines().next().unwrap_or_default()))
        }
        None => std::env::var("INVENTORY_MONITOR_PASSWORD")
            .ok()
            .map(Secret::new),
    };
    if password.is_some() && args.basic_auth_user.is_none() {
        return Err("a basic-auth password needs --basic-auth-user".to_string());
    }
    Ok(inventory_monitor::silences::client::ClientOptions {
        url: args.url.clone(),
        user: args.basic_auth_user.clone(),
        password,
        ca_file: args.ca_file.clone(),
        cert_file: args.cert_file.clone(),
        key_file: args.key_file.clone(),
    })
}

async fn run(
    path: &std::path::Path,
    web: Option<&std::path::Path>,
    auto_reload: Option<std::time::Duration>,
) -> ExitCode {
    let Some(mut config) = report::load_config(path) else {
        return ExitCode::from(2);
    };
    // `--web-config` wins over `server.web_config`; a bad web config stops us here.
    if let Err(e) = web_config::resolve(&mut config, web) {
        eprintln!("{e}");
        return ExitCode::from(2);
    }
    match app::run(config, path, auto_reload).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_reported_as_an_internal_error_to_report() {
        let text = internal_error("index out of bounds", Some(("src/x.rs", 7)));
        assert!(text.starts_with("internal error: index out of bounds at src/x.rs:7."));
        assert!(text.contains("please report it"));
        assert!(!text.contains("panicked"));
        assert_eq!(INTERNAL_ERROR, 70);
    }
}
