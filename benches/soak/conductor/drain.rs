//! The drain: after the faults, waiting until the daemon has told the sink everything.

use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use super::Soak;
use crate::{lock, DRAIN_DEADLINE};

impl Soak {
    /// Waits until two sweeps started after `cleared` have finished, the daemon holds no
    /// alert and its queue is empty, twice in a row a second apart.
    pub(super) async fn drain(&mut self, cleared: SystemTime) -> Result<Duration, String> {
        let began = Instant::now();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        let mut calm = 0;
        let mut last = String::from("no answer yet");
        while began.elapsed() < DRAIN_DEADLINE {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if let Err(e) = self.daemon_step(Instant::now(), false).await {
                return Err(e.to_string());
            }
            let Some(p) = &self.proc else {
                calm = 0;
                continue;
            };
            let (index, port) = (p.index, p.port);
            let swept_after = {
                let sweeps = lock(&self.logs.sweeps);
                let mut previous: Option<SystemTime> = None;
                let mut n = 0;
                for s in sweeps.iter().filter(|s| s.proc == index) {
                    if previous.unwrap_or(self.history.spawns[index]) >= cleared {
                        n += 1;
                    }
                    previous = Some(s.ts);
                }
                n
            };
            let status = fetch_json(&client, port, "/api/v1/status").await;
            let queue = fetch_queue(&client, port).await;
            let alerts = status
                .as_ref()
                .and_then(|s| s["alerts"].as_array().map(Vec::len));
            last = format!(
                "sweeps since the faults stopped: {swept_after}, alerts held: {alerts:?}, queue: {queue:?}"
            );
            if swept_after >= 2 && alerts == Some(0) && queue == Some(0) {
                calm += 1;
                if calm >= 2 {
                    return Ok(began.elapsed());
                }
            } else {
                calm = 0;
            }
        }
        Err(format!(
            "not drained within {} s ({last})",
            DRAIN_DEADLINE.as_secs()
        ))
    }
}

/// A JSON document from the daemon's HTTP server; `None` on any failure.
pub(crate) async fn fetch_json(client: &reqwest::Client, port: u16, path: &str) -> Option<Value> {
    let resp = client
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .await
        .ok()?;
    serde_json::from_slice(&resp.bytes().await.ok()?).ok()
}

/// `inventory_monitor_notification_queue` from `/metrics`.
pub(crate) async fn fetch_queue(client: &reqwest::Client, port: u16) -> Option<u64> {
    let resp = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .ok()?;
    let text = resp.text().await.ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("inventory_monitor_notification_queue "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}
