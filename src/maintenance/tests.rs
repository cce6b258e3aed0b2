use std::collections::BTreeMap;

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use proptest::prelude::*;

use super::*;
use crate::config::Recurrence;

/// The window of a `[[alerting.maintenance]]` block with these extra lines.
fn window(lines: &str) -> Schedule {
    let text = format!(
        "[[alerting.maintenance]]\nname = \"w\"\nmatchers = ['organization=\"Legacy\"']\n{lines}"
    );
    let config = crate::config::parse(&text).expect("parses");
    match config.alerting.maintenance[0].schedule("alerting.maintenance[0]") {
        Ok(s) => s,
        Err(problems) => panic!("{lines}: {problems:?}"),
    }
}

fn recurrence(lines: &str) -> Recurrence {
    match window(lines).when {
        When::Recurring(r) => r,
        When::Once { .. } => panic!("one-off: {lines}"),
    }
}

fn at(text: &str) -> Timestamp {
    text.parse().expect("a timestamp")
}

/// Whether the recurrence is in force at the wall-clock time `local` of its zone (which must
/// exist and be unambiguous).
fn at_local(r: &Recurrence, local: &str) -> bool {
    let dt: jiff::civil::DateTime = local.parse().expect("a civil time");
    let zoned = r
        .location
        .to_ambiguous_zoned(dt)
        .unambiguous()
        .expect("one");
    contains(r, zoned.timestamp())
}

