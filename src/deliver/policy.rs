//! The delivery policy as pure functions of values, so it is tested without
//! processes, files or sockets: what an answer means for the events (SPEC
//! §6), how long to back off, how pending events are cut into batches, and
//! when a background delivery is due.

use crate::state::DropReason;
use cfdev_wire::{MAX_BATCH_BYTES, MAX_EVENT_BYTES};
use std::time::{Duration, SystemTime};

/// The longest wait between two background attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);
/// The first wait after a failure (doubled per consecutive failure).
const FIRST_BACKOFF_SECS: u64 = 30;
/// A spool this full is delivered without waiting for the interval.
pub const EAGER_PENDING: u64 = 500;
/// Room for `{"batch":[…],"sentAt":"…"}` around the events.
const ENVELOPE_BYTES: usize = 64;

/// A mistake in the endpoint's configuration: never the events' fault, so
/// they are kept until it is fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigProblem {
    /// 401/403: the write key is missing or wrong.
    Unauthorized { status: u16 },
    /// 404/405: the URL is not a Segment-compatible base URL.
    WrongPath { status: u16 },
    /// 3xx: the endpoint moved; we never follow, so it is fixed once.
    Redirect {
        status: u16,
        location: Option<String>,
    },
    /// Any other answer that is neither success nor worth retrying.
    UnexpectedStatus { status: u16 },
    /// The TLS handshake failed (certificate, protocol, plain HTTP port).
    Tls(String),
    /// The host name does not resolve.
    Dns(String),
    /// The endpoint breaks the endpoint rules.
    InvalidEndpoint(String),
}

impl ConfigProblem {
    /// The HTTP status involved, if any.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            ConfigProblem::Unauthorized { status }
            | ConfigProblem::WrongPath { status }
            | ConfigProblem::Redirect { status, .. }
            | ConfigProblem::UnexpectedStatus { status } => Some(*status),
            _ => None,
        }
    }

    /// A stable name for `status --json`.
    pub fn kind(&self) -> &'static str {
        match self {
            ConfigProblem::Unauthorized { .. } => "unauthorized",
            ConfigProblem::WrongPath { .. } => "wrong_path",
            ConfigProblem::Redirect { .. } => "redirect",
            ConfigProblem::UnexpectedStatus { .. } => "unexpected_status",
            ConfigProblem::Tls(_) => "tls",
            ConfigProblem::Dns(_) => "dns",
            ConfigProblem::InvalidEndpoint(_) => "invalid_endpoint",
        }
    }

    /// What happened and what to do next, in one sentence.
    pub fn describe(&self) -> String {
        const SET: &str = "cfdev-shim telemetry endpoint URL --write-key KEY";
        match self {
            ConfigProblem::Unauthorized { status } => {
                format!("the endpoint answered HTTP {status}: check the write key ({SET})")
            }
            ConfigProblem::WrongPath { status } => format!(
                "the endpoint answered HTTP {status}: give the base URL, without /v1/batch \
                 (cfdev-shim telemetry endpoint URL)"
            ),
            ConfigProblem::Redirect { status, location } => format!(
                "the endpoint answered HTTP {status} (a redirect{}): give the URL it \
                 redirects to (cfdev-shim telemetry endpoint URL)",
                location
                    .as_deref()
                    .map(|l| format!(" to {l}"))
                    .unwrap_or_default()
            ),
            ConfigProblem::UnexpectedStatus { status } => format!(
                "the endpoint answered HTTP {status}: check that it is a Segment-compatible \
                 base URL (cfdev-shim telemetry endpoint URL)"
            ),
            ConfigProblem::Tls(why) => format!(
                "TLS failed ({why}): check the endpoint's certificate, or whether it \
                 speaks https at all"
            ),
            ConfigProblem::Dns(why) => {
                format!("the endpoint's host name does not resolve ({why}): check the URL")
            }
            ConfigProblem::InvalidEndpoint(why) => why.clone(),
        }
    }
}

/// How a request went, as seen by the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Status {
        status: u16,
        retry_after: Option<u64>,
        location: Option<String>,
    },
    /// Connection refused/reset, timeout, a broken answer: try again later.
    Network(String),
    Tls(String),
    Dns(String),
}

/// What to do with the events of one batch after an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: they leave the spool.
    Delivered,
    /// 413 for several events: send each half on its own.
    Split,
    /// They leave the spool, counted (`Rejected` for a 400, `Oversize` for
    /// a 413 for one event).
    Drop(DropReason),
    /// They stay; try later (not before `after` seconds, if given).
    Retry { why: String, after: Option<u64> },
    /// They stay; the operator must fix the configuration.
    Misconfigured(ConfigProblem),
}

