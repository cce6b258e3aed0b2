//! The integration tests, in one test binary: one link instead of eighteen.
//!
//! Each module is one area, exercised from outside over loopback: the simulator as the
//! upstream, the daemon in process or as a child process (`cargo test --test it restart::`
//! runs one area). The helpers shared by the areas are `common` (a simulator and a daemon in
//! process, scraping), `child` (the binary as a child process delivering to a recording
//! webhook) and `observability` (a real Prometheus and Alertmanager on loopback); what the
//! benchmarks share too lives in the test kit crate (`testkit/`).

mod child;
mod common;
mod observability;

mod alert_latency;
mod alertmanager;
mod amtool;
mod auto_reload;
mod cli;
mod config;
mod config_shard;
mod daemon;
mod demo;
mod deploy;
mod docs_consistency;
mod flapping;
mod grafana;
mod hostile;
mod journal;
mod logs;
mod maintenance;
mod notify;
mod page;
mod prometheus;
mod properties;
mod readme;
mod receivers;
mod reload;
mod restart;
mod silences;
mod simulator;
mod storm;
mod suppression;
mod templates;
mod upstream;
mod web;
