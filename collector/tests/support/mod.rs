//! What the collector test binaries share: a database of either backend in
//! a temp dir or a throwaway PostgreSQL cluster, the collector process, and
//! a minimal HTTP client that puts exactly the chosen bytes on the wire.

#![allow(dead_code)]

pub mod data;
pub mod pg;
pub mod site;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_cfdev-collector");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty database: a file in a temp dir, or a new database on the
/// shared throwaway cluster.
pub struct Db {
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub url: String,
}

impl Db {
    pub fn new(backend: Backend) -> Db {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let url = match backend {
            Backend::Sqlite => String::new(),
            Backend::Postgres => {
                let cluster = pg::shared();
                cluster.url(&cluster.create_database())
            }
        };
        Db {
            backend,
            dir,
            path,
            url,
        }
    }

    /// On a given cluster (tests that stop and start their own).
    pub fn on(cluster: &pg::PgCluster) -> Db {
        let dir = tempfile::tempdir().unwrap();
        Db {
            backend: Backend::Postgres,
            path: dir.path().join("unused"),
            dir,
            url: cluster.url(&cluster.create_database()),
        }
    }

    /// The `--db` argument.
    pub fn arg(&self) -> String {
        match self.backend {
            Backend::Sqlite => self.path.display().to_string(),
            Backend::Postgres => self.url.clone(),
        }
    }

    /// The first column of each row of a query valid on both backends.
    pub fn strings(&self, sql: &str) -> Vec<Option<String>> {
        match self.backend {
            Backend::Sqlite => {
                let conn = rusqlite::Connection::open(&self.path).unwrap();
                let mut stmt = conn.prepare(sql).unwrap();
                let rows = stmt
                    .query_map([], |r| {
                        Ok(match r.get_ref(0)? {
                            rusqlite::types::ValueRef::Null => None,
                            rusqlite::types::ValueRef::Integer(i) => Some(i.to_string()),
                            v => Some(v.as_str()?.to_string()),
                        })
                    })
                    .unwrap();
                rows.map(Result::unwrap).collect()
            }
            Backend::Postgres => pg::query_strings(&self.url, sql),
        }
    }

    pub fn string(&self, sql: &str) -> String {
        self.strings(sql)
            .into_iter()
            .next()
            .flatten()
            .unwrap_or_else(|| panic!("no value from {sql}"))
    }

    pub fn count_rows(&self) -> i64 {
        self.string("SELECT COUNT(*) FROM tracks").parse().unwrap()
    }
}

pub struct Collector {
    pub child: Child,
    pub addr: String,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Collector {
    pub fn start(db: &Db, keys: &[&str]) -> Collector {
        Collector::start_with(db, keys, &[])
    }

    pub fn start_with(db: &Db, keys: &[&str], extra: &[&str]) -> Collector {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--db", &db.arg()]);
        for k in keys {
            cmd.args(["--write-key", k]);
        }
        cmd.args(extra);
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let mut err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        let addr = line.trim().rsplit("http://").next().unwrap().to_string();
        assert!(addr.contains(':'), "no address in {line:?}");
        Collector {
            child,
            addr,
            stderr: Some(stderr),
        }
    }

    /// SIGTERM, then the exit status and everything written to stderr.
    pub fn stop(mut self) -> (std::process::ExitStatus, String) {
        unsafe { libc_kill(self.child.id() as i32, 15) };
        let status = self.child.wait().unwrap();
        let stderr = self.stderr.take().unwrap().join().unwrap();
        (status, stderr)
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// A collector on a fresh database of the backend.
pub fn fresh(backend: Backend, keys: &[&str]) -> (Db, Collector) {
    let db = Db::new(backend);
    let c = Collector::start(&db, keys);
    (db, c)
}

pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// A minimal HTTP/1.1 client: exactly the bytes we choose go on the wire.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Reply { status, body }
}

pub fn post(addr: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> Reply {
    request(addr, "POST", path, headers, body)
}

pub fn get(addr: &str, path: &str) -> Reply {
    request(addr, "GET", path, &[], b"")
}

pub fn auth(key: &str) -> (&'static str, String) {
    use base64::Engine;
    (
        "Authorization",
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
        ),
    )
}

pub fn event(
    id: &str,
    name: &str,
    machine: &str,
    ts: &str,
    os: &str,
    build: &str,
    command: &str,
) -> Value {
    json!({
        "type": "track", "event": name, "messageId": id, "anonymousId": machine, "timestamp": ts,
        "properties": {"command": command},
        "context": {"os": {"name": os, "arch": "x86_64"}, "app": {"name": "cfdev-shim", "build": build}}
    })
}

pub fn batch(events: &[Value]) -> Vec<u8> {
    json!({"batch": events, "sentAt": "2026-11-25T16:00:00Z"})
        .to_string()
        .into_bytes()
}

/// Runs the collector binary; asserts success; returns stdout.
pub fn run_ok(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "cfdev-collector {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The 2026-Q4 report as of a fixed time after the quarter (reports carry
/// their generation time).
pub fn report(db: &Db, format: &str, k: u64) -> String {
    run_ok(&[
        "report",
        "--as-of",
        "2027-02-01T00:00:00Z",
        "--quarter",
        "2026-Q4",
        "--format",
        format,
        "--min-machines",
        &k.to_string(),
        "--db",
        &db.arg(),
    ])
}

/// Polls until `check` holds, failing after `secs`.
pub fn eventually(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Declares each named test (a `fn(Backend)`) once per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name($crate::support::Backend::Sqlite) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name($crate::support::Backend::Postgres) } )*
        }
    };
}
