//! Programs from outside the project that some tests run (promtool, prometheus,
//! alertmanager, amtool, systemd-analyze): found on `PATH`, or the test is skipped with a
//! printed reason, except under `CI=true`, where a missing program fails the test (CI
//! installs them, so a skip there would hide a test that never ran).

use std::path::PathBuf;

/// True when running under CI (`CI=true`).
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The Debian package that ships `program`, for the reason printed when it is missing.
pub fn package_of(program: &str) -> &'static str {
    match program {
        "amtool" | "alertmanager" | "prometheus-alertmanager" => "prometheus-alertmanager",
        "systemd-analyze" => "systemd",
        "chromium" | "chromium-browser" => "chromium",
        _ => "prometheus",
    }
}

/// The first of `names` found in one of `dirs` (as a regular file).
fn find_in(dirs: &[PathBuf], names: &[&str]) -> Option<PathBuf> {
    names.iter().find_map(|name| {
        dirs.iter()
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// The directories of `PATH`.
fn path_dirs() -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect())
        .unwrap_or_default()
}

/// The first of `names` on `PATH` (several names for one program: Debian calls
/// Alertmanager `prometheus-alertmanager`). When none is there: `None` after printing why
/// the calling test is skipped, or a panic with that reason under `CI=true`.
pub fn require_any(names: &[&str]) -> Option<PathBuf> {
    decide(find_in(&path_dirs(), names), names, under_ci())
}

/// The program `name` on `PATH`; see [`require_any`].
pub fn require_tool(name: &str) -> Option<PathBuf> {
    require_any(&[name])
}

/// What to do about a lookup's result: pass it on, or say why there is none (and fail
/// under CI).
fn decide(found: Option<PathBuf>, names: &[&str], ci: bool) -> Option<PathBuf> {
    if found.is_some() {
        return found;
    }
    let name = names.first().copied().unwrap_or("?");
    let why = format!(
        "`{}` is not on PATH (Debian: apt-get install {})",
        names.join("` or `"),
        package_of(name)
    );
    assert!(!ci, "{why}; CI=true requires it");
    // Straight to stderr: the test harness captures `eprintln!` of passing tests, and a
    // skip should be seen.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_found_program_is_passed_on_under_ci_or_not() {
        let p = PathBuf::from("/bin/sh");
        assert_eq!(decide(Some(p.clone()), &["sh"], true), Some(p.clone()));
        assert_eq!(decide(Some(p.clone()), &["sh"], false), Some(p));
    }

    #[test]
    fn a_missing_program_is_skipped_locally() {
        assert_eq!(decide(None, &["no-such-program-4711"], false), None);
    }

    #[test]
    #[should_panic(expected = "CI=true requires it")]
    fn a_missing_program_fails_under_ci() {
        decide(None, &["no-such-program-4711"], true);
    }

    #[test]
    fn the_first_name_present_is_found() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("second"), "").expect("write");
        let dirs = vec![dir.path().to_path_buf()];
        assert_eq!(
            find_in(&dirs, &["first", "second"]),
            Some(dir.path().join("second"))
        );
        assert_eq!(find_in(&dirs, &["first"]), None);
    }

    #[test]
    fn the_reason_names_the_package_to_install() {
        assert_eq!(package_of("amtool"), "prometheus-alertmanager");
        assert_eq!(package_of("systemd-analyze"), "systemd");
        assert_eq!(package_of("promtool"), "prometheus");
    }
}