#[test]
fn times_include_the_start_and_exclude_the_end() {
    let r = recurrence(r#"times = [{ start = "02:00", end = "04:00" }]"#);
    assert!(!at_local(&r, "2027-01-05T01:59"));
    assert!(at_local(&r, "2027-01-05T02:00"));
    assert!(at_local(&r, "2027-01-05T03:59:59"));
    assert!(!at_local(&r, "2027-01-05T04:00"));
}

#[test]
fn times_may_end_at_midnight_and_any_range_may_match() {
    let r = recurrence(
        r#"times = [{ start = "22:00", end = "24:00" }, { start = "00:00", end = "01:30" }]"#,
    );
    assert!(at_local(&r, "2027-01-05T23:59:59"));
    assert!(at_local(&r, "2027-01-05T00:00"));
    assert!(at_local(&r, "2027-01-05T01:29"));
    assert!(!at_local(&r, "2027-01-05T01:30"));
    assert!(!at_local(&r, "2027-01-05T12:00"));
}

#[test]
fn weekdays_take_names_and_ranges() {
    let r = recurrence(r#"weekdays = ["monday:wednesday", "Saturday"]"#);
    // 2027-01-04 is a Monday.
    let days = [true, true, true, false, false, true, false];
    for (i, want) in days.iter().enumerate() {
        let local = format!("2027-01-{:02}T12:00", 4 + i);
        assert_eq!(at_local(&r, &local), *want, "{local}");
    }
}

#[test]
fn days_of_month_count_from_the_end_in_february_of_leap_and_other_years() {
    let last = recurrence(r#"days_of_month = [-1]"#);
    assert!(at_local(&last, "2028-02-29T12:00"));
    assert!(!at_local(&last, "2028-02-28T12:00"));
    assert!(at_local(&last, "2027-02-28T12:00"));
    assert!(at_local(&last, "2027-01-31T12:00"));
    let last_three = recurrence(r#"days_of_month = ["-3:-1"]"#);
    let leap: Vec<bool> = (25..=29)
        .map(|d| at_local(&last_three, &format!("2028-02-{d}T00:00")))
        .collect();
    assert_eq!(leap, [false, false, true, true, true]);
    let plain: Vec<bool> = (24..=28)
        .map(|d| at_local(&last_three, &format!("2027-02-{d}T00:00")))
        .collect();
    assert_eq!(plain, [false, false, true, true, true]);
    // Days the month does not have match nothing, and whole-month ranges are clamped to it.
    let late = recurrence(r#"days_of_month = ["29:31"]"#);
    assert!(!at_local(&late, "2027-02-28T12:00"));
    assert!(at_local(&late, "2028-02-29T12:00"));
    assert!(!at_local(&late, "2027-03-01T12:00"));
    let all = recurrence(r#"days_of_month = ["-31:-1"]"#);
    assert!(at_local(&all, "2027-02-01T00:00"));
    assert!(at_local(&all, "2027-02-28T00:00"));
    let mixed = recurrence(r#"days_of_month = ["25:-1"]"#);
    assert!(!at_local(&mixed, "2027-02-24T00:00"));
    assert!(at_local(&mixed, "2027-02-25T00:00"));
    assert!(at_local(&mixed, "2027-02-28T00:00"));
    // The 28th to the last day, as Alertmanager takes it.
    let month_end = recurrence(r#"days_of_month = ["28:-1"]"#);
    assert!(!at_local(&month_end, "2027-02-27T12:00"));
    assert!(at_local(&month_end, "2027-02-28T12:00"));
    assert!(at_local(&month_end, "2027-01-31T12:00"));
    assert!(!at_local(&month_end, "2027-03-01T12:00"));
}

#[test]
fn months_take_names_numbers_and_ranges_and_years_ranges() {
    let r = recurrence(r#"months = ["june:august", 12]"#);
    assert!(!at_local(&r, "2027-05-31T23:59"));
    assert!(at_local(&r, "2027-06-01T00:00"));
    assert!(at_local(&r, "2027-08-31T23:59"));
    assert!(!at_local(&r, "2027-09-01T00:00"));
    assert!(at_local(&r, "2027-12-24T00:00"));
    let y = recurrence(r#"years = ["2026:2027"]"#);
    assert!(!at_local(&y, "2025-12-31T23:59"));
    assert!(at_local(&y, "2026-01-01T00:00"));
    assert!(at_local(&y, "2027-12-31T23:59"));
    assert!(!at_local(&y, "2028-01-01T00:00"));
}

#[test]
fn every_field_given_must_match() {
    let r = recurrence(
        r#"weekdays = ["sunday"]
times = [{ start = "02:00", end = "04:00" }]
months = ["january"]"#,
    );
    // 2027-01-10 is a Sunday.
    assert!(at_local(&r, "2027-01-10T03:00"));
    assert!(!at_local(&r, "2027-01-09T03:00"));
    assert!(!at_local(&r, "2027-01-10T05:00"));
    assert!(!at_local(&r, "2027-02-07T03:00"));
}

#[test]
fn the_wall_clock_is_read_in_the_location() {
    let r = recurrence(
        r#"location = "Europe/Berlin"
times = [{ start = "02:00", end = "04:00" }]"#,
    );
    // Winter: Berlin is UTC+1.
    assert!(!contains(&r, at("2027-01-10T00:59:59Z")));
    assert!(contains(&r, at("2027-01-10T01:00:00Z")));
    assert!(!contains(&r, at("2027-01-10T03:00:00Z")));
    // Summer: UTC+2.
    assert!(contains(&r, at("2027-07-10T00:00:00Z")));
    assert!(!contains(&r, at("2027-07-10T02:00:00Z")));
}

#[test]
fn the_hour_skipped_in_spring_is_never_in_force() {
    // In Europe/Berlin the clocks go from 02:00 to 03:00 on 2027-03-28 (01:00 UTC).
    let r = recurrence(
        r#"location = "Europe/Berlin"
times = [{ start = "02:00", end = "03:00" }]"#,
    );
    let mut t = at("2027-03-27T23:00:00Z");
    while t < at("2027-03-28T04:00:00Z") {
        assert!(!contains(&r, t), "{t}");
        t += SignedDuration::from_mins(1);
    }
    // The day before and after, it is an hour like any other.
    assert!(contains(&r, at("2027-03-27T01:30:00Z")));
    assert!(contains(&r, at("2027-03-29T00:30:00Z")));
    // A window around the change is an hour shorter that night.
    let around = When::Recurring(recurrence(
        r#"location = "Europe/Berlin"
times = [{ start = "01:00", end = "04:00" }]"#,
    ));
    assert_eq!(
        occurrence(&around, at("2027-03-28T00:30:00Z")),
        (
            Some(at("2027-03-28T00:00:00Z")),
            Some(at("2027-03-28T02:00:00Z"))
        )
    );
}

#[test]
fn the_hour_repeated_in_autumn_is_in_force_both_times() {
    // In Europe/Berlin the clocks go from 03:00 back to 02:00 on 2027-10-31 (01:00 UTC).
    let day: jiff::civil::Date = "2027-10-31".parse().expect("date");
    assert_eq!(day.weekday(), Weekday::Sunday);
    let when = When::Recurring(recurrence(
        r#"location = "Europe/Berlin"
times = [{ start = "02:00", end = "03:00" }]"#,
    ));
    assert!(!in_force(&when, at("2027-10-30T23:59:00Z")));
    assert!(in_force(&when, at("2027-10-31T00:00:00Z"))); // 02:00 CEST
    assert!(in_force(&when, at("2027-10-31T01:30:00Z"))); // 02:30 CET
    assert!(!in_force(&when, at("2027-10-31T02:00:00Z"))); // 03:00 CET
    let both = (
        Some(at("2027-10-31T00:00:00Z")),
        Some(at("2027-10-31T02:00:00Z")),
    );
    assert_eq!(occurrence(&when, at("2027-10-31T00:10:00Z")), both);
    assert_eq!(occurrence(&when, at("2027-10-31T01:50:00Z")), both);
}

#[test]
fn a_night_across_midnight_is_one_occurrence() {
    let when = When::Recurring(recurrence(
        r#"location = "Europe/Berlin"
weekdays = ["saturday", "sunday"]
times = [{ start = "22:00", end = "24:00" }, { start = "00:00", end = "02:00" }]"#,
    ));
    let saturday: jiff::civil::Date = "2027-01-09".parse().expect("date");
    assert_eq!(saturday.weekday(), Weekday::Saturday);
    // Saturday 23:00 in Berlin (22:00 UTC): from Saturday 22:00 to Sunday 02:00.
    let (start, end) = occurrence(&when, at("2027-01-09T22:00:00Z"));
    assert_eq!(start, Some(at("2027-01-09T21:00:00Z")));
    assert_eq!(end, Some(at("2027-01-10T01:00:00Z")));
}

#[test]
fn a_window_in_force_beyond_the_scan_has_no_known_bounds() {
    let always = When::Recurring(recurrence(r#"years = ["2020:2030"]"#));
    assert_eq!(
        occurrence(&always, at("2027-06-01T00:00:00Z")),
        (None, None)
    );
}

#[test]
fn windows_mute_the_alerts_they_match_while_in_force() {
    let mut config = crate::config::Config::default();
    let text = r#"
[[alerting.maintenance]]
name = "legacy-sunday"
matchers = ['organization="Legacy"', 'alertname=~"Profile.*"']
weekdays = ["sunday"]

[[alerting.maintenance]]
name = "migration"
matchers = ['profile_name=~"legacy-.*"']
starts_at = "2027-01-09T22:00:00Z"
ends_at = "2027-01-10T02:00:00+00:00"
"#;
    config.alerting = crate::config::parse(text).expect("parses").alerting;
    let windows = Windows::from_config(&config);
    assert_eq!(windows.schedules().len(), 2);
    let mut labels: BTreeMap<&'static str, String> = BTreeMap::new();
    labels.insert("alertname", "ProfileDown".into());
    labels.insert("organization", "Legacy".into());
    labels.insert("profile_name", "legacy-7".into());
    let sunday = SystemTime::from(at("2027-01-10T01:00:00Z"));
    let names: Vec<String> = windows
        .suppressions(&labels, sunday)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        names,
        ["maintenance legacy-sunday", "maintenance migration"]
    );
    let monday = SystemTime::from(at("2027-01-11T01:00:00Z"));
    assert!(windows.suppressions(&labels, monday).is_empty());
    labels.insert("organization", "Main".into());
    let names: Vec<String> = windows
        .suppressions(&labels, sunday)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(names, ["maintenance migration"]);

    let listed = windows.in_force(sunday);
    assert_eq!(
        windows.in_force(sunday),
        listed,
        "asked again (the cached answer)"
    );
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed[0].matchers,
        r#"{organization="Legacy", alertname=~"Profile.*"}"#
    );
    assert_eq!(
        listed[0].starts_at,
        Some(SystemTime::from(at("2027-01-10T00:00:00Z")))
    );
    assert_eq!(
        listed[0].ends_at,
        Some(SystemTime::from(at("2027-01-11T00:00:00Z")))
    );
    assert_eq!(
        listed[1].starts_at,
        Some(SystemTime::from(at("2027-01-09T22:00:00Z")))
    );
    assert_eq!(
        listed[1].ends_at,
        Some(SystemTime::from(at("2027-01-10T02:00:00Z")))
    );
    assert!(windows.in_force(monday).is_empty());
    assert_eq!(
        windows.in_force(sunday),
        listed,
        "and again after another instant"
    );
}

// ---- property tests: the evaluator against a brute-force reference ----

/// Every value a field allows, the ranges spelled out (negative days resolved in the month).
fn allowed<T: Copy + Into<i32>>(ranges: &Option<Vec<(T, T)>>) -> Option<Vec<i32>> {
    ranges.as_ref().map(|list| {
        list.iter()
            .flat_map(|&(b, e)| b.into()..=e.into())
            .collect()
    })
}

/// The reference: the wall clock from a [`jiff::Zoned`], each field's allowed values listed.
fn reference(r: &Recurrence, t: Timestamp) -> bool {
    let z = t.to_zoned(r.location.clone());
    let minute = i32::from(z.hour()) * 60 + i32::from(z.minute());
    let ok = |field: Option<Vec<i32>>, v: i32| field.is_none_or(|vs| vs.contains(&v));
    let times = r.times.as_ref().map(|list| {
        list.iter()
            .flat_map(|&(s, e)| i32::from(s)..i32::from(e))
            .collect::<Vec<_>>()
    });
    // The month's length: the day before the first of the next month.
    let first = z.date().first_of_month();
    let length = i32::from(
        first
            .checked_add(jiff::Span::new().months(1))
            .and_then(|d| d.yesterday())
            .expect("a date")
            .day(),
    );
    let days = r.days_of_month.as_ref().map(|list| {
        let mut days = Vec::new();
        for &(b, e) in list {
            let resolve = |d: i8| {
                let d = i32::from(d);
                if d < 0 {
                    length + 1 + d
                } else {
                    d
                }
            };
            let (b, e) = (resolve(b), resolve(e));
            days.extend((b.max(1)..=e.min(length)).filter(|d| *d <= length));
        }
        days
    });
    ok(times, minute)
        && ok(days, i32::from(z.day()))
        && ok(allowed(&r.months), i32::from(z.month()))
        && ok(
            allowed(&r.weekdays),
            i32::from(z.weekday().to_sunday_zero_offset()),
        )
        && ok(allowed(&r.years), i32::from(z.year()))
}

fn range<T: Ord + Copy + std::fmt::Debug>(
    values: impl Strategy<Value = T> + Clone,
) -> impl Strategy<Value = (T, T)> {
    (values.clone(), values).prop_map(|(a, b)| if a <= b { (a, b) } else { (b, a) })
}

fn field<T: std::fmt::Debug>(
    entry: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<Vec<T>>> {
    proptest::option::of(proptest::collection::vec(entry, 1..4))
}

fn day_range() -> impl Strategy<Value = (i8, i8)> {
    prop_oneof![
        range(1i8..=31),
        range(-31i8..=-1),
        (1i8..=31, -31i8..=-1).prop_filter("refused by check", |(b, e)| *b <= 30 + *e),
    ]
}

fn recurrences() -> impl Strategy<Value = Recurrence> {
    let zones = prop_oneof![
        Just("UTC"),
        Just("Europe/Berlin"),
        Just("America/New_York"),
        Just("Australia/Lord_Howe"),
        Just("Asia/Kolkata"),
    ];
    let times = (0u16..1440, 1u16..=1440).prop_filter_map("empty", |(s, len)| {
        let e = (s + len).min(1440);
        (s < e).then_some((s, e))
    });
    (
        zones,
        field(times),
        field(range(0i8..=6)),
        field(day_range()),
        field(range(1i8..=12)),
        field(range(2026i16..=2029)),
    )
        .prop_map(
            |(zone, times, weekdays, days_of_month, months, years)| Recurrence {
                location: TimeZone::get(zone).expect("bundled zone"),
                times,
                weekdays,
                days_of_month,
                months,
                years,
            },
        )
}

fn instants() -> impl Strategy<Value = Timestamp> {
    // 2026-01-01 to 2030-01-01, to the second.
    (1_767_225_600i64..1_893_456_000).prop_map(|s| Timestamp::from_second(s).expect("in range"))
}

/// Instants at the ends of months (where negative and late days of the month differ from
/// month to month) as often as anywhere else.
fn judged_instants() -> impl Strategy<Value = Timestamp> {
    let month_ends =
        (2026i16..=2029, 1i8..=12, 0i8..4, 0i64..86_400).prop_map(|(year, month, back, second)| {
            let first = jiff::civil::date(year, month, 1);
            let day = first.last_of_month().day() - back;
            let midnight = jiff::civil::date(year, month, day)
                .to_zoned(TimeZone::UTC)
                .expect("a date in range");
            midnight.timestamp() + SignedDuration::from_secs(second)
        });
    prop_oneof![instants(), month_ends]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]

    #[test]
    fn the_evaluator_agrees_with_the_reference(r in recurrences(), t in judged_instants()) {
        prop_assert_eq!(contains(&r, t), reference(&r, t));
    }

    #[test]
    fn days_of_month_agree_with_the_reference(
        days in proptest::collection::vec(day_range(), 1..3), t in judged_instants(),
    ) {
        let r = Recurrence {
            location: TimeZone::UTC,
            times: None,
            weekdays: None,
            days_of_month: Some(days),
            months: None,
            years: None,
        };
        prop_assert_eq!(contains(&r, t), reference(&r, t));
    }

    #[test]
    fn a_one_off_window_is_in_force_from_its_start_to_just_before_its_end(
        start in instants(), length in 1i64..10_000_000, t in instants(),
    ) {
        let ends_at = start + SignedDuration::from_secs(length);
        let when = When::Once { starts_at: start, ends_at };
        prop_assert_eq!(in_force(&when, t), start <= t && t < ends_at);
        prop_assert_eq!(occurrence(&when, t), (Some(start), Some(ends_at)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn an_occurrence_is_the_unbroken_stretch_around_now(
        r in recurrences(), t in judged_instants(),
    ) {
        let when = When::Recurring(r.clone());
        prop_assume!(in_force(&when, t));
        let minute = SignedDuration::from_mins(1);
        let (start, end) = occurrence(&when, t);
        if let Some(start) = start {
            prop_assert!(start <= t);
            prop_assert!(contains(&r, start));
            prop_assert!(!contains(&r, start - minute));
        }
        if let Some(end) = end {
            prop_assert!(t < end);
            prop_assert!(contains(&r, end - minute));
            prop_assert!(!contains(&r, end));
        }
        if let (Some(start), Some(end)) = (start, end) {
            // Every minute between is in force (checked on a sample of at most ~500).
            let step = SignedDuration::from_secs((end.duration_since(start).as_secs() / 500).max(60));
            let mut m = start;
            while m < end {
                prop_assert!(contains(&r, m), "{} not in force in {}..{}", m, start, end);
                m += step;
            }
        }
    }
}
