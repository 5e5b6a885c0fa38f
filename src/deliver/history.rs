//! What deliveries did, kept in the state file for `telemetry status`: the
//! last attempt and its result, failures in a row, when the next background
//! attempt may start (backoff), and the configuration problem the endpoint
//! showed, if any. Typed here; stored under `state::key`'s names.

use super::policy::ConfigProblem;
use crate::state::{key, Attempt, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A configuration problem the endpoint showed, and for which endpoint: a
/// problem seen with another endpoint than the current one is stale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProblemSeen {
    pub at: String,
    /// Base URL it was seen with.
    pub endpoint: String,
    /// `ConfigProblem::kind`: unauthorized, wrong_path, redirect, tls, …
    pub kind: String,
    pub http_status: Option<u16>,
    /// `ConfigProblem::describe`: what happened and what to do.
    pub message: String,
}

impl ProblemSeen {
    pub fn new(problem: &ConfigProblem, endpoint: &str) -> ProblemSeen {
        ProblemSeen {
            at: cfdev_wire::now_timestamp(),
            endpoint: endpoint.to_string(),
            kind: problem.kind().to_string(),
            http_status: problem.http_status(),
            message: problem.describe(),
        }
    }
}

/// Everything delivery keeps between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryState {
    pub last_attempt: Option<Attempt>,
    /// Earliest start of the next background attempt (backoff), if any.
    pub next_attempt: Option<String>,
    pub consecutive_failures: u64,
    pub problem: Option<ProblemSeen>,
}

fn typed<T: for<'de> Deserialize<'de>>(state: &State, key: &str) -> Option<T> {
    serde_json::from_value(state.get(key)?.clone()).ok()
}

impl DeliveryState {
    /// Reads the delivery part of the state; anything malformed is absent.
    pub fn from_state(state: &State) -> DeliveryState {
        DeliveryState {
            last_attempt: typed(state, key::LAST_ATTEMPT),
            next_attempt: typed(state, key::NEXT_ATTEMPT),
            consecutive_failures: typed(state, key::CONSECUTIVE_FAILURES).unwrap_or(0),
            problem: typed(state, key::DELIVERY_PROBLEM),
        }
    }

    /// Writes it back into the state, leaving other keys alone.
    pub fn store(&self, state: &mut State) {
        fn set<T: Serialize>(state: &mut State, key: &str, value: Option<&T>) {
            match value.and_then(|v| serde_json::to_value(v).ok()) {
                Some(v) => state.insert(key.into(), v),
                None => state.remove(key),
            };
        }
        set(state, key::LAST_ATTEMPT, self.last_attempt.as_ref());
        set(state, key::NEXT_ATTEMPT, self.next_attempt.as_ref());
        state.insert(
            key::CONSECUTIVE_FAILURES.into(),
            Value::from(self.consecutive_failures),
        );
        set(state, key::DELIVERY_PROBLEM, self.problem.as_ref());
    }

    /// The problem, if it was seen with `endpoint` (the one in use now).
    pub fn problem_with(&self, endpoint: &str) -> Option<&ProblemSeen> {
        self.problem.as_ref().filter(|p| p.endpoint == endpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stored_and_read_back_unchanged_keeping_other_keys() {
        let before = DeliveryState {
            last_attempt: Some(Attempt {
                at: "2026-11-25T16:02:03.123Z".into(),
                ok: false,
                result: "delivered 0 events".into(),
            }),
            next_attempt: Some("2026-11-25T16:03:03.123Z".into()),
            consecutive_failures: 2,
            problem: Some(ProblemSeen::new(
                &ConfigProblem::Unauthorized { status: 401 },
                "http://127.0.0.1:1",
            )),
        };
        let mut state = State::new();
        state.insert(key::DROPPED.into(), json!({"rejected": 1}));
        before.store(&mut state);
        assert_eq!(DeliveryState::from_state(&state), before);
        assert_eq!(state[key::DROPPED], json!({"rejected": 1}));
        assert_eq!(state[key::DELIVERY_PROBLEM]["http_status"], 401);
        assert_eq!(
            before.problem_with("http://127.0.0.1:1"),
            before.problem.as_ref()
        );
        assert_eq!(before.problem_with("http://other"), None);
        DeliveryState::default().store(&mut state);
        assert!(state.get(key::DELIVERY_PROBLEM).is_none());
        assert!(state.get(key::LAST_ATTEMPT).is_none());
    }

    #[test]
    fn malformed_state_reads_as_empty() {
        let mut state = State::new();
        state.insert(key::LAST_ATTEMPT.into(), json!("yesterday"));
        state.insert(key::CONSECUTIVE_FAILURES.into(), json!(-3));
        state.insert(key::DELIVERY_PROBLEM.into(), json!({"kind": 5}));
        assert_eq!(DeliveryState::from_state(&state), DeliveryState::default());
    }
}
