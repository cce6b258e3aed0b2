//! `config::parse` and `Config::validate_with` (with an empty environment) on any text:
//! problems are values, never panics; and a configuration that parses and serialises
//! reads back the same.
#![no_main]

use inventory_monitor::config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The file is trusted and validation reads the files it names: keep the fuzzer away
    // from devices and kernel files (`/dev/zero` as a token file would read forever).
    if ["/dev", "/proc", "/sys"].iter().any(|p| text.contains(p)) {
        return;
    }
    let config = match config::parse(text) {
        Ok(config) => config,
        Err(e) => {
            assert_eq!(e.problems.len(), 1, "parse reports its first problem");
            return;
        }
    };
    for problem in config.validate_with(&|_| None) {
        assert!(!problem.message.is_empty(), "{problem:?}");
    }
    // What we write, we read back the same.
    if let Ok(written) = toml::to_string(&config) {
        let again = config::parse(&written)
            .unwrap_or_else(|e| panic!("{e}\n--- written:\n{written}\n--- from:\n{text}"));
        let rewritten = toml::to_string(&again).unwrap_or_default();
        assert_eq!(written, rewritten);
    }
});
