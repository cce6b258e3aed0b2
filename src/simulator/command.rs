//! `inventory-monitor simulate`: the simulator as a standalone server.

use std::future::Future;
use std::time::Duration;

use anyhow::Context;

use super::{Faults, SimOptions, Simulator, TlsIdentity, DEMO_TOKEN};

/// Arguments of `inventory-monitor simulate`.
#[derive(clap::Args, Clone)]
pub struct SimulateArgs {
    /// Address to listen on, e.g. `127.0.0.1:8080` (port 0 picks a free one).
    #[arg(long, value_name = "ADDR")]
    pub listen: String,
    /// Number of profiles.
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = crate::cli::parse_fleet)]
    pub profiles: usize,
    /// Delay before every answer (humantime, e.g. `20ms`; at most 1h).
    #[arg(long, value_name = "DUR", default_value = "0s", value_parser = crate::cli::parse_delay)]
    pub latency: Duration,
    /// Seed of the fleet, the faults and the drift: a seed always gives the same fleet.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// The bearer token to accept.
    #[arg(long, value_name = "T", default_value = DEMO_TOKEN, value_parser = crate::cli::parse_token)]
    pub token: String,
    /// A token answered with 403 (authenticated, without permission).
    #[arg(long, value_name = "T", value_parser = crate::cli::parse_token)]
    pub forbidden_token: Option<String>,
    /// Share of profiles in the old API revision (0..1).
    #[arg(long, value_name = "F", default_value_t = 0.1, value_parser = parse_share)]
    pub legacy_fraction: f64,
    /// Let health drift every DUR (profiles fail and recover, syncs advance; 100ms to 1d).
    #[arg(long, value_name = "DUR", value_parser = crate::cli::parse_drift)]
    pub drift: Option<Duration>,
    /// Share of requests answered 500.
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = parse_share)]
    pub error_rate: f64,
    /// Share of requests answered 429.
    #[arg(long = "rate-429", value_name = "F", default_value_t = 0.0, value_parser = parse_share)]
    pub rate_429: f64,
    /// `Retry-After` of the 429 answers (at most 1d).
    #[arg(long, value_name = "DUR", default_value = "1s", value_parser = crate::cli::parse_retry_after)]
    pub retry_after: Duration,
    /// Share of requests answered 200 with truncated JSON or an HTML page.
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = parse_share)]
    pub malformed_rate: f64,
    /// Share of requests delayed by --slow-latency on top of --latency.
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = parse_share)]
    pub slow_rate: f64,
    /// Extra delay of the slow requests (at most 1h).
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = crate::cli::parse_delay)]
    pub slow_latency: Duration,
    /// Make the last page's `next` point back to the first page.
    #[arg(long)]
    pub pagination_loop: bool,
    /// Delete the lowest-id profile after every list request.
    #[arg(long)]
    pub shrink_mid_walk: bool,
    /// Create a new profile after every list request.
    #[arg(long)]
    pub grow_mid_walk: bool,
    /// Serve HTTPS with this PEM certificate chain (server certificate first).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for SimulateArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The tokens may have been chosen by the user: `SimOptions` prints them redacted.
        f.debug_struct("SimulateArgs")
            .field("listen", &self.listen)
            .field("options", &self.options())
            .field("tls_cert", &self.tls_cert)
            .finish_non_exhaustive()
    }
}

/// The drift period as an operator writes it (`5s`), or `off`.
fn drift_text(drift: Option<Duration>) -> String {
    drift.map_or_else(
        || "off".to_string(),
        |d| humantime::format_duration(d).to_string(),
    )
}

/// A share in `0..=1`.
fn parse_share(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("`{text}` is not between 0 and 1"))
    }
}

impl SimulateArgs {
    /// The faults these arguments ask for.
    pub fn faults(&self) -> Faults {
        Faults {
            error_rate: self.error_rate,
            rate_429: self.rate_429,
            retry_after: self.retry_after,
            malformed_rate: self.malformed_rate,
            slow_rate: self.slow_rate,
            slow_latency: self.slow_latency,
            pagination_loop: self.pagination_loop,
            shrink_mid_walk: self.shrink_mid_walk,
            grow_mid_walk: self.grow_mid_walk,
        }
    }

    /// The simulator options these arguments ask for.
    pub fn options(&self) -> SimOptions {
        SimOptions {
            profiles: self.profiles,
            seed: self.seed,
            latency: self.latency,
            token: self.token.clone(),
            forbidden_token: self.forbidden_token.clone(),
            legacy_fraction: self.legacy_fraction,
            drift: self.drift,
            faults: self.faults(),
            ..SimOptions::default()
        }
    }
}

