//! The collector's body parser (`/v1/batch` and `/v1/track` bodies): never
//! panics; what it accepts is within Segment's limits and normalised (the
//! timestamp reparses to itself, properties are JSON).
#![no_main]

use cfdev_collector::ingest::{parse_batch, parse_time, parse_track, MAX_BATCH_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for parsed in [parse_batch(data), parse_track(data)].into_iter().flatten() {
        assert!(data.len() <= MAX_BATCH_BYTES);
        for row in &parsed.rows {
            assert!(!row.message_id.is_empty());
            let again = parse_time(&row.timestamp).expect("normalised timestamp parses");
            assert_eq!(again, (row.timestamp.clone(), row.timestamp_ms));
            serde_json::from_str::<serde_json::Value>(&row.properties)
                .expect("properties are JSON");
            if let Some(sent_at) = &row.sent_at {
                assert!(parse_time(sent_at).is_some_and(|(t, _)| &t == sent_at));
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some((normal, ms)) = parse_time(text) {
            assert_eq!(parse_time(&normal), Some((normal.clone(), ms)));
        }
    }
});
