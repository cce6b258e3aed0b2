//! Silences and the writes that make them (README, Silences), with the binary as a child
//! process: the Alertmanager v2 API over loopback, silences across SIGKILL and restart,
//! every case of write access, `POST /-/reload`, bad input refused without change, and our
//! own `silence` command end to end. `amtool` itself is driven in `amtool.rs`, on the same
//! [`Daemon`].
//!
//! The upstream is a port nothing listens on, so `InventoryApiDown` fires after the first
//! sweep: a real alert to silence without a simulator.

use std::path::{Path, PathBuf};
use std::time::Duration;

use inventory_monitor_testkit::child::{Child, Launch};
use inventory_monitor_testkit::place::free_port;
use inventory_monitor_testkit::wait::{wait_for, wait_until};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::BIN;

/// The basic-auth user of the secured daemons, and its password.
pub const USER: &str = "oncall";
pub const PASSWORD: &str = "correct horse battery staple";

const TOKEN_ENV: &str = "IM_SILENCES_TOKEN";
const DEADLINE: Duration = Duration::from_secs(30);

/// How a test daemon is set up.
#[derive(Clone, Debug, Default)]
pub struct Setup {
    /// Listen on `0.0.0.0:PORT` (not loopback) rather than `127.0.0.1:PORT`.
    pub public: bool,
    /// `server.allow_unauthenticated_writes = true`.
    pub allow_unauthenticated: bool,
    /// A web config with basic auth for [`USER`].
    pub basic_auth: bool,
    /// A webhook receiver's URL (group_wait 1s), or none.
    pub webhook: Option<String>,
}

/// `inventory-monitor run` as a child, with its config, state and log in a temporary
/// directory that outlives each process.
pub struct Daemon {
    /// The temporary directory.
    pub dir: tempfile::TempDir,
    /// The config file.
    pub config: PathBuf,
    /// The port it listens on.
    pub port: u16,
    /// How it was set up.
    pub setup: Setup,
    child: Option<Child>,
}

