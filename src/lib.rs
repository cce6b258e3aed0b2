//! inventory-monitor: a health-monitoring daemon and Prometheus exporter for the
//! connection profiles of an inventory-control service.
//!
//! Data flows one way:
//!
//! ```text
//! config ─► upstream (walk pages, fetch details) ─► Snapshot ─┬─► metrics (rendered once per sweep)
//!                                                              ├─► rules → alert state
//!                                                              └─► status API
//! ```
//!
//! # Layout
//!
//! - [`config`]: the TOML configuration, its defaults, validation and secrets.
//! - [`model`]: a profile as we understand it, over both API revisions; body parsing.
//! - [`upstream`]: the HTTP client that walks the list and fetches details, gently.
//! - [`shard`]: which replica owns which profile (FNV-64a + jump hash).
//! - [`snapshot`]: the immutable result of one sweep.
//! - [`sweep`]: one sweep: walk, shard, fetch, assemble the snapshot.
//! - [`rules`]: judging a snapshot: alert conditions, `for`, pending → firing → resolved.
//! - [`vocabulary`]: the names config and rules share: [`vocabulary::AlertName`],
//!   [`vocabulary::Severity`], and [`vocabulary::Named`] for reading them from a file.
//! - [`exposition`]: the Prometheus text format: escaping and writing.
//! - [`limit`]: the protective limits against the upstream, by name (counted by `upstream`,
//!   labelled by `metrics`).
//! - [`metrics`]: every metric of the README's Metrics table, rendered into bytes once per sweep.
//! - [`server`]: the HTTP endpoints (`/metrics`, `/healthz`, `/readyz`, `/api/v1/status`, the status
//!   pages, the Alertmanager v2 API subset, `/-/reload`) and who may write.
//! - [`web`]: the status page a person reads (`/`, `/profiles/{id}`): view model, history,
//!   templates, stylesheet.
//! - [`web_config`]: TLS, client certificates, basic auth and headers for those endpoints
//!   (the Prometheus exporter-toolkit web config format).
//! - [`status`]: the status document (`/api/v1/status`, `once --output json`).
//! - [`daemon`]: the poll loop: sweep, judge, publish, hand-off to the notifier, reload.
//! - [`config_watch`]: where reloads come from: SIGHUP, and the config file's content
//!   (`run --auto-reload-interval`).
//! - [`app`]: the composition root: runtimes, the HTTP server's thread, signals, allocator
//!   tuning; what `run` and `demo` start.
//! - [`receivers`]: one file per receiver kind: alerts → HTTP request, pure.
//! - [`notify`]: routing, grouping, reminders, the durable outbox and delivery with retries.
//! - [`report`]: the `once` command's table and JSON report.
//! - [`simulator`]: a faithful simulation of the upstream API, for the demo, tests and benchmarks.
//! - [`demo`]: simulator and daemon in one process.
//! - [`matchers`]: label matchers in Alertmanager's syntax, one parser for every use.
//! - [`suppress`]: the [`suppress::Suppressor`] trait silences and maintenance windows share.
//! - [`silences`]: the silences store (kept in `state.dir`) and the `silence` command's client.
//! - [`maintenance`]: the config's maintenance windows, a [`suppress::Suppressor`].
//! - [`clock`]: injectable time.
//! - [`cli`]: the command line.

pub mod app;
pub mod background;
pub mod cli;
pub mod clock;
pub mod config;
pub mod config_watch;
pub mod daemon;
pub mod demo;
pub mod exposition;
pub mod limit;
pub mod maintenance;
pub mod matchers;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod receivers;
pub mod report;
pub mod retry_after;
pub mod rules;
pub mod server;
pub mod shard;
pub mod silences;
pub mod simulator;
pub mod snapshot;
pub mod status;
pub mod suppress;
pub mod sweep;
pub mod upstream;
pub mod vocabulary;
pub mod web;
pub mod web_config;

/// The version of this build, from Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
