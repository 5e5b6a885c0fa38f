//! Validation of Segment HTTP API messages. Accepts what Segment accepts from
//! its client libraries (any RFC 3339 timestamp, unknown fields, `userId`
//! present/absent/null with an `anonymousId`), rejects the rest with a
//! precise reason. Only this module decides what a valid message is.

use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Segment's own limits, from the wire contract shared with the wrapper.
pub use cfdev_wire::{MAX_BATCH_BYTES, MAX_EVENT_BYTES};

/// One message ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub message_id: String,
    pub kind: String,
    pub event: Option<String>,
    pub anonymous_id: Option<String>,
    pub user_id: Option<String>,
    /// Normalised to UTC, millisecond precision, `Z`.
    pub timestamp: String,
    pub timestamp_ms: i64,
    pub os_name: Option<String>,
    pub os_arch: Option<String>,
    pub app_name: Option<String>,
    pub app_build: Option<String>,
    pub command: Option<String>,
    pub properties: String,
    pub sent_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// 400 with a reason.
    Malformed(String),
    /// 413 with a reason.
    TooLarge(String),
}

/// A parsed request body: the rows and any `writeKey` it carried.
#[derive(Debug)]
pub struct Parsed {
    pub rows: Vec<Row>,
    pub write_key: Option<String>,
}

fn malformed(msg: impl Into<String>) -> Rejection {
    Rejection::Malformed(msg.into())
}

fn too_large(body: &[u8]) -> Result<(), Rejection> {
    if body.len() > MAX_BATCH_BYTES {
        return Err(Rejection::TooLarge(format!(
            "body is {} bytes; the limit is {MAX_BATCH_BYTES}",
            body.len()
        )));
    }
    Ok(())
}

/// The top level is read with raw values so each message is parsed once,
/// from its own bytes, and its size is the size it had on the wire.
fn parse_top(body: &[u8]) -> Result<HashMap<String, &RawValue>, Rejection> {
    too_large(body)?;
    let text =
        std::str::from_utf8(body).map_err(|e| malformed(format!("body is not valid JSON: {e}")))?;
    match serde_json::from_str::<HashMap<String, &RawValue>>(text) {
        Ok(map) => Ok(map),
        Err(e) if e.is_data() => Err(malformed("body must be a JSON object")),
        Err(e) => Err(malformed(format!("body is not valid JSON: {e}"))),
    }
}

fn write_key_of(map: &HashMap<String, &RawValue>) -> Option<String> {
    map.get("writeKey")
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
}

fn value_of(raw: Option<&&RawValue>) -> Option<Value> {
    raw.and_then(|r| serde_json::from_str(r.get()).ok())
}

/// `POST /v1/batch`: `{"batch":[…], "sentAt": …, "context": …}`.
pub fn parse_batch(body: &[u8]) -> Result<Parsed, Rejection> {
    let top = parse_top(body)?;
    let batch: Vec<&RawValue> = match top.get("batch") {
        Some(raw) => {
            serde_json::from_str(raw.get()).map_err(|_| malformed("batch must be an array"))?
        }
        None => return Err(malformed("missing batch")),
    };
    let sent_at = optional_time(value_of(top.get("sentAt")).as_ref(), "sentAt")?;
    // Parsed once per batch and only borrowed by each message.
    let shared_context = value_of(top.get("context")).filter(Value::is_object);
    let mut rows = Vec::with_capacity(batch.len());
    for (i, item) in batch.iter().enumerate() {
        check_size(item, || format!("batch[{i}]"))?;
        let row = message(item, None, shared_context.as_ref(), sent_at.clone())
            .map_err(|why| malformed(format!("batch[{i}]: {why}")))?;
        rows.push(row);
    }
    Ok(Parsed {
        rows,
        write_key: write_key_of(&top),
    })
}

/// `POST /v1/track`: one message, type implied.
pub fn parse_track(body: &[u8]) -> Result<Parsed, Rejection> {
    let top = parse_top(body)?;
    let raw: &RawValue = serde_json::from_slice(body)
        .map_err(|e| malformed(format!("body is not valid JSON: {e}")))?;
    check_size(raw, || "message".to_string())?;
    let sent_at = optional_time(value_of(top.get("sentAt")).as_ref(), "sentAt")?;
    let row = message(raw, Some("track"), None, sent_at).map_err(malformed)?;
    Ok(Parsed {
        rows: vec![row],
        write_key: write_key_of(&top),
    })
}

/// `where_` names the message in the reason; built only when refusing.
fn check_size(item: &RawValue, where_: impl FnOnce() -> String) -> Result<(), Rejection> {
    let len = item.get().len();
    if len > MAX_EVENT_BYTES {
        return Err(Rejection::TooLarge(format!(
            "{} is {len} bytes; the limit per event is {MAX_EVENT_BYTES}",
            where_()
        )));
    }
    Ok(())
}