/// SPEC §6: only a 400 for a batch and a 413 for a single event drop events.
pub fn judge(answer: &Answer, batch_len: usize) -> Verdict {
    match answer {
        Answer::Status {
            status,
            retry_after,
            location,
        } => match *status {
            200..=299 => Verdict::Delivered,
            413 if batch_len > 1 => Verdict::Split,
            413 => Verdict::Drop(DropReason::Oversize),
            400 => Verdict::Drop(DropReason::Rejected),
            408 | 429 | 500..=599 => Verdict::Retry {
                why: format!("HTTP {status}"),
                after: *retry_after,
            },
            401 | 403 => Verdict::Misconfigured(ConfigProblem::Unauthorized { status: *status }),
            404 | 405 => Verdict::Misconfigured(ConfigProblem::WrongPath { status: *status }),
            300..=399 => Verdict::Misconfigured(ConfigProblem::Redirect {
                status: *status,
                location: location.clone(),
            }),
            status => Verdict::Misconfigured(ConfigProblem::UnexpectedStatus { status }),
        },
        Answer::Network(why) => Verdict::Retry {
            why: format!("network error: {why}"),
            after: None,
        },
        Answer::Tls(why) => Verdict::Misconfigured(ConfigProblem::Tls(why.clone())),
        Answer::Dns(why) => Verdict::Misconfigured(ConfigProblem::Dns(why.clone())),
    }
}

/// How long to wait after `failures` consecutive failed attempts (≥ 1):
/// exponential from 30 s, plus up to 1/4 jitter (`jitter` is a random byte),
/// at least what the endpoint asked for, at most `MAX_BACKOFF`.
pub fn backoff(failures: u64, retry_after_secs: Option<u64>, jitter: u8) -> Duration {
    let base = FIRST_BACKOFF_SECS
        .saturating_mul(1 << failures.clamp(1, 12))
        .min(MAX_BACKOFF.as_secs());
    let jittered = base + u64::from(jitter) * base / 1024;
    Duration::from_secs(
        retry_after_secs
            .unwrap_or(0)
            .max(jittered)
            .min(MAX_BACKOFF.as_secs()),
    )
}

/// Whether a backoff ending at `retry_at` is in force. A retry time further
/// ahead than any backoff we set means the clock jumped back: ignored.
pub fn backing_off(retry_at: Option<SystemTime>, now: SystemTime) -> bool {
    let limit = now + MAX_BACKOFF + Duration::from_secs(60);
    retry_at.is_some_and(|t| t > now && t <= limit)
}

/// Whether a background delivery should start after an event was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Now,
    NotYet,
    /// No attempt yet: the first recorded event starts the interval.
    StartInterval,
}

pub fn due(
    pending: u64,
    interval: Duration,
    last_attempt: Option<SystemTime>,
    now: SystemTime,
) -> Due {
    if pending >= EAGER_PENDING || interval.is_zero() {
        return Due::Now;
    }
    match last_attempt {
        None => Due::StartInterval,
        // A last attempt in the future (clock jumped back) counts as due.
        Some(last) => match now.duration_since(last) {
            Ok(age) if age < interval => Due::NotYet,
            _ => Due::Now,
        },
    }
}

/// Pending events cut into batches, oldest first.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Indexes into the pending list, each batch within the size limit.
    pub batches: Vec<Vec<usize>>,
    /// Events larger than one event may be: dropped unsent.
    pub oversize: Vec<usize>,
}

