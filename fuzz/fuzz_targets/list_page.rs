//! `ListPage::parse` on any bytes: it answers `Ok` or `Err`, never panics, and what it
//! answers keeps its promises.
#![no_main]

use inventory_monitor::model::{Absurdity, ListPage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(page) = ListPage::parse(data) else {
        return;
    };
    // A count that was absurd is unknown, never also a value.
    if page.absurd.iter().any(|a| a.field == "count") {
        assert_eq!(page.count, None);
    }
    for absurd in &page.absurd {
        assert_eq!(absurd.field, "count");
        assert!(matches!(
            absurd.problem,
            Absurdity::Negative | Absurdity::NotFinite
        ));
    }
    // An empty `next` means "no next page".
    assert_ne!(page.next.as_deref(), Some(""));
    // Parsing is a pure function of the bytes.
    assert_eq!(ListPage::parse(data).ok(), Some(page));
});
