//! `Profile::parse_detail` on any bytes: `Ok` or `Err`, never a panic; a parsed profile
//! holds no absurd value, and screening it against a clock keeps that promise.
#![no_main]

use std::time::{Duration, SystemTime};

use inventory_monitor::model::{Profile, EARLIEST_PLAUSIBLE_TIMESTAMP, FUTURE_TOLERANCE};
use libfuzzer_sys::fuzz_target;

fn plausible(t: Option<f64>) -> bool {
    t.is_none_or(|t| t.is_finite() && t >= EARLIEST_PLAUSIBLE_TIMESTAMP)
}

fuzz_target!(|data: &[u8]| {
    let Ok(mut profile) = Profile::parse_detail(data) else {
        return;
    };
    assert!(plausible(profile.last_sync), "{:?}", profile.last_sync);
    assert!(plausible(profile.last_tested), "{:?}", profile.last_tested);
    for absurd in &profile.absurd {
        let value_is_unknown = match absurd.field {
            "last_sync" => profile.last_sync.is_none(),
            "last_tested" => profile.last_tested.is_none(),
            "sync_record_count" => profile.sync_record_count.is_none(),
            "health_status.error_count_24h" => profile.error_count_24h.is_none(),
            other => panic!("absurd value in an unexpected field {other}"),
        };
        assert!(value_is_unknown, "{absurd}");
    }
    assert_eq!(Profile::parse_detail(data).ok().as_ref(), Some(&profile));

    // 2026-01-01: anything after 2026-01-02 is dropped, the rest is kept.
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let before = profile.clone();
    profile.reject_future_timestamps(now);
    let limit = 1_767_225_600.0 + FUTURE_TOLERANCE.as_secs_f64();
    for (was, is) in [
        (before.last_sync, profile.last_sync),
        (before.last_tested, profile.last_tested),
    ] {
        match was {
            Some(t) if t > limit => assert_eq!(is, None),
            other => assert_eq!(is, other),
        }
    }
    assert!(profile.absurd.len() >= before.absurd.len());
});
