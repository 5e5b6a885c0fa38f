//! Delivery bookkeeping shown by `telemetry status`: drop counters by reason,
//! the last attempt and its result, backoff, and the last telemetry problem.
//! A small JSON object replaced atomically under its own lock.

use crate::fsutil;
use crate::paths::StatePaths;
use serde_json::{Map, Value};

pub type State = Map<String, Value>;

/// Reasons events are dropped, as named in `status`.
pub const DROP_REASONS: &[&str] = &["spool_full", "corrupt", "oversize", "rejected"];

pub fn load(paths: &StatePaths) -> State {
    std::fs::read(paths.state_file())
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default()
}

/// Read-modify-write under `state.lock`.
pub fn update(paths: &StatePaths, change: impl FnOnce(&mut State)) -> std::io::Result<()> {
    let _lock = fsutil::lock_exclusive(&paths.data_dir.join("state.lock"))?;
    let mut state = load(paths);
    change(&mut state);
    let text = serde_json::to_string_pretty(&Value::Object(state)).unwrap_or_default();
    fsutil::write_atomic(&paths.state_file(), text.as_bytes())
}

pub fn add_dropped(state: &mut State, reason: &str, n: u64) {
    if n == 0 {
        return;
    }
    let dropped = state
        .entry("dropped")
        .or_insert_with(|| Value::Object(Map::new()));
    if !dropped.is_object() {
        *dropped = Value::Object(Map::new());
    }
    let map = dropped.as_object_mut().expect("object ensured above");
    let current = map.get(reason).and_then(Value::as_u64).unwrap_or(0);
    map.insert(reason.into(), Value::from(current + n));
}

pub fn dropped(state: &State, reason: &str) -> u64 {
    state
        .get("dropped")
        .and_then(|d| d.get(reason))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// Records a telemetry problem for `status`; best effort, never fails loudly.
pub fn note_problem(paths: &StatePaths, problem: &str) {
    let _ = update(paths, |s| {
        s.insert(
            "last_problem".into(),
            serde_json::json!({ "at": crate::event::now_timestamp(), "what": problem }),
        );
    });
}
