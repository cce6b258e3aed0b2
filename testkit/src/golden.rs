//! Golden files: `UPDATE_GOLDEN=1` rewrites them, except under CI, where a rewrite would
//! make every comparison pass and hide the change it was meant to show.

/// True when the golden files are to be rewritten (`UPDATE_GOLDEN=1`); panics with the
/// reason when that is asked for while `CI` is set.
pub fn update_golden() -> bool {
    decide(
        std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1"),
        std::env::var_os("CI").is_some_and(|v| !v.is_empty()),
    )
}

/// The decision, apart from the environment.
fn decide(update: bool, ci: bool) -> bool {
    assert!(
        !(update && ci),
        "UPDATE_GOLDEN=1 is refused when CI is set: golden files are rewritten on a \
         developer's machine and the diff reviewed, never in CI"
    );
    update
}

#[cfg(test)]
mod tests {
    use super::decide;

    #[test]
    fn an_update_is_done_only_when_asked_for() {
        assert!(decide(true, false));
        assert!(!decide(false, false));
        assert!(!decide(false, true));
    }

    #[test]
    #[should_panic(expected = "UPDATE_GOLDEN=1 is refused when CI is set")]
    fn an_update_under_ci_is_refused() {
        decide(true, true);
    }
}
