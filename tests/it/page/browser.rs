//! Headless Chromium for the status page's tests: the rendered DOM (`--dump-dom`), PNG
//! screenshots (`--screenshot`), and the browser's log (`--enable-logging=stderr`), where
//! console messages and Content-Security-Policy refusals appear. Each run has its own
//! profile directory and a deadline.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

/// How long one browser run may take.
const DEADLINE: Duration = Duration::from_secs(90);

/// What one run left: its stdout (the DOM, for `--dump-dom`) and its log.
pub struct Run {
    pub stdout: String,
    pub log: String,
}

impl Run {
    /// The log lines a page caused: console messages and CSP refusals (the browser's own
    /// noise about D-Bus, GPU and sandbox is not the page's).
    pub fn page_complaints(&self) -> Vec<&str> {
        self.log
            .lines()
            .filter(|l| {
                l.contains("CONSOLE")
                    || l.contains("Content Security Policy")
                    || l.contains("Refused to")
                    || l.contains("Uncaught")
            })
            .collect()
    }
}

/// Headless Chromium, when installed (skips locally, fails under `CI=true`).
pub struct Browser {
    program: PathBuf,
}

impl Browser {
    pub fn find() -> Option<Browser> {
        inventory_monitor_testkit::tool::require_tool("chromium").map(|program| Browser { program })
    }

    async fn run(&self, width: u32, height: u32, extra: &[String], url: &str) -> Run {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut cmd = Command::new(&self.program);
        cmd.arg("--headless")
            .arg("--no-sandbox")
            .arg("--disable-gpu")
            .arg("--no-first-run")
            .arg("--hide-scrollbars")
            .arg("--enable-logging=stderr")
            .arg("--v=0")
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--window-size={width},{height}"))
            .args(extra)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = cmd.spawn().expect("start chromium");
        let out = tokio::time::timeout(DEADLINE, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("chromium did not finish {url} within {DEADLINE:?}"))
            .expect("chromium output");
        let run = Run {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            log: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(
            out.status.success(),
            "chromium failed on {url}: {}\n{}",
            out.status,
            run.log
        );
        run
    }

    /// The DOM after loading `url` in a 1280×900 window.
    pub async fn dom(&self, url: &str) -> Run {
        self.run(1280, 900, &["--dump-dom".to_string()], url).await
    }

    /// A screenshot of `url` at `width`×`height`, written to `path`.
    pub async fn screenshot(&self, url: &str, width: u32, height: u32, path: &Path) -> Run {
        self.screenshot_with(url, width, height, path, &[]).await
    }

    /// The same with the system in dark mode (`prefers-color-scheme: dark`).
    pub async fn screenshot_dark(&self, url: &str, width: u32, height: u32, path: &Path) -> Run {
        self.screenshot_with(url, width, height, path, &["--force-dark-mode"])
            .await
    }

    async fn screenshot_with(
        &self,
        url: &str,
        width: u32,
        height: u32,
        path: &Path,
        flags: &[&str],
    ) -> Run {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        let _ = std::fs::remove_file(path);
        let mut args: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        args.push(format!("--screenshot={}", path.display()));
        self.run(width, height, &args, url).await
    }
}

/// Where the screenshots are kept (CI keeps `target/` as artefacts).
pub fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots")
}

/// A PNG's pixels: width, height, samples per pixel, the samples.
fn decode(path: &Path) -> (u32, u32, usize, Vec<u8>) {
    let file = std::fs::File::open(path)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}", path.display()));
    let decoder = png::Decoder::new(std::io::BufReader::new(file));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("PNG size")];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    buf.truncate(info.buffer_size());
    (info.width, info.height, info.color_type.samples(), buf)
}

/// The mean brightness of a screenshot's colour samples, 0 to 255.
pub fn mean_brightness(path: &Path) -> f64 {
    let (_, _, channels, pixels) = decode(path);
    let colour = channels.min(3);
    let (sum, n) = pixels
        .chunks_exact(channels)
        .flat_map(|px| px[..colour].iter())
        .fold((0u64, 0u64), |(s, n), &v| (s + u64::from(v), n + 1));
    sum as f64 / n.max(1) as f64
}

/// Decodes a PNG and checks it is the size asked and not blank: many colours, and no
/// single colour covering nearly all of it.
pub fn assert_not_blank(path: &Path, width: u32, height: u32) {
    let (w, h, channels, pixels) = decode(path);
    assert_eq!((w, h), (width, height), "{}", path.display());
    let mut counts: std::collections::HashMap<&[u8], usize> = std::collections::HashMap::new();
    for px in pixels.chunks_exact(channels) {
        *counts.entry(px).or_default() += 1;
    }
    let total = (w * h) as usize;
    let commonest = counts.values().copied().max().unwrap_or(0);
    assert!(
        counts.len() >= 16,
        "{} has only {} colours",
        path.display(),
        counts.len()
    );
    assert!(
        commonest * 100 < total * 97,
        "{} is {}% one colour",
        path.display(),
        commonest * 100 / total
    );
}

/// The `href` of the first `<a>` whose attributes include `marker` (e.g. `rel="next"`),
/// with `&amp;` decoded.
pub fn href_of(dom: &str, marker: &str) -> Option<String> {
    let at = dom.find(marker)?;
    let tag_start = dom[..at].rfind("<a ")?;
    let tag_end = tag_start + dom[tag_start..].find('>')?;
    let tag = &dom[tag_start..tag_end];
    let h = tag.find("href=\"")? + 6;
    let end = h + tag[h..].find('"')?;
    Some(tag[h..end].replace("&amp;", "&"))
}