/// Parses an RFC 3339 timestamp into (the wire contract's format, unix ms).
pub fn parse_time(text: &str) -> Option<(String, i64)> {
    let utc = cfdev_wire::parse_timestamp(text)?;
    Some((cfdev_wire::timestamp(utc), utc.timestamp_millis()))
}

fn optional_time(v: Option<&Value>, name: &str) -> Result<Option<String>, Rejection> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_time(s)
            .map(|(t, _)| Some(t))
            .ok_or_else(|| malformed(format!("{name} '{s}' is not an RFC 3339 timestamp"))),
        Some(_) => Err(malformed(format!("{name} must be a string"))),
    }
}

/// An ID may be a string or a number (some libraries send numeric userIds).
fn id_field(msg: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match msg.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(format!("{name} must be a string")),
    }
}

fn text_at<'a>(v: Option<&'a Value>, path: &[&str]) -> Option<&'a str> {
    let mut cur = v?;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_str()
}

fn message(
    item: &RawValue,
    implied_type: Option<&str>,
    shared_context: Option<&Value>,
    sent_at: Option<String>,
) -> Result<Row, String> {
    let mut msg: Map<String, Value> =
        serde_json::from_str(item.get()).map_err(|_| "must be a JSON object")?;
    let kind = match (msg.get("type"), implied_type) {
        (Some(Value::String(t)), _) => t.clone(),
        (None | Some(Value::Null), Some(t)) => t.to_string(),
        (None | Some(Value::Null), None) => return Err("missing type".into()),
        (Some(_), _) => return Err("type must be a string".into()),
    };
    if !["track", "identify", "page", "screen", "group", "alias"].contains(&kind.as_str()) {
        return Err(format!("unknown type '{kind}'"));
    }
    let event = match msg.get("event") {
        Some(Value::String(e)) if !e.is_empty() => Some(e.clone()),
        Some(Value::String(_)) | None | Some(Value::Null) if kind == "track" => {
            return Err("missing event".into())
        }
        None | Some(Value::Null) => None,
        Some(Value::String(_)) => None,
        Some(_) => return Err("event must be a string".into()),
    };
    let message_id = match msg.get("messageId") {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => return Err("missing messageId".into()),
        Some(_) => return Err("messageId must be a string".into()),
    };
    let (timestamp, timestamp_ms) = match msg.get("timestamp") {
        Some(Value::String(t)) => {
            parse_time(t).ok_or_else(|| format!("timestamp '{t}' is not an RFC 3339 timestamp"))?
        }
        None | Some(Value::Null) => return Err("missing timestamp".into()),
        Some(_) => return Err("timestamp must be a string".into()),
    };
    let anonymous_id = id_field(&msg, "anonymousId")?;
    let user_id = id_field(&msg, "userId")?;
    if anonymous_id.is_none() && user_id.is_none() {
        return Err("neither userId nor anonymousId".into());
    }
    let properties = match msg.remove("properties") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(p @ Value::Object(_)) => p,
        Some(_) => return Err("properties must be an object".into()),
    };
    let own_context = match msg.remove("context") {
        None | Some(Value::Null) => None,
        Some(c @ Value::Object(_)) => Some(c),
        Some(_) => return Err("context must be an object".into()),
    };
    let ctx = own_context.as_ref().or(shared_context);
    Ok(Row {
        message_id,
        kind,
        event,
        anonymous_id,
        user_id,
        timestamp,
        timestamp_ms,
        os_name: text_at(ctx, &["os", "name"]).map(String::from),
        os_arch: text_at(ctx, &["os", "arch"]).map(String::from),
        app_name: text_at(ctx, &["app", "name"]).map(String::from),
        app_build: text_at(ctx, &["app", "build"]).map(String::from),
        command: properties
            .get("command")
            .and_then(Value::as_str)
            .map(String::from),
        properties: properties.to_string(),
        sent_at: match msg.get("sentAt") {
            Some(Value::String(s)) => parse_time(s).map(|(t, _)| t).or(sent_at),
            _ => sent_at,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(items: &str) -> Result<Parsed, Rejection> {
        parse_batch(format!("{{\"batch\":[{items}]}}").as_bytes())
    }

    #[test]
    fn timestamps_with_offsets_and_fractions() {
        for (input, want) in [
            ("2026-11-25T16:02:03Z", "2026-11-25T16:02:03.000Z"),
            ("2026-11-25T17:02:03.5+01:00", "2026-11-25T16:02:03.500Z"),
            (
                "2026-11-25T16:02:03.123456789-00:30",
                "2026-11-25T16:32:03.123Z",
            ),
        ] {
            assert_eq!(parse_time(input).unwrap().0, want);
        }
        assert!(parse_time("2026-11-25 16:02").is_none());
    }

    /// Fuzz finding: these normalised to "-0001-12-31T23:30:00.000Z" and
    /// "+10000-01-01T00:59:59.000Z", which do not parse again.
    #[test]
    fn timestamps_outside_years_0000_to_9999_in_utc_are_refused() {
        assert_eq!(parse_time("0000-01-01T00:30:00+01:00"), None);
        assert_eq!(parse_time("9999-12-31T23:59:59-01:00"), None);
        assert_eq!(
            parse_time("0000-01-01T00:30:00-01:00").unwrap().0,
            "0000-01-01T01:30:00.000Z"
        );
        assert_eq!(
            parse_time("9999-12-31T23:59:59+01:00").unwrap().0,
            "9999-12-31T22:59:59.000Z"
        );
        let msg = r#"{"type":"track","event":"E","messageId":"m","anonymousId":"a","timestamp":"9999-12-31T23:59:59-01:00"}"#;
        assert!(matches!(batch(msg), Err(Rejection::Malformed(_))));
        let sent_at = r#"{"batch":[],"sentAt":"0000-01-01T00:00:00+00:01"}"#;
        assert!(matches!(
            parse_batch(sent_at.as_bytes()),
            Err(Rejection::Malformed(_))
        ));
    }

    #[test]
    fn what_the_wrapper_sends_is_stored_as_sent() {
        let mut props = Map::new();
        props.insert("command".into(), Value::from("push"));
        let sender = cfdev_wire::Sender {
            os: "linux",
            arch: "x86_64",
            build: "0.1.0+abc",
        };
        let event = cfdev_wire::track(
            "App Created",
            "m-1",
            "a-1",
            "2026-11-25T16:02:03.123Z",
            props,
            sender,
        )
        .to_string();
        let body = cfdev_wire::batch_body([event.as_str()], "2026-11-25T16:02:04.000Z");
        let parsed = parse_batch(body.as_bytes()).unwrap();
        let row = &parsed.rows[0];
        assert_eq!(
            (
                row.event.as_deref(),
                row.message_id.as_str(),
                row.kind.as_str()
            ),
            (Some("App Created"), "m-1", "track")
        );
        assert_eq!(row.timestamp, "2026-11-25T16:02:03.123Z");
        assert_eq!(row.sent_at.as_deref(), Some("2026-11-25T16:02:04.000Z"));
        assert_eq!(row.app_name.as_deref(), Some(cfdev_wire::APP_NAME));
        assert_eq!(row.command.as_deref(), Some("push"));
        // One byte over the contract's event limit is refused as too large.
        let padding = "x".repeat(MAX_EVENT_BYTES - event.len() + 1);
        let big = event.replacen("\"push\"", &format!("\"push{padding}\""), 1);
        assert_eq!(big.len(), MAX_EVENT_BYTES + 1);
        let body =
            cfdev_wire::batch_body([event.as_str(), big.as_str()], "2026-11-25T16:02:04.000Z");
        assert_eq!(
            parse_batch(body.as_bytes()).unwrap_err(),
            Rejection::TooLarge(format!(
                "batch[1] is {} bytes; the limit per event is {MAX_EVENT_BYTES}",
                MAX_EVENT_BYTES + 1
            ))
        );
    }

    #[test]
    fn reasons_are_precise() {
        let ok = r#""type":"track","messageId":"m","timestamp":"2026-11-25T16:02:03Z","anonymousId":"a""#;
        assert!(batch(&format!("{{{ok},\"event\":\"E\"}}")).is_ok());
        let cases = [
            (format!("{{{ok}}}"), "batch[0]: missing event"),
            (r#"{"type":"track","event":"E","timestamp":"2026-11-25T16:02:03Z","anonymousId":"a"}"#.into(), "batch[0]: missing messageId"),
            (r#"{"type":"track","event":"E","messageId":"m","anonymousId":"a"}"#.into(), "batch[0]: missing timestamp"),
            (r#"{"type":"track","event":"E","messageId":"m","timestamp":"2026-11-25T16:02:03Z","userId":null}"#.into(), "batch[0]: neither userId nor anonymousId"),
            (r#"{"type":"track","event":"E","messageId":"m","timestamp":"yesterday","anonymousId":"a"}"#.into(), "batch[0]: timestamp 'yesterday' is not an RFC 3339 timestamp"),
            (format!("{{{ok},\"event\":\"E\",\"properties\":[]}}"), "batch[0]: properties must be an object"),
            (format!("{{{ok},\"event\":5}}"), "batch[0]: event must be a string"),
        ];
        for (item, reason) in cases {
            assert_eq!(
                batch(&item).unwrap_err(),
                Rejection::Malformed(reason.into()),
                "{item}"
            );
        }
    }
}
