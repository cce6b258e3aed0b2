//! The test kit of inventory-monitor: what the integration tests, the benchmarks and the
//! fuzz targets share, kept out of the daemon's own code.
//!
//! # Layout
//!
//! - [`exposition`]: a strict parser of the Prometheus text format, to read `/metrics`.

pub mod exposition;
