//! Property tests for request parsing: arbitrary bodies never panic, and
//! generated messages are accepted or refused with a reason, never both.

use cfdev_collector::ingest::{parse_batch, parse_track, Rejection};
use proptest::prelude::*;
use serde_json::{json, Value};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[ -~]{0,20}".prop_map(Value::String),
        Just(json!("2026-11-25T16:02:03.123+01:00")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("type".to_string()),
                    Just("event".to_string()),
                    Just("messageId".to_string()),
                    Just("anonymousId".to_string()),
                    Just("userId".to_string()),
                    Just("timestamp".to_string()),
                    Just("properties".to_string()),
                    Just("context".to_string()),
                    "[a-z]{1,6}"
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse_batch(&body);
        let _ = parse_track(&body);
    }

    #[test]
    fn arbitrary_json_is_accepted_or_refused_with_a_reason(items in proptest::collection::vec(json_value(), 0..6)) {
        let body = json!({ "batch": items }).to_string();
        match parse_batch(body.as_bytes()) {
            Ok(parsed) => {
                for row in parsed.rows {
                    prop_assert!(!row.message_id.is_empty());
                    prop_assert!(row.anonymous_id.is_some() || row.user_id.is_some());
                    prop_assert!(row.timestamp.ends_with('Z'));
                }
            }
            Err(Rejection::Malformed(why)) | Err(Rejection::TooLarge(why)) => prop_assert!(!why.is_empty()),
        }
    }
}
