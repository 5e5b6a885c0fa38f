// Loopback load generator for cfdev-collector: C keep-alive connections each
// POST B batches of E events to /v1/batch; a fraction of the batches are
// re-sends (duplicates) and some requests are malformed. Prints events/s.
// Usage: loadgen ADDR CONNECTIONS BATCHES_PER_CONN EVENTS_PER_BATCH DUP_PERCENT BAD_PERCENT
// LOADGEN_CONN_OFFSET=N numbers the connections from N, so several load
// generators (one per collector) send distinct messageIds.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

/// Events arrive roughly in time order, as they do from real clients: batch
/// b of connection c is stamped 2026-10-01 + (b * 4 + c) * 10 minutes.
/// With LOADGEN_SHUFFLED_TIME set, timestamps jump around the quarter
/// instead (the worst case for the time-ordered index).
fn timestamp(conn: usize, b: usize, e: usize) -> String {
    let ordered = ((b * 4 + conn) * 600 + e) as i64;
    let secs = if std::env::var_os("LOADGEN_SHUFFLED_TIME").is_some() {
        (ordered * 7_919_993) % (90 * 86_400)
    } else {
        ordered
    };
    let day = secs / 86_400;
    let (month, dom) = if day < 31 { (10, day + 1) } else if day < 61 { (11, day - 30) } else { (12, day - 60) };
    let rem = secs % 86_400;
    format!("2026-{month:02}-{dom:02}T{:02}:{:02}:{:02}.000Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// UUID-shaped and as random-looking as real v4 messageIds (a hash of the
/// position), so inserts land all over the primary key, as in production.
fn message_id(conn: usize, b: usize, e: usize) -> String {
    let mut x = ((conn as u64) << 48) ^ ((b as u64) << 20) ^ e as u64 ^ 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^= x >> 33;
        x
    };
    let (a, b2) = (next(), next());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b2 >> 48) & 0x3fff,
        b2 & 0xffff_ffff_ffff
    )
}

fn batch_body(conn: usize, b: usize, events: usize) -> String {
    let mut items = Vec::with_capacity(events);
    for e in 0..events {
        let machine = (conn * 7919 + b * 31 + e) % 500;
        let names = ["App Created", "Error", "Start Begin", "Start End", "Service Created", "App Restage"];
        let name = names[(b + e) % names.len()];
        items.push(format!(
            concat!(
                "{{\"type\":\"track\",\"event\":\"{}\",\"messageId\":\"{}\",",
                "\"anonymousId\":\"{:064x}\",\"timestamp\":\"{}\",",
                "\"properties\":{{\"command\":\"{}\",\"flags\":[\"-b\"]}},",
                "\"context\":{{\"os\":{{\"name\":\"{}\",\"arch\":\"x86_64\"}},\"app\":{{\"name\":\"cfdev-shim\",\"build\":\"0.1.{}+abc\"}}}}}}"
            ),
            name, message_id(conn, b, e), machine, timestamp(conn, b, e),
            if name == "Error" { "apps" } else { "push" },
            ["linux", "macos", "windows"][machine % 3],
            machine % 4
        ));
    }
    format!("{{\"batch\":[{}],\"sentAt\":\"2026-11-25T12:00:00Z\"}}", items.join(","))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr = args[1].clone();
    let conns: usize = args[2].parse().unwrap();
    let batches: usize = args[3].parse().unwrap();
    let events: usize = args[4].parse().unwrap();
    let dup: usize = args.get(5).and_then(|a| a.parse().ok()).unwrap_or(0);
    let bad: usize = args.get(6).and_then(|a| a.parse().ok()).unwrap_or(0);
    let start = Instant::now();
    let offset: usize = std::env::var("LOADGEN_CONN_OFFSET")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let handles: Vec<_> = (offset..offset + conns)
        .map(|c| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let stream = TcpStream::connect(&addr).unwrap();
                stream.set_nodelay(true).unwrap();
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                let (mut sent, mut ok, mut rejected) = (0usize, 0usize, 0usize);
                let mut last_sent: Option<usize> = None;
                for b in 0..batches {
                    let body = if bad > 0 && b % 100 < bad {
                        "{\"batch\":[{\"type\":\"track\"}]}".to_string()
                    } else if let (true, Some(previous)) = (dup > 0 && b % 100 >= 100 - dup, last_sent) {
                        batch_body(c, previous, events) // a re-send: same messageIds
                    } else {
                        sent += events;
                        last_sent = Some(b);
                        batch_body(c, b, events)
                    };
                    let req = format!(
                        "POST /v1/batch HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
                        body.len(),
                        body
                    );
                    writer.write_all(req.as_bytes()).unwrap();
                    let mut status = String::new();
                    reader.read_line(&mut status).unwrap();
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        reader.read_line(&mut h).unwrap();
                        if h == "\r\n" {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0u8; len];
                    reader.read_exact(&mut body).unwrap();
                    if status.contains(" 200 ") { ok += 1 } else { rejected += 1 }
                }
                (sent, ok, rejected)
            })
        })
        .collect();
    let (mut unique, mut ok, mut rejected) = (0, 0, 0);
    for h in handles {
        let (s, o, r) = h.join().unwrap();
        unique += s;
        ok += o;
        rejected += r;
    }
    let secs = start.elapsed().as_secs_f64();
    let total_events = ok * events;
    println!(
        "requests_ok={ok} requests_rejected={rejected} unique_events={unique} events_in_ok_requests={total_events} seconds={secs:.3} events_per_sec={:.0}",
        total_events as f64 / secs
    );
}
