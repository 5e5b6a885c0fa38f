//! Segment `track` messages, the one format used in the spool and on the wire.

use serde_json::{json, Map, Value};

pub const APP_NAME: &str = "cfdev-shim";
pub const BUILD: &str = concat!(env!("CARGO_PKG_VERSION"), "+", env!("CFDEV_SHIM_GIT_SHA"));

/// A `track` message for `event` with already-sanitised `properties`.
pub fn track(event: &str, properties: Map<String, Value>, anonymous_id: &str) -> Value {
    json!({
        "type": "track",
        "event": event,
        "messageId": uuid_v4(),
        "anonymousId": anonymous_id,
        "timestamp": now_timestamp(),
        "properties": properties,
        "context": {
            "os": { "name": std::env::consts::OS, "arch": std::env::consts::ARCH },
            "app": { "name": APP_NAME, "build": BUILD },
        },
    })
}

/// UTC, millisecond precision, `Z` suffix.
pub fn now_timestamp() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

pub fn uuid_v4() -> String {
    let mut b = crate::identity::random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = crate::identity::hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