/// Binds `args.listen`, logs the base URL and the token to use, and serves (over HTTPS
/// with `--tls-cert`/`--tls-key`) until `shutdown` completes.
pub async fn run(
    args: SimulateArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Read before binding: a bad certificate is reported without a port left half open.
    let identity = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(
            TlsIdentity::from_files(cert, key)
                .context("cannot serve HTTPS with --tls-cert and --tls-key")?,
        ),
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener
        .local_addr()
        .context("cannot read the listening address")?;
    let simulator = Simulator::new(args.options());
    // The demo token is public; a token the user chose is theirs to remember.
    let token = if args.token == DEMO_TOKEN {
        DEMO_TOKEN
    } else {
        "the one given with --token"
    };
    let scheme = if identity.is_some() { "https" } else { "http" };
    tracing::info!(
        base_url = %format!("{scheme}://{address}/api/v1"),
        token,
        profiles = simulator.len(),
        seed = args.seed,
        drift = %drift_text(args.drift),
        "simulated upstream listening",
    );
    let served = match identity {
        Some(identity) => simulator.serve_tls(listener, identity, shutdown).await,
        None => simulator.serve(listener, shutdown).await,
    };
    served.context("the simulated upstream failed")?;
    tracing::info!("simulated upstream stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SimulateArgs,
    }

    #[test]
    fn defaults_match_the_documentation() {
        let cli = Cli::try_parse_from(["simulate", "--listen", "127.0.0.1:0"]).unwrap();
        let opts = cli.args.options();
        assert_eq!(opts.profiles, 500);
        assert_eq!(opts.seed, 1);
        assert_eq!(opts.token, "demo-token");
        assert_eq!(opts.latency, Duration::ZERO);
        assert_eq!(opts.legacy_fraction, 0.1);
        assert_eq!(opts.drift, None);
        assert_eq!(opts.faults.retry_after, Duration::from_secs(1));
        assert_eq!(opts.faults.error_rate, 0.0);
    }

    #[test]
    fn faults_and_durations_are_read() {
        let cli = Cli::try_parse_from([
            "simulate",
            "--listen",
            "127.0.0.1:0",
            "--latency",
            "20ms",
            "--drift",
            "5s",
            "--error-rate",
            "0.25",
            "--rate-429",
            "0.5",
            "--retry-after",
            "3s",
            "--pagination-loop",
        ])
        .unwrap();
        let f = cli.args.faults();
        assert_eq!(cli.args.latency, Duration::from_millis(20));
        assert_eq!(cli.args.drift, Some(Duration::from_secs(5)));
        assert_eq!((f.error_rate, f.rate_429), (0.25, 0.5));
        assert_eq!(f.retry_after, Duration::from_secs(3));
        assert!(f.pagination_loop && !f.shrink_mid_walk);
    }

    #[test]
    fn the_drift_period_is_logged_as_a_duration_or_off() {
        assert_eq!(drift_text(Some(Duration::from_secs(5))), "5s");
        assert_eq!(drift_text(Some(Duration::from_millis(1500))), "1s 500ms");
        assert_eq!(drift_text(None), "off");
    }

    #[test]
    fn shares_outside_zero_to_one_are_refused() {
        for bad in ["1.5", "-0.1", "lots", "NaN", "inf", ""] {
            let parsed = Cli::try_parse_from(["simulate", "--listen", "x", "--error-rate", bad]);
            assert!(parsed.is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn run_serves_until_shutdown() {
        let args = Cli::try_parse_from(["simulate", "--listen", "127.0.0.1:0", "--profiles", "5"])
            .unwrap()
            .args;
        run(args, async {}).await.unwrap();
    }

    #[test]
    fn tls_needs_both_the_certificate_and_the_key() {
        let only_cert =
            Cli::try_parse_from(["simulate", "--listen", "x", "--tls-cert", "cert.pem"]);
        assert!(only_cert.is_err());
        let only_key = Cli::try_parse_from(["simulate", "--listen", "x", "--tls-key", "key.pem"]);
        assert!(only_key.is_err());
        let both = Cli::try_parse_from([
            "simulate",
            "--listen",
            "x",
            "--tls-cert",
            "cert.pem",
            "--tls-key",
            "key.pem",
        ])
        .unwrap();
        assert_eq!(
            both.args.tls_key.as_deref(),
            Some(std::path::Path::new("key.pem"))
        );
    }

    #[tokio::test]
    async fn run_refuses_a_certificate_it_cannot_read() {
        let args = Cli::try_parse_from([
            "simulate",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            "/nonexistent/cert.pem",
            "--tls-key",
            "/nonexistent/key.pem",
        ])
        .unwrap()
        .args;
        let error = run(args, async {}).await.unwrap_err();
        let text = format!("{error:#}");
        assert!(
            text.contains("--tls-cert") && text.contains("cert.pem"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn run_reports_an_address_it_cannot_bind() {
        let args = Cli::try_parse_from(["simulate", "--listen", "not an address"])
            .unwrap()
            .args;
        let error = run(args, async {}).await.unwrap_err();
        assert!(error
            .to_string()
            .contains("cannot listen on not an address"));
    }
}