impl Daemon {
    /// Writes the config (and web config) and starts the daemon; returns once it answers.
    pub async fn start(setup: Setup) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let config = dir.path().join("monitor.toml");
        let mut daemon = Daemon {
            config,
            port,
            setup,
            child: None,
            dir,
        };
        std::fs::create_dir_all(daemon.state_dir()).expect("state dir");
        std::fs::write(&daemon.config, daemon.config_text()).expect("write the config");
        if daemon.setup.basic_auth {
            let hash = bcrypt::hash(PASSWORD, 4).expect("bcrypt");
            std::fs::write(
                daemon.dir.path().join("web.yml"),
                format!("basic_auth_users:\n  {USER}: \"{hash}\"\n"),
            )
            .expect("write the web config");
        }
        daemon.restart().await;
        daemon
    }

    /// The config as [`Daemon::start`] writes it; `poll.interval` can be changed to test a
    /// reload.
    pub fn config_text(&self) -> String {
        let host = if self.setup.public {
            "0.0.0.0"
        } else {
            "127.0.0.1"
        };
        let web = if self.setup.basic_auth {
            format!(
                "web_config = \"{}\"\n",
                self.dir.path().join("web.yml").display()
            )
        } else {
            String::new()
        };
        let alerting = match &self.setup.webhook {
            Some(url) => format!(
                "[alerting]\ngroup_wait = \"1s\"\n[[alerting.receivers]]\nname = \"ops\"\n\
                 kind = \"webhook\"\nurl = \"{url}\"\n"
            ),
            None => String::new(),
        };
        format!(
            "[api]\n\
             base_url = \"http://127.0.0.1:{closed}/api/v1\"\n\
             token_env = \"{TOKEN_ENV}\"\n\
             timeout = \"1s\"\n\
             retries = 0\n\
             [poll]\n\
             interval = \"1s\"\n\
             [server]\n\
             listen = \"{host}:{port}\"\n\
             allow_unauthenticated_writes = {allow}\n\
             {web}\
             [state]\n\
             dir = \"{state}\"\n\
             {alerting}",
            closed = free_port(),
            port = self.port,
            allow = self.setup.allow_unauthenticated,
            state = self.state_dir().display(),
        )
    }

    /// `state.dir`.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The log file (stderr of every process, appended).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("monitor.log")).unwrap_or_default()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A web config file for `amtool --http.config.file` with the right or a wrong password.
    pub fn amtool_http_config(&self, password: &str) -> PathBuf {
        let file = self
            .dir
            .path()
            .join(format!("amtool-{}.yml", password.len()));
        std::fs::write(
            &file,
            format!("basic_auth:\n  username: {USER}\n  password: \"{password}\"\n"),
        )
        .expect("write amtool's http config");
        file
    }

    /// A request with the right credentials when the daemon has basic auth.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = reqwest::Client::new().request(method, format!("{}{path}", self.url()));
        if self.setup.basic_auth {
            r.basic_auth(USER, Some(PASSWORD))
        } else {
            r
        }
    }

    /// Starts a process on the same config and state (the previous one must be gone) and
    /// waits until it answers `/healthz`.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Launch::new(BIN)
            .args(["run", "--config"])
            .arg(&self.config)
            .env(TOKEN_ENV, "token")
            .env("RUST_LOG", "info")
            .stdout_null()
            .stderr_to(self.dir.path().join("monitor.log"))
            .spawn()
            .expect("spawn the binary");
        self.child = Some(child);
        let up = wait_for(DEADLINE, || async {
            self.request(reqwest::Method::GET, "/healthz")
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK)
        })
        .await;
        assert!(up, "the daemon did not answer\n{}", self.log());
    }

    /// SIGKILL, then waits for the process to be gone.
    pub async fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().await;
    }

    /// Waits until `InventoryApiDown` fires (the upstream is down from the start).
    pub async fn wait_firing(&self) {
        let firing = wait_for(DEADLINE, || async {
            self.alerts("")
                .await
                .as_array()
                .is_some_and(|a| !a.is_empty())
        })
        .await;
        assert!(firing, "no alert fired\n{}", self.log());
    }

    /// `GET /api/v2/alerts?QUERY`, parsed.
    pub async fn alerts(&self, query: &str) -> Value {
        self.get_json(&format!("/api/v2/alerts?{query}")).await
    }

    /// `GET path`, parsed; panics unless 200.
    pub async fn get_json(&self, path: &str) -> Value {
        let r = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let text = r.text().await.expect("body");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
    }

    /// `POST /api/v2/silences` with `body`: status and text.
    pub async fn post_silence(&self, body: &Value) -> (StatusCode, String) {
        let r = self
            .request(reqwest::Method::POST, "/api/v2/silences")
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("POST");
        (r.status(), r.text().await.unwrap_or_default())
    }

    /// The silences the API lists.
    pub async fn silences(&self) -> Vec<Value> {
        self.get_json("/api/v2/silences")
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Our metrics' text.
    pub async fn metrics(&self) -> String {
        let r = self
            .request(reqwest::Method::GET, "/metrics")
            .send()
            .await
            .expect("GET /metrics");
        r.text().await.unwrap_or_default()
    }
}

/// A silence of `matchers` (name, value, isRegex) for two hours from now, as amtool posts it.
pub fn silence_body(matchers: &[(&str, &str, bool)]) -> Value {
    let now = std::time::SystemTime::now();
    let ends = now + Duration::from_secs(7200);
    json!({
        "matchers": matchers.iter().map(|(n, v, r)| json!({
            "name": n, "value": v, "isRegex": r, "isEqual": true,
        })).collect::<Vec<_>>(),
        "startsAt": humantime::format_rfc3339_millis(now).to_string(),
        "endsAt": humantime::format_rfc3339_millis(ends).to_string(),
        "createdBy": "tester",
        "comment": "migration",
    })
}

fn silence_id(text: &str) -> String {
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    v["silenceID"].as_str().expect("silenceID").to_string()
}

#[tokio::test]
async fn a_silence_survives_sigkill_and_restart() {
    let mut d = Daemon::start(Setup::default()).await;
    let (status, text) = d
        .post_silence(&silence_body(&[("profile_name", "legacy-.*", true)]))
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let id = silence_id(&text);
    d.kill().await;
    d.restart().await;
    let kept = d.silences().await;
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0]["id"], id);
    assert_eq!(kept[0]["status"]["state"], "active");
    assert_eq!(kept[0]["matchers"][0]["value"], "legacy-.*");
    assert_eq!(kept[0]["createdBy"], "tester");
    let one = d.get_json(&format!("/api/v2/silence/{id}")).await;
    assert_eq!(one["id"], id);
}

