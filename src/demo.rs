//! `inventory-monitor demo`: the simulator and the daemon in one process, so a newcomer
//! sees the whole product with no config, no token and no network.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app;
use crate::cli::DemoArgs;
use crate::clock::SystemClock;
use crate::config::{Config, ReceiverConfig, ReceiverKind, Secret};
use crate::daemon::Daemon;
use crate::simulator::{SimOptions, Simulator};

/// The token the demo's simulator accepts (not a secret: it guards nothing).
pub const DEMO_TOKEN: &str = "demo-token";

/// The demo's state directory: fresh per process (so two demos never share one, and a
/// demo never resumes an old outbox), removed when the demo ends.
pub fn demo_state_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("inventory-monitor-demo-{}", std::process::id()))
}

/// The configuration the demo runs the daemon with, pointed at `base_url`: one `log`
/// receiver, so alerts go through the whole notification pipeline to the terminal.
pub fn demo_config(base_url: String, args: &DemoArgs) -> Config {
    let mut config = Config::default();
    config.api.base_url = base_url;
    config.api.timeout = Duration::from_secs(5);
    config.poll.interval = args.interval;
    config.server.listen = args.listen.clone();
    config.state.dir = demo_state_dir();
    config.alerting.group_wait = Duration::from_secs(1);
    config.alerting.receivers = vec![ReceiverConfig::new("terminal", ReceiverKind::Log)];
    config
}

/// Runs the demo until Ctrl-C.
pub async fn run(args: DemoArgs) -> ExitCode {
    match run_inner(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run_inner(args: DemoArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    let metrics_listener = TcpListener::bind(&args.listen).await.with_context(|| {
        format!(
            "cannot listen on {} (is another demo running? pick another address with --listen 127.0.0.1:0)",
            args.listen
        )
    })?;
    let metrics_addr = metrics_listener.local_addr()?;
    let sim_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot bind the simulator")?;
    let sim_addr = sim_listener.local_addr()?;

    let simulator = Simulator::new(SimOptions {
        profiles: args.profiles,
        seed: args.seed,
        latency: Duration::from_millis(5),
        token: DEMO_TOKEN.to_string(),
        drift: Some(args.drift),
        ..SimOptions::default()
    });
    let shutdown = CancellationToken::new();
    let sim_shutdown = shutdown.clone();
    let sim_task = tokio::spawn(
        simulator
            .clone()
            .serve(sim_listener, async move { sim_shutdown.cancelled().await }),
    );

    let base_url = format!("http://{sim_addr}/api/v1");
    let config = demo_config(base_url.clone(), &args);
    let state_dir = config.state.dir.clone();
    let daemon = Daemon::with_notifier(config, Secret::new(DEMO_TOKEN), Arc::new(SystemClock))?;
    daemon.notifier().inspect(|n| n.set_ephemeral_state());

    println!(
        "\ninventory-monitor {version} demo: a simulated inventory API with {n} connection profiles\n\
         whose health drifts every {drift}, polled every {interval}.\n\n\
         \x20 Metrics       http://{m}/metrics\n\
         \x20 Status (JSON) http://{m}/api/v1/status\n\
         \x20 Home          http://{m}/\n\
         \x20 Simulated API {base_url}/inventory_connection_profile/   (token: {token})\n\n\
         Try:\n\
         \x20 curl -s http://{m}/metrics | grep '^inventory_profile_connectivity_healthy' | head\n\
         \x20 curl -s http://{m}/metrics | grep '^inventory_monitor_'\n\
         \x20 curl -s http://{m}/api/v1/status | python3 -m json.tool | less\n\
         \x20 curl -s -H 'Authorization: Bearer {token}' '{base_url}/inventory_connection_profile/?limit=2'\n\n\
         Alert transitions (FIRING / RESOLVED) are logged below as the fleet drifts. Ctrl-C stops.\n",
        version = crate::VERSION,
        n = args.profiles,
        drift = humantime::format_duration(args.drift),
        interval = humantime::format_duration(args.interval),
        m = metrics_addr,
        token = DEMO_TOKEN,
    );

    app::cancel_on_shutdown_signal(&shutdown);
    let result = app::run_with_server(daemon, metrics_listener, shutdown.clone()).await;
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(2), sim_task).await;
    // The demo's state is of no use to anyone once it ends.
    if let Err(e) = std::fs::remove_dir_all(&state_dir) {
        tracing::debug!(error = %e, dir = %state_dir.display(), "cannot remove the demo state directory");
    }
    result
}
