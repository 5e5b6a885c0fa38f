//! For the report and publish tests: a database of either backend filled
//! over HTTP by the real server, the `report`/`publish` commands at a fixed
//! time, raw HTTP replies with their headers, and headless Chromium (DOM
//! dumps and screenshots) when it is installed.

use super::{Backend, Collector, Db, BIN};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A fresh database of `backend` holding `events`, ingested over HTTP.
pub fn database(backend: Backend, events: &[Value]) -> Db {
    let db = Db::new(backend);
    let site = db.dir.path().join("served-site");
    let c = Collector::start_with(&db, &[], &["--quiet", "--site", site.to_str().unwrap()]);
    for chunk in events.chunks(200) {
        let body = json!({"batch": chunk, "sentAt": "2026-11-25T16:00:00Z"}).to_string();
        let reply = super::post(&c.addr, "/v1/batch", &[], body.as_bytes());
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    c.stop();
    db
}

pub fn report_at(db: &Db, quarter: &str, format: &str, k: u64, as_of: &str) -> String {
    super::run_ok(&[
        "report",
        "--db",
        &db.arg(),
        "--quarter",
        quarter,
        "--format",
        format,
        "--min-machines",
        &k.to_string(),
        "--as-of",
        as_of,
    ])
}

pub fn json_at(db: &Db, quarter: &str, k: u64, as_of: &str) -> Value {
    serde_json::from_str(&report_at(db, quarter, "json", k, as_of)).unwrap()
}

pub fn publish(db: &Db, out: &Path, k: u64, as_of: &str) {
    super::run_ok(&[
        "publish",
        "--db",
        &db.arg(),
        "--out",
        out.to_str().unwrap(),
        "--min-machines",
        &k.to_string(),
        "--as-of",
        as_of,
    ]);
}

/// Runs the binary expecting failure: (exit code, stderr).
pub fn run_fail(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub struct Raw {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends exactly `METHOD TARGET` (no normalisation) with the headers given.
pub fn raw(addr: &str, method: &str, target: &str, headers: &[(&str, &str)]) -> Raw {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut bytes = Vec::new();
    let _ = s.read_to_end(&mut bytes);
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(bytes.len());
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let body = bytes.get(split + 4..).unwrap_or_default().to_vec();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Raw { status, head, body }
}

/// Where screenshots are kept for a person to look at:
/// target/publish-screenshots/.
pub fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/publish-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Headless Chromium, if installed (CI installs it: `.ci/run`).
pub fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {b}"))
                .output()
                .is_ok_and(|o| o.status.success())
        });
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI must install chromium");
        eprintln!("note: no chromium here; the browser checks are not exercised");
    }
    found
}

fn browser(binary: &str, profile: &Path) -> Command {
    let mut cmd = Command::new(binary);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

/// The DOM Chromium builds from `page`.
pub fn dom(binary: &str, page: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = browser(binary, profile.path())
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A screenshot 1100 px wide into `png`.
pub fn screenshot(binary: &str, page: &Path, png: &Path, height: u32) {
    let profile = tempfile::tempdir().unwrap();
    let _ = std::fs::remove_file(png);
    let out = browser(binary, profile.path())
        .arg(format!("--window-size=1100,{height}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        png.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every file under `root`, as paths relative to it, sorted.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                all.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    all.sort();
    all
}