/// Cuts events (given by their sizes in bytes) into batches of at most
/// `MAX_BATCH_BYTES` with their envelope, skipping events over
/// `MAX_EVENT_BYTES`.
pub fn plan(sizes: &[usize]) -> Plan {
    let mut plan = Plan::default();
    let mut batch = Vec::new();
    let mut size = ENVELOPE_BYTES;
    for (i, &len) in sizes.iter().enumerate() {
        if len > MAX_EVENT_BYTES {
            plan.oversize.push(i);
            continue;
        }
        if !batch.is_empty() && size + len + 1 > MAX_BATCH_BYTES {
            plan.batches.push(std::mem::take(&mut batch));
            size = ENVELOPE_BYTES;
        }
        size += len + 1;
        batch.push(i);
    }
    if !batch.is_empty() {
        plan.batches.push(batch);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> Answer {
        Answer::Status {
            status,
            retry_after: None,
            location: None,
        }
    }

    #[test]
    fn answers_map_to_spec_actions() {
        assert_eq!(judge(&status(200), 3), Verdict::Delivered);
        assert_eq!(judge(&status(204), 1), Verdict::Delivered);
        assert_eq!(judge(&status(413), 2), Verdict::Split);
        assert_eq!(judge(&status(413), 1), Verdict::Drop(DropReason::Oversize));
        assert_eq!(judge(&status(400), 7), Verdict::Drop(DropReason::Rejected));
        for code in [408, 429, 500, 502, 503, 599] {
            assert!(
                matches!(judge(&status(code), 1), Verdict::Retry { .. }),
                "{code}"
            );
        }
        for (code, kind) in [
            (401, "unauthorized"),
            (403, "unauthorized"),
            (404, "wrong_path"),
            (405, "wrong_path"),
            (301, "redirect"),
            (302, "redirect"),
            (307, "redirect"),
            (308, "redirect"),
            (402, "unexpected_status"),
            (410, "unexpected_status"),
            (422, "unexpected_status"),
            (101, "unexpected_status"),
        ] {
            match judge(&status(code), 5) {
                Verdict::Misconfigured(p) => {
                    assert_eq!((p.kind(), p.http_status()), (kind, Some(code)))
                }
                other => panic!("{code}: {other:?}"),
            }
        }
        assert!(matches!(
            judge(&Answer::Network("refused".into()), 1),
            Verdict::Retry { after: None, .. }
        ));
        assert!(matches!(
            judge(&Answer::Tls("bad cert".into()), 1),
            Verdict::Misconfigured(ConfigProblem::Tls(_))
        ));
        assert!(matches!(
            judge(&Answer::Dns("no such host".into()), 1),
            Verdict::Misconfigured(ConfigProblem::Dns(_))
        ));
    }

    #[test]
    fn retry_after_is_kept_with_the_retry() {
        let answer = Answer::Status {
            status: 429,
            retry_after: Some(600),
            location: None,
        };
        assert_eq!(
            judge(&answer, 1),
            Verdict::Retry {
                why: "HTTP 429".into(),
                after: Some(600)
            }
        );
    }

    #[test]
    fn hints_name_the_status_and_the_next_step() {
        let text = ConfigProblem::Unauthorized { status: 401 }.describe();
        assert!(text.contains("HTTP 401") && text.contains("check the write key"));
        let text = ConfigProblem::WrongPath { status: 404 }.describe();
        assert!(text.contains("HTTP 404") && text.contains("without /v1/batch"));
        let text = ConfigProblem::Redirect {
            status: 301,
            location: Some("https://new.example/".into()),
        }
        .describe();
        assert!(text.contains("HTTP 301") && text.contains("https://new.example/"));
    }

    #[test]
    fn backoff_doubles_from_one_minute_to_six_hours() {
        assert_eq!(backoff(1, None, 0), Duration::from_secs(60));
        assert_eq!(backoff(2, None, 0), Duration::from_secs(120));
        assert_eq!(backoff(3, None, 0), Duration::from_secs(240));
        assert_eq!(backoff(40, None, 0), MAX_BACKOFF);
        assert_eq!(backoff(u64::MAX, None, 255), MAX_BACKOFF);
        // Jitter adds at most a quarter.
        assert_eq!(
            backoff(1, None, 255),
            Duration::from_secs(60 + 255 * 60 / 1024)
        );
        // The endpoint's Retry-After is a floor, capped too.
        assert_eq!(backoff(1, Some(600), 0), Duration::from_secs(600));
        assert_eq!(backoff(1, Some(10), 0), Duration::from_secs(60));
        assert_eq!(backoff(1, Some(u64::MAX), 0), MAX_BACKOFF);
    }

    #[test]
    fn backoff_in_force_unless_the_clock_jumped() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert!(!backing_off(None, now));
        assert!(backing_off(Some(now + Duration::from_secs(60)), now));
        assert!(!backing_off(Some(now - Duration::from_secs(1)), now));
        assert!(!backing_off(Some(now + MAX_BACKOFF * 2), now));
    }

    #[test]
    fn due_after_the_interval_or_when_full() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let hour = Duration::from_secs(3600);
        let ago = |s| Some(now - Duration::from_secs(s));
        assert_eq!(due(1, hour, None, now), Due::StartInterval);
        assert_eq!(due(1, hour, ago(10), now), Due::NotYet);
        assert_eq!(due(1, hour, ago(3600), now), Due::Now);
        assert_eq!(due(1, Duration::ZERO, ago(1), now), Due::Now);
        assert_eq!(due(EAGER_PENDING, hour, ago(1), now), Due::Now);
        assert_eq!(
            due(1, hour, Some(now + Duration::from_secs(99)), now),
            Due::Now
        );
    }

    #[test]
    fn batches_respect_the_limits() {
        assert_eq!(plan(&[]), Plan::default());
        let p = plan(&[100, MAX_EVENT_BYTES + 1, 200]);
        assert_eq!(p.batches, vec![vec![0, 2]]);
        assert_eq!(p.oversize, vec![1]);
        // 20 events of 30 KB: 16 fit in 500 KB with the envelope, then 4.
        let p = plan(&[30 * 1024; 20]);
        assert_eq!(
            p.batches.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![16, 4]
        );
        for batch in &p.batches {
            let bytes: usize = batch.iter().map(|_| 30 * 1024 + 1).sum::<usize>() + ENVELOPE_BYTES;
            assert!(bytes <= MAX_BATCH_BYTES);
        }
        // Exactly at the event limit is allowed.
        assert_eq!(plan(&[MAX_EVENT_BYTES]).batches, vec![vec![0]]);
    }
}
