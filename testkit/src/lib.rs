//! The test kit of inventory-monitor: what the integration tests, the benchmarks and the
//! fuzz targets share, kept out of the daemon's own code.
//!
//! # Layout
//!
//! - [`audit`]: the soak's audit, a pure function over what happened and what was announced.
//! - [`logs`]: what a test logs in process, kept in memory.
//! - [`exposition`]: a strict parser of the Prometheus text format, to read `/metrics`.
//! - [`golden`]: whether golden files may be rewritten (never under CI).
//! - [`sink`]: one scriptable recording HTTP server (receivers, fake upstreams), with
//!   outages on the same port and waits on what it recorded.
//! - [`child`]: a program under test as a child process: output capture, signals through
//!   `libc::kill`, waits with deadlines, killed on drop.
//! - [`tool`]: outside programs (promtool, prometheus, amtool, ...): skipped with a reason
//!   when absent, a failure under `CI=true`.
//! - [`wait`]: waiting on a condition with a deadline.
//! - [`place`]: the repository's paths and free loopback ports for programs we start.

pub mod audit;
pub mod child;
pub mod exposition;
pub mod golden;
pub mod logs;
pub mod place;
pub mod sink;
pub mod tool;
pub mod wait;

pub use child::{Child, Launch, Signal, Stream};
pub use place::{files_under, free_port, repo, repo_path};
pub use sink::{Received, Reply, Sink, Then};
pub use tool::{require_any, require_tool, under_ci};
pub use wait::{wait_for, wait_until};
