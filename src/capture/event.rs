//! Segment `track` messages, the one format used in the spool and on the
//! wire. Their shape, limits and timestamp format are the wire contract
//! shared with the collector (`cfdev-wire`); this module adds what only the
//! wrapper knows: its build, its platform and fresh message IDs.

use serde_json::{Map, Value};

pub use cfdev_wire::{now_timestamp, APP_NAME};

pub const BUILD: &str = concat!(env!("CARGO_PKG_VERSION"), "+", env!("CFDEV_SHIM_GIT_SHA"));

/// A `track` message for `event` with already-sanitised `properties`.
pub fn track(event: &str, properties: Map<String, Value>, anonymous_id: &str) -> Value {
    cfdev_wire::track(
        event,
        &uuid_v4(),
        anonymous_id,
        &now_timestamp(),
        properties,
        cfdev_wire::Sender {
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            build: BUILD,
        },
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_sends_exactly_the_contracts_event_names() {
        let mut sent: Vec<&str> = crate::catalogue::CATALOGUE
            .iter()
            .map(|row| row.event)
            .collect();
        sent.dedup();
        let mut contract = cfdev_wire::EVENT_NAMES.to_vec();
        sent.sort_unstable();
        sent.dedup();
        contract.sort_unstable();
        assert_eq!(sent, contract);
    }

    #[test]
    fn messages_carry_a_fresh_v4_id_and_a_contract_timestamp() {
        let m = track("Stop", Map::new(), "anon");
        let id = m["messageId"].as_str().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(
            track("Stop", Map::new(), "anon")["messageId"],
            m["messageId"]
        );
        let ts = m["timestamp"].as_str().unwrap();
        assert_eq!(
            cfdev_wire::parse_timestamp(ts)
                .map(cfdev_wire::timestamp)
                .as_deref(),
            Some(ts)
        );
        assert_eq!(m["context"]["app"]["build"], BUILD);
    }
}
