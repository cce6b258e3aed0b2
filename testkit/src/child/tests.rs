use super::*;

/// A shell that sleeps until killed.
fn sleeper() -> Child {
    Launch::new("/bin/sh")
        .args(["-c", "while :; do sleep 1; done"])
        .spawn()
        .expect("spawn")
}

#[tokio::test]
async fn output_is_captured_and_the_exit_code_reported() {
    let mut child = Launch::new("/bin/sh")
        .args(["-c", "echo out; echo err >&2; exit 3"])
        .spawn()
        .expect("spawn");
    let status = child.wait(Duration::from_secs(10)).await.expect("exited");
    assert_eq!(status.code(), Some(3));
    assert_eq!(child.stdout_text(), "out\n");
    assert_eq!(child.stderr_text(), "err\n");
    assert!(!child.is_running());
}

#[tokio::test]
async fn a_signal_reaches_the_child_through_libc() {
    // The shell traps HUP and says so, then exits on TERM with the code it chose.
    let mut child = Launch::new("/bin/sh")
        .args([
            "-c",
            "trap 'echo got-hup' HUP; trap 'exit 7' TERM; echo ready; \
             while :; do sleep 0.05; done",
        ])
        .spawn()
        .expect("spawn");
    assert!(child
        .wait_line(Stream::Stdout, Duration::from_secs(10), |l| l == "ready")
        .await
        .is_some());
    child.signal(Signal::Hup).expect("hup");
    assert!(child
        .wait_line(Stream::Stdout, Duration::from_secs(10), |l| l == "got-hup")
        .await
        .is_some());
    assert!(child.is_running());
    assert_eq!(child.terminate(Duration::from_secs(10)).await, 7);
    assert!(child.signal(Signal::Term).is_err(), "an exited child");
}

#[tokio::test]
async fn sigkill_is_reported_as_the_cause_of_death() {
    use std::os::unix::process::ExitStatusExt;
    let mut child = sleeper();
    let status = child.kill().await;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
}

#[tokio::test]
async fn stderr_appends_to_a_log_file_across_runs_and_a_tap_sees_each_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("log");
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    for run in 0..2 {
        let tap = seen.clone();
        let mut child = Launch::new("/bin/sh")
            .args(["-c", &format!("echo line-{run} >&2")])
            .stderr_to(&log)
            .on_stderr_line(move |l| tap.lock().expect("tap").push(l.to_string()))
            .spawn()
            .expect("spawn");
        assert_eq!(child.stderr_path(), Some(log.as_path()));
        child.wait(Duration::from_secs(10)).await.expect("exited");
    }
    assert_eq!(
        std::fs::read_to_string(&log).expect("log"),
        "line-0\nline-1\n"
    );
    assert_eq!(*seen.lock().expect("seen"), ["line-0", "line-1"]);
}

#[tokio::test]
async fn a_wait_past_its_deadline_leaves_the_child_running_and_drop_kills_it() {
    let mut child = sleeper();
    assert!(child.wait(Duration::from_millis(50)).await.is_none());
    assert!(child.is_running());
    let pid = libc::pid_t::try_from(child.pid()).expect("pid");
    drop(child);
    // Gone (or a zombie about to be reaped by tokio): signal 0 probes without killing.
    let gone = crate::wait::wait_until(Duration::from_secs(10), || {
        // SAFETY: signal 0 only checks that the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0;
        !alive
            || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z"))
    })
    .await;
    assert!(gone);
}

#[tokio::test]
async fn output_runs_to_the_end_with_the_environment_given() {
    let (code, stdout, stderr) = Launch::new("/bin/sh")
        .args(["-c", "echo \"$GREETING\"; echo warn >&2; exit 2"])
        .env("GREETING", "hello")
        .output(Duration::from_secs(10))
        .await;
    assert_eq!(
        (code, stdout.as_str(), stderr.as_str()),
        (2, "hello\n", "warn\n")
    );
}

#[test]
fn memory_kib_reads_this_process_and_nothing_for_an_unknown_field() {
    let me = std::process::id();
    let rss = memory_kib(me, "VmRSS").expect("VmRSS of this process");
    let peak = memory_kib(me, "VmHWM").expect("VmHWM of this process");
    assert!(rss > 0 && peak >= rss, "rss {rss} KiB, peak {peak} KiB");
    // A prefix of a real field is not that field.
    assert_eq!(memory_kib(me, "VmRS"), None);
    assert_eq!(memory_kib(u32::MAX, "VmRSS"), None);
}