#[tokio::test]
async fn a_new_silence_shows_the_alert_suppressed_at_once_and_expiring_it_ends_that() {
    let d = Daemon::start(Setup::default()).await;
    d.wait_firing().await;
    let alert = &d.alerts("").await[0];
    assert_eq!(alert["labels"]["alertname"], "InventoryApiDown");
    assert_eq!(alert["status"]["state"], "active");
    let (status, text) = d
        .post_silence(&silence_body(&[("alertname", "InventoryApiDown", false)]))
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let id = silence_id(&text);
    // At once: no sweep in between is needed.
    let alert = &d.alerts("").await[0];
    assert_eq!(alert["status"]["state"], "suppressed");
    assert_eq!(alert["status"]["silencedBy"], json!([id]));
    assert_eq!(
        d.alerts("silenced=false").await,
        json!([]),
        "amtool's default query leaves silenced alerts out"
    );
    let gone = d
        .request(reqwest::Method::DELETE, &format!("/api/v2/silence/{id}"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(gone.status(), StatusCode::OK);
    assert_eq!(d.alerts("").await[0]["status"]["state"], "active");
    assert_eq!(d.silences().await[0]["status"]["state"], "expired");
    let log = d.log();
    assert!(
        log.contains("silence saved") && log.contains("created_by=tester"),
        "{log}"
    );
    assert!(log.contains("silence expired") && log.contains("peer=127.0.0.1:"));
}

#[tokio::test]
async fn writes_on_a_public_address_without_authentication_are_refused_with_the_hint() {
    let d = Daemon::start(Setup {
        public: true,
        ..Setup::default()
    })
    .await;
    let (status, text) = d
        .post_silence(&silence_body(&[("alertname", "InventoryApiDown", false)]))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(text.contains("allow_unauthenticated_writes"), "{text}");
    assert!(text.contains("basic_auth_users"), "{text}");
    for (method, path) in [
        (reqwest::Method::DELETE, "/api/v2/silence/x"),
        (reqwest::Method::POST, "/-/reload"),
    ] {
        let r = d.request(method, path).send().await.expect("request");
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    // Reads stay open.
    assert!(d.silences().await.is_empty());
    assert!(!d.state_dir().join("silences.json").exists());
}

#[tokio::test]
async fn allow_unauthenticated_writes_opens_writes_on_a_public_address() {
    let d = Daemon::start(Setup {
        public: true,
        allow_unauthenticated: true,
        ..Setup::default()
    })
    .await;
    let (status, text) = d
        .post_silence(&silence_body(&[("alertname", "InventoryApiDown", false)]))
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(d.silences().await.len(), 1);
}

#[tokio::test]
async fn basic_auth_opens_writes_and_a_wrong_password_gets_401() {
    let d = Daemon::start(Setup {
        public: true,
        basic_auth: true,
        ..Setup::default()
    })
    .await;
    let body = silence_body(&[("alertname", "InventoryApiDown", false)]);
    let http = reqwest::Client::new();
    for auth in [None, Some("wrong")] {
        let mut r = http
            .post(format!("{}/api/v2/silences", d.url()))
            .body(body.to_string());
        if let Some(password) = auth {
            r = r.basic_auth(USER, Some(password));
        }
        let r = r.send().await.expect("POST");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
    }
    let (status, text) = d.post_silence(&body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(d.silences().await.len(), 1);
    let log = d.log();
    assert!(log.contains("user=oncall"), "{log}");
    assert!(
        !log.contains(PASSWORD),
        "the password never reaches the log"
    );
}

#[tokio::test]
async fn reload_over_http_answers_200_or_500_with_the_problems_and_is_counted() {
    let d = Daemon::start(Setup::default()).await;
    let reload = || async {
        let r = d
            .request(reqwest::Method::POST, "/-/reload")
            .send()
            .await
            .expect("POST /-/reload");
        (r.status(), r.text().await.unwrap_or_default())
    };
    let good = d
        .config_text()
        .replace("interval = \"1s\"", "interval = \"2s\"");
    std::fs::write(&d.config, &good).expect("write");
    let (status, text) = reload().await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(d
        .metrics()
        .await
        .contains("inventory_monitor_config_last_reload_successful 1"));

    std::fs::write(&d.config, good.replace("[poll]", "[poll]\nnot_a_key = 1")).expect("write");
    let (status, text) = reload().await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(text.contains("not_a_key"), "{text}");
    let counted = wait_for(DEADLINE, || async {
        d.metrics()
            .await
            .contains("inventory_monitor_config_last_reload_successful 0")
    })
    .await;
    assert!(
        counted,
        "the refused reload is counted\n{}",
        d.metrics().await
    );
    assert!(d.log().contains("reload asked for over HTTP"));
}

#[tokio::test]
async fn bad_input_is_refused_with_a_message_and_changes_nothing() {
    let d = Daemon::start(Setup::default()).await;
    let ok = silence_body(&[("alertname", "InventoryApiDown", false)]);
    let with = |patch: Value| {
        let mut b = ok.clone();
        for (k, v) in patch.as_object().expect("object") {
            b[k] = v.clone();
        }
        b
    };
    let cases = [
        (with(json!({"matchers": []})), "at least one matcher"),
        (
            with(json!({"endsAt": "2020-01-01T00:00:00Z", "startsAt": "2021-01-01T00:00:00Z"})),
            "endsAt must be after startsAt",
        ),
        (
            with(
                json!({"matchers": [{"name": "a", "value": "(", "isRegex": true, "isEqual": true}]}),
            ),
            "bad regex",
        ),
        (
            with(
                json!({"matchers": [{"name": "a", "value": ".*", "isRegex": true, "isEqual": true}]}),
            ),
            "empty string",
        ),
        (with(json!({"startsAt": "yesterday"})), "RFC 3339"),
        (with(json!({"comment": ""})), "comment is empty"),
        (json!({"matchers": "x"}), "bad silence"),
    ];
    for (body, why) in cases {
        let (status, text) = d.post_silence(&body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {text}");
        assert!(text.contains(why), "{why}: {text}");
    }
    let raw = d
        .request(reqwest::Method::POST, "/api/v2/silences")
        .header("content-type", "application/json")
        .body("{\"matchers\": [")
        .send()
        .await
        .expect("POST");
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    let big = d
        .request(reqwest::Method::POST, "/api/v2/silences")
        .body(vec![b' '; 65 * 1024])
        .send()
        .await
        .expect("POST");
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // What a web page can make a browser send without asking first: a text/plain post, or
    // one from another origin.
    let valid = silence_body(&[("alertname", "InventoryApiDown", false)]).to_string();
    let page = d
        .request(reqwest::Method::POST, "/api/v2/silences")
        .header("content-type", "text/plain")
        .body(valid.clone())
        .send()
        .await
        .expect("POST");
    assert_eq!(page.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let cross = d
        .request(reqwest::Method::POST, "/api/v2/silences")
        .header("content-type", "application/json")
        .header("origin", "https://evil.example")
        .body(valid)
        .send()
        .await
        .expect("POST");
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);

    let (status, text) = d.post_silence(&with(json!({"id": "no-such-id"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
    for (method, path, expected) in [
        (
            reqwest::Method::DELETE,
            "/api/v2/silence/no-such-id",
            StatusCode::NOT_FOUND,
        ),
        (
            reqwest::Method::GET,
            "/api/v2/silence/no-such-id",
            StatusCode::NOT_FOUND,
        ),
        (
            reqwest::Method::GET,
            "/api/v2/silences?filter=%3Dx",
            StatusCode::BAD_REQUEST,
        ),
        (
            reqwest::Method::GET,
            "/api/v2/alerts?silenced=maybe",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let r = d.request(method, path).send().await.expect("request");
        assert_eq!(r.status(), expected, "{path}");
    }
    assert!(d.silences().await.is_empty(), "nothing was made");
    assert!(!silences_file(&d.state_dir()).exists());
}

fn silences_file(dir: &Path) -> PathBuf {
    dir.join("silences.json")
}

#[tokio::test]
async fn a_corrupt_silences_file_stops_the_start_with_its_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).expect("mkdir");
    std::fs::write(silences_file(&state), "{not json").expect("write");
    let config = dir.path().join("m.toml");
    std::fs::write(
        &config,
        format!(
            "[api]\nbase_url = \"http://127.0.0.1:{}/api/v1\"\ntoken_env = \"{TOKEN_ENV}\"\n\
             [server]\nlisten = \"127.0.0.1:{}\"\n[state]\ndir = \"{}\"\n",
            free_port(),
            free_port(),
            state.display()
        ),
    )
    .expect("write");
    let (code, _, stderr) = Launch::new(BIN)
        .args(["run", "--config"])
        .arg(&config)
        .env(TOKEN_ENV, "token")
        .output(DEADLINE)
        .await;
    assert_ne!(code, 0);
    assert!(stderr.contains("silences.json"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(silences_file(&state)).expect("read"),
        "{not json",
        "left as it was"
    );
}

#[tokio::test]
async fn the_silence_command_adds_queries_and_expires() {
    let d = Daemon::start(Setup {
        public: true,
        basic_auth: true,
        ..Setup::default()
    })
    .await;
    let password_file = d.dir.path().join("password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).expect("write");
    let url = d.url();
    let auth = [
        "--url",
        url.as_str(),
        "--basic-auth-user",
        USER,
        "--basic-auth-password-file",
        password_file.to_str().expect("utf-8"),
    ];
    let run = |args: Vec<&str>| {
        Launch::new(BIN)
            .arg("silence")
            .args(args)
            .env("USER", "alice")
            .output(DEADLINE)
    };
    let mut add = vec![
        "add",
        r#"profile_name=~"legacy-.*""#,
        "alertname=InventoryApiDown",
    ];
    add.extend(["--duration", "2h", "--comment", "migration"]);
    add.extend(auth);
    let (code, id, stderr) = run(add.clone()).await;
    assert_eq!(code, 0, "{stderr}");
    let id = id.trim().to_string();
    assert_eq!(id.len(), 36, "{id}");

    let mut query = vec!["query"];
    query.extend(auth);
    let (code, table, stderr) = run(query.clone()).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(table.contains(&id), "{table}");
    assert!(table.contains(r#"profile_name=~"legacy-.*""#), "{table}");
    assert!(
        table.contains("alice") && table.contains("migration"),
        "{table}"
    );

    let mut expire = vec!["expire", id.as_str()];
    expire.extend(auth);
    let (code, _, stderr) = run(expire).await;
    assert_eq!(code, 0, "{stderr}");
    let (_, table, _) = run(query).await;
    assert!(!table.contains(&id), "expired ones are not listed: {table}");

    // Without credentials: the daemon's answer is shown.
    let (code, _, stderr) = run(vec![
        "add",
        "alertname=X",
        "--duration",
        "1h",
        "--comment",
        "c",
        "--url",
        url.as_str(),
    ])
    .await;
    assert_ne!(code, 0);
    assert!(stderr.contains("401"), "{stderr}");

    // Nothing listening: the URL is named, without its userinfo.
    let closed = format!("http://user:secret@127.0.0.1:{}", free_port());
    let (code, _, stderr) = run(vec!["query", "--url", closed.as_str()]).await;
    assert_ne!(code, 0);
    assert!(stderr.contains("127.0.0.1"), "{stderr}");
    assert!(!stderr.contains("secret"), "{stderr}");
}

#[tokio::test]
async fn a_silenced_alert_is_not_announced_and_is_announced_once_the_silence_is_expired() {
    use inventory_monitor::clock::SystemClock;
    use inventory_monitor::matchers::parse_list;
    use inventory_monitor::silences::{NewSilence, Store};
    use inventory_monitor_testkit::sink::Sink;
    use std::sync::Arc;

    let sink = Sink::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    // The silence is on disk before the daemon starts: the alert is silenced from its first
    // sweep on, and this is how a silence made before a restart is found again.
    let state = dir.path().join("state");
    let id = {
        let store = Store::open(&state, Arc::new(SystemClock), None).expect("store");
        let now = std::time::SystemTime::now();
        store
            .upsert(NewSilence {
                id: None,
                matchers: parse_list("alertname=InventoryApiDown").expect("matchers"),
                starts_at: now,
                ends_at: now + Duration::from_secs(3600),
                created_by: "tester".to_string(),
                comment: "upstream maintenance".to_string(),
            })
            .expect("silence")
    };
    let mut d = Daemon {
        config: dir.path().join("monitor.toml"),
        port: free_port(),
        setup: Setup {
            webhook: Some(sink.url("/hook")),
            ..Setup::default()
        },
        child: None,
        dir,
    };
    std::fs::write(&d.config, d.config_text()).expect("config");
    d.restart().await;

    let suppressed = wait_for(DEADLINE, || async {
        let status = d.get_json("/api/v1/status").await;
        status["alerts"].as_array().is_some_and(|alerts| {
            alerts
                .iter()
                .any(|a| a["state"] == "suppressed" && a["suppressed_by"][0]["id"] == json!(id))
        })
    })
    .await;
    assert!(suppressed, "not shown suppressed\n{}", d.log());
    // Several sweeps (1s apart) and group waits later, still nothing was sent.
    let metrics_say = wait_for(DEADLINE, || async {
        d.metrics()
            .await
            .contains("inventory_monitor_alerts{state=\"suppressed\"} 1")
    })
    .await;
    assert!(metrics_say, "{}", d.metrics().await);
    assert!(d
        .metrics()
        .await
        .contains("inventory_monitor_silences{state=\"active\"} 1"));
    let before = d.log().matches("sweep").count();
    let swept = wait_until(DEADLINE, || d.log().matches("sweep").count() >= before + 3).await;
    assert!(swept, "{}", d.log());
    assert_eq!(sink.count(), 0, "a silenced alert is not announced");

    let r = d
        .request(reqwest::Method::DELETE, &format!("/api/v2/silence/{id}"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), StatusCode::OK);
    let announced = wait_until(DEADLINE, || {
        sink.received()
            .iter()
            .any(|r| String::from_utf8_lossy(&r.body).contains("InventoryApiDown"))
    })
    .await;
    assert!(announced, "announced once the silence ended\n{}", d.log());
    d.kill().await;
}

#[tokio::test]
async fn a_verified_client_certificate_opens_writes_on_a_public_address() {
    use inventory_monitor::clock::SystemClock;
    use inventory_monitor::metrics::MonitorMetrics;
    use inventory_monitor::server::writes::WritePolicy;
    use inventory_monitor::server::{self, AppState, ServerOptions};
    use inventory_monitor::silences::Store;
    use std::sync::Arc;

    let pki = crate::web::pki();
    let yaml = pki.tls(&[
        "client_auth_type: VerifyClientCertIfGiven",
        &format!("client_ca_file: \"{}\"", pki.ca_file.display()),
    ]);
    let mut options = ServerOptions::with_web(Some(pki.web_config(&yaml)));
    // As for `server.listen = "0.0.0.0:9857"`, without the opt-in.
    options.writes = WritePolicy::default();
    let state = Arc::new(AppState::new(Arc::new(MonitorMetrics::new(
        inventory_monitor::config::Config::default().shard(),
    ))));
    *state.silences.write().expect("lock") = Some(Store::in_memory(Arc::new(SystemClock)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let stop = tokio_util::sync::CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(server::serve_with(
        listener,
        state.clone(),
        options,
        async move { s.cancelled().await },
    ));
    let url = format!("https://{addr}/api/v2/silences");
    let body = silence_body(&[("alertname", "InventoryApiDown", false)]).to_string();
    let post = |identity: Option<&str>| {
        crate::web::client(&pki, identity)
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
    };
    let anonymous = post(None).await.expect("POST without a certificate");
    assert_eq!(anonymous.status(), StatusCode::FORBIDDEN);
    let verified = post(Some(&pki.client))
        .await
        .expect("POST with a certificate");
    assert_eq!(verified.status(), StatusCode::OK);
    assert!(
        post(Some(&pki.rogue_client)).await.is_err(),
        "an unknown CA's certificate is refused"
    );
    let kept = state
        .silences
        .read()
        .expect("lock")
        .as_ref()
        .map(|s| s.list().len());
    assert_eq!(kept, Some(1));
    stop.cancel();
}
