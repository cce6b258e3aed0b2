//! How often a profile says it syncs: `sync_frequency` words (`hourly`, `every_15_minutes`)
//! turned into a period, for `rules.sync_stale.after = "auto"`.

use std::time::Duration;

/// The period of a `sync_frequency`: `hourly` (1h), `daily` (24h), `weekly` (7d),
/// `monthly` (30d), `every_N_minutes`, `every_N_hours`, `every_N_days`, `every_N_weeks`
/// (singular units and `every_minute`/`every_hour`/`every_day`/`every_week` too; any ASCII
/// case). `None` for anything else, including `manual`, `realtime` and `every_0_...`.
pub fn sync_period(sync_frequency: &str) -> Option<Duration> {
    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    const WEEK: u64 = 7 * DAY;
    let s = sync_frequency.trim();
    let named = [
        ("hourly", HOUR),
        ("daily", DAY),
        ("weekly", WEEK),
        ("monthly", 30 * DAY),
    ];
    if let Some((_, secs)) = named.iter().find(|(n, _)| s.eq_ignore_ascii_case(n)) {
        return Some(Duration::from_secs(*secs));
    }
    let rest = strip_prefix_ignore_case(s, "every_")?;
    let (count, unit) = match rest.split_once('_') {
        Some((n, unit)) => (n.parse::<u64>().ok()?, unit),
        None => (1, rest),
    };
    let units = [
        ("minute", MINUTE),
        ("minutes", MINUTE),
        ("hour", HOUR),
        ("hours", HOUR),
        ("day", DAY),
        ("days", DAY),
        ("week", WEEK),
        ("weeks", WEEK),
    ];
    let (_, unit_secs) = units.iter().find(|(u, _)| unit.eq_ignore_ascii_case(u))?;
    if count == 0 {
        return None;
    }
    count.checked_mul(*unit_secs).map(Duration::from_secs)
}

/// `s` without `prefix`, compared ignoring ASCII case.
fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);
    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn sync_period_understands_the_usual_frequencies() {
        let cases: [(&str, Option<Duration>); 16] = [
            ("hourly", Some(HOUR)),
            ("daily", Some(24 * HOUR)),
            ("weekly", Some(7 * 24 * HOUR)),
            ("monthly", Some(30 * 24 * HOUR)),
            ("every_15_minutes", Some(15 * MIN)),
            ("every_1_minute", Some(MIN)),
            ("every_6_hours", Some(6 * HOUR)),
            ("every_2_days", Some(48 * HOUR)),
            ("every_hour", Some(HOUR)),
            ("Every_30_Minutes", Some(30 * MIN)),
            ("every_0_minutes", None),
            ("every_x_minutes", None),
            ("every_15_fortnights", None),
            ("every_99999999999999999999_days", None),
            ("manual", None),
            ("", None),
        ];
        for (text, expected) in cases {
            assert_eq!(sync_period(text), expected, "{text:?}");
        }
        assert_eq!(sync_period("every_18446744073709551615_weeks"), None);
    }
}
