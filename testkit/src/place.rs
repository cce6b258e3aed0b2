//! Where things are: the repository, and a loopback port for a program we start.

use std::path::{Path, PathBuf};

/// The repository root (the test kit lives in `<root>/testkit`).
pub fn repo() -> &'static Path {
    let kit = Path::new(env!("CARGO_MANIFEST_DIR"));
    kit.parent().unwrap_or(kit)
}

/// A path under the repository root.
pub fn repo_path(relative: &str) -> PathBuf {
    repo().join(relative)
}

/// A loopback port that was free a moment ago. Only for a program we start that needs its
/// port on its command line or in its config: whatever runs in-process binds
/// `127.0.0.1:0` itself, which cannot race.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("no free port on loopback: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("a bound listener has no address: {e}"))
        .port()
}

/// Every file under `dir` (recursively) whose name ends with one of `suffixes`, sorted.
pub fn files_under(dir: &Path, suffixes: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
                .path();
            if path.is_dir() {
                stack.push(path);
            } else if suffixes.iter().any(|s| path.to_string_lossy().ends_with(s)) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repo_root_holds_the_main_crate_and_the_kit() {
        assert!(repo().join("Cargo.toml").is_file());
        assert!(repo_path("testkit/Cargo.toml").is_file());
    }

    #[test]
    fn a_free_port_can_be_bound() {
        let port = free_port();
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
    }

    #[test]
    fn files_under_finds_by_suffix_recursively_and_sorted() {
        let found = files_under(&repo_path("testkit"), &[".toml"]);
        assert_eq!(found, vec![repo_path("testkit/Cargo.toml")]);
    }
}
