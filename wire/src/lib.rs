//! The wire contract between the wrapper (`cfdev-shim`) and the collector
//! (`cfdev-collector`), in one place so the two cannot drift apart (SPEC §6):
//! the shape of a Segment `track` message and of a batch, Segment's size
//! limits, the one timestamp format, and the names of the events the
//! wrapper sends. The wrapper builds messages with it; the collector
//! validates against it (and also accepts what other Segment clients send).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

/// Where batches are POSTed, below an endpoint's base URL.
pub const BATCH_PATH: &str = "/v1/batch";
/// Where single messages are POSTed (accepted by the collector).
pub const TRACK_PATH: &str = "/v1/track";

/// Segment's limit for one request body.
pub const MAX_BATCH_BYTES: usize = 500 * 1024;
/// Segment's limit for one message within it.
pub const MAX_EVENT_BYTES: usize = 32 * 1024;

/// `context.app.name` of every message the wrapper sends.
pub const APP_NAME: &str = "cfdev-shim";

/// Every event name the wrapper sends (SPEC §4), in catalogue order.
pub const EVENT_NAMES: &[&str] = &[
    "Start Begin",
    "Start End",
    "Error",
    "Stop",
    "Uninstall",
    "App Created",
    "Route Created",
    "Deployed Service",
    "Service Created",
    "User Provided Service Created",
    "App Bound To Service",
    "App Restage",
    "Org Created",
    "Space Created",
    "User Created",
    "Bosh",
    TELEMETRY_OFF,
];

/// The event sent, alone, when the user turns telemetry off.
pub const TELEMETRY_OFF: &str = "Telemetry Off";

/// The one timestamp format on the wire and in our files: RFC 3339, UTC,
/// millisecond precision, `Z` suffix (`2026-11-25T16:02:03.123Z`).
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `timestamp` of a `SystemTime`.
pub fn timestamp_of(t: std::time::SystemTime) -> String {
    timestamp(DateTime::<Utc>::from(t))
}

/// `timestamp` of now.
pub fn now_timestamp() -> String {
    timestamp(Utc::now())
}

/// Reads any RFC 3339 timestamp (any offset, any fraction), as Segment does.
/// An offset can move an instant out of years 0000-9999 in UTC, which
/// `timestamp` cannot write back ("-0001-…", "+10000-…"): refused (found by
/// fuzz/ingest).
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    use chrono::Datelike;
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
        .filter(|t| (0..=9999).contains(&t.year()))
}

/// What identifies the sending program in every message's `context`.
#[derive(Debug, Clone, Copy)]
pub struct Sender<'a> {
    pub os: &'a str,
    pub arch: &'a str,
    pub build: &'a str,
}

/// A `track` message (SPEC §6) with already-sanitised `properties`.
pub fn track(
    event: &str,
    message_id: &str,
    anonymous_id: &str,
    timestamp: &str,
    properties: Map<String, Value>,
    sender: Sender,
) -> Value {
    json!({
        "type": "track",
        "event": event,
        "messageId": message_id,
        "anonymousId": anonymous_id,
        "timestamp": timestamp,
        "properties": properties,
        "context": {
            "os": { "name": sender.os, "arch": sender.arch },
            "app": { "name": APP_NAME, "build": sender.build },
        },
    })
}

/// A batch request body around messages already serialised (sent verbatim,
/// so the bytes sent are the bytes `telemetry show` printed).
pub fn batch_body<'a>(messages: impl IntoIterator<Item = &'a str>, sent_at: &str) -> String {
    let mut body = String::from("{\"batch\":[");
    for (i, message) in messages.into_iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(message);
    }
    body.push_str("],\"sentAt\":");
    body.push_str(&Value::from(sent_at).to_string());
    body.push('}');
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_timestamp_format() {
        let t = parse_timestamp("2026-11-25T17:02:03.123456+01:00").unwrap();
        assert_eq!(timestamp(t), "2026-11-25T16:02:03.123Z");
        let t = parse_timestamp("2026-11-25T16:02:03Z").unwrap();
        assert_eq!(timestamp(t), "2026-11-25T16:02:03.000Z");
        assert!(parse_timestamp("2026-11-25 16:02").is_none());
        assert!(parse_timestamp("0000-01-01T00:00:00+01:00").is_none());
        assert!(parse_timestamp("9999-12-31T23:59:59-01:00").is_none());
        let now = now_timestamp();
        assert_eq!(now.len(), "2026-11-25T16:02:03.123Z".len());
        assert_eq!(parse_timestamp(&now).map(timestamp), Some(now));
    }

    #[test]
    fn messages_and_batches_have_the_segment_shape() {
        let mut props = Map::new();
        props.insert("command".into(), "push".into());
        let sender = Sender {
            os: "linux",
            arch: "x86_64",
            build: "0.1.0+abc",
        };
        let m = track(
            "App Created",
            "m-1",
            "a-1",
            "2026-11-25T16:02:03.123Z",
            props,
            sender,
        );
        assert_eq!(
            m.to_string(),
            r#"{"anonymousId":"a-1","context":{"app":{"build":"0.1.0+abc","name":"cfdev-shim"},"os":{"arch":"x86_64","name":"linux"}},"event":"App Created","messageId":"m-1","properties":{"command":"push"},"timestamp":"2026-11-25T16:02:03.123Z","type":"track"}"#
        );
        let body = batch_body(["{\"a\":1}", "{\"b\":2}"], "2026-11-25T16:02:04.000Z");
        assert_eq!(
            body,
            r#"{"batch":[{"a":1},{"b":2}],"sentAt":"2026-11-25T16:02:04.000Z"}"#
        );
        let parsed: Value = serde_json::from_str(&batch_body([], "t")).unwrap();
        assert_eq!(parsed["batch"], json!([]));
    }
}
