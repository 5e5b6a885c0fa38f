//! The deployment of deploy/ on loopback, as an operator runs it: nginx
//! (Debian's package) with deploy/nginx's config in front of two collectors
//! sharing one PostgreSQL database (a throwaway cluster). Segment's Python
//! client sends over TLS through the proxy, the wrapper through the
//! loopback listener and over TLS; every event is stored exactly once, a batch resent
//! through the proxy to either collector is stored once, one collector
//! dying is ridden out, and the proxy's limits hold (size, slow clients).
//! nginx and PostgreSQL are started here, in temp dirs, and stopped at the
//! end, also on failure. Nothing else is touched.

use crate::end_to_end::collector_binary;
use crate::util::*;
use serde_json::Value;
use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../collector/tests/support/pg.rs"]
mod pg;

const KEY: &str = "deploy-key";

struct Server {
    child: Child,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Server {
    fn stop(mut self) -> String {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        self.stderr.take().unwrap().join().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collector(url: &str) -> (Server, String) {
    let mut child = Command::new(collector_binary())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--write-key",
            KEY,
            "--db",
            url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
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
    (
        Server {
            child,
            stderr: Some(stderr),
        },
        addr,
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Replaces `from` in `text`, which must occur exactly once: a changed
/// deploy config fails here instead of being tested half-substituted.
fn substitute(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "'{from}' in the deploy config"
    );
    text.replace(from, to)
}

fn nginx_binary() -> PathBuf {
    for candidate in ["/usr/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!("nginx is not installed (.ci/run installs Debian's nginx); this test does not skip");
}

/// deploy/nginx's files with this test's addresses, under `dir`, and a
/// main config that includes them; nginx started in the foreground.
fn start_nginx(dir: &Path, upstreams: [&str; 2], tls_port: u16, plain_port: u16) -> Server {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx");
    std::fs::create_dir_all(dir.join("snippets")).unwrap();
    for snippet in [
        "cfdev-collector-locations.conf",
        "cfdev-collector-proxy.conf",
    ] {
        std::fs::copy(
            deploy.join("snippets").join(snippet),
            dir.join("snippets").join(snippet),
        )
        .unwrap();
    }
    let mut site = std::fs::read_to_string(deploy.join("cfdev-collector.conf")).unwrap();
    for (from, to) in [
        ("127.0.0.1:8081", upstreams[0].to_string()),
        ("127.0.0.1:8082", upstreams[1].to_string()),
        ("listen 443 ssl", format!("listen 127.0.0.1:{tls_port} ssl")),
        (
            "listen 127.0.0.1:8080",
            format!("listen 127.0.0.1:{plain_port}"),
        ),
        (
            "/etc/nginx/tls/cfdev-collector.crt",
            dir.join("tls.crt").display().to_string(),
        ),
        (
            "/etc/nginx/tls/cfdev-collector.key",
            dir.join("tls.key").display().to_string(),
        ),
    ] {
        site = substitute(&site, from, &to);
    }
    std::fs::write(dir.join("cfdev-collector.conf"), site).unwrap();
    let d = dir.display();
    std::fs::write(
        dir.join("nginx.conf"),
        format!(
            "daemon off;\nmaster_process on;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\nevents {{ worker_connections 256; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n\
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n\
             scgi_temp_path {d}/scgi;\n  include {d}/cfdev-collector.conf;\n}}\n"
        ),
    )
    .unwrap();
    let check = Command::new(nginx_binary())
        .arg("-t")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("error.log"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let child = Command::new(nginx_binary())
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // nginx's workers are stopped with their master when the test process
    // dies before Drop runs.
    let watchdog = format!(
        "while kill -0 {} 2>/dev/null; do sleep 0.5; done; kill -QUIT {} 2>/dev/null",
        std::process::id(),
        child.id()
    );
    assert!(Command::new("setsid")
        .args(["-f", "sh", "-c", &watchdog])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success()));
    let server = Server {
        child,
        stderr: Some(std::thread::spawn(String::new)),
    };
    wait_until("nginx listening", Duration::from_secs(20), || {
        TcpStream::connect(("127.0.0.1", tls_port)).is_ok()
            && TcpStream::connect(("127.0.0.1", plain_port)).is_ok()
    });
    server
}

/// Raw HTTP/1.1 through the proxy's loopback listener: (status, body).
fn http(port: u16, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n{}\r\n",
        body.len(),
        format_args!(
            "Authorization: Basic {}\r\n",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("{KEY}:")
            )
        )
    );
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
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
    (status, body)
}

fn count(url: &str, sql: &str) -> i64 {
    pg::query_strings(url, sql)[0]
        .as_deref()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn two_collectors_behind_nginx_store_every_event_exactly_once() {
    let python = Command::new("python3")
        .args(["-c", "import segment.analytics"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        python || std::env::var_os("CI").is_none(),
        "CI must install segment-analytics-python"
    );
    let cluster = pg::PgCluster::start();
    let url = cluster.url(&cluster.create_database());
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let (a, addr_a) = collector(&url);
    let (b, addr_b) = collector(&url);
    make_certificates(dir);
    let (tls_port, plain_port) = (free_port(), free_port());
    let nginx = start_nginx(dir, [&addr_a, &addr_b], tls_port, plain_port);

    // Segment's Python client, over TLS through the proxy.
    let mut expected = 0;
    if python {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("collector/tests/clients/segment_python.py");
        let out = Command::new("python3")
            .arg(&script)
            .args([&format!("https://127.0.0.1:{tls_port}"), KEY, "40"])
            .env("REQUESTS_CA_BUNDLE", dir.join("ca.crt"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        expected += 41; // 40 tracks and one identify
        assert_eq!(count(&url, "SELECT count(*) FROM tracks"), expected);
    } else {
        eprintln!(
            "note: segment-analytics-python not installed; the Python client is not exercised"
        );
    }

    // The wrapper, through the proxy's loopback listener.
    let sb = Sandbox::new();
    sb.telemetry_on();
    let endpoint = format!("http://127.0.0.1:{plain_port}");
    run_ok(
        sb.shim()
            .args(["telemetry", "endpoint", &endpoint, "--write-key", KEY]),
    );
    for args in [
        &["push", "app1", "-b", "go_buildpack"][..],
        &["apps"],
        &["dev", "start"],
    ] {
        run_ok(sb.cf().args(args));
    }
    let spooled: Vec<Value> = sb.events();
    assert!(spooled.len() >= 3, "{spooled:?}");
    run_ok(sb.shim().arg("flush"));
    assert!(sb.events().is_empty(), "all delivered");
    expected += spooled.len() as i64;
    assert_eq!(count(&url, "SELECT count(*) FROM tracks"), expected);

    // The wrapper over TLS through the proxy, trusting the test's own CA
    // (rustls-native-certs honours SSL_CERT_FILE); without it the
    // certificate is refused and the events stay spooled.
    let tls_endpoint = format!("https://127.0.0.1:{tls_port}");
    run_ok(
        sb.shim()
            .args(["telemetry", "endpoint", &tls_endpoint, "--write-key", KEY]),
    );
    run_ok(sb.cf().args(["push", "app2"]));
    let over_tls = sb.events().len();
    assert!(over_tls >= 1);
    let refused = run(sb.shim().arg("flush"));
    assert_ne!(refused.status.code(), Some(0), "{}", stderr(&refused));
    assert_eq!(sb.events().len(), over_tls, "kept after a TLS refusal");
    run_ok(
        sb.shim()
            .arg("flush")
            .env("SSL_CERT_FILE", dir.join("ca.crt")),
    );
    assert!(sb.events().is_empty(), "all delivered over TLS");
    expected += over_tls as i64;
    assert_eq!(count(&url, "SELECT count(*) FROM tracks"), expected);
    for e in &spooled {
        let id = e["messageId"].as_str().unwrap();
        assert_eq!(
            count(
                &url,
                &format!("SELECT count(*) FROM tracks WHERE id = '{id}'")
            ),
            1,
            "{id}"
        );
    }

    // The same batch again and again: round-robin sends it to both
    // collectors; it is stored once.
    let again = serde_json::json!({ "batch": spooled }).to_string();
    for _ in 0..6 {
        let (status, body) = http(plain_port, "POST", "/v1/batch", again.as_bytes());
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(count(&url, "SELECT count(*) FROM tracks"), expected);

    // Proxy limits: a body over 2 MB is refused by nginx; a client that
    // stalls in its body is cut off.
    let (status, _) = http(
        plain_port,
        "POST",
        "/v1/batch",
        &vec![b' '; 3 * 1024 * 1024],
    );
    assert_eq!(status, 413);
    let mut slow = TcpStream::connect(("127.0.0.1", plain_port)).unwrap();
    slow.write_all(b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let _ = slow.read_to_end(&mut answer);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(25),
        "stalled client cut off after {waited:?}"
    );

    // One collector dies: the proxy moves on to the other, nothing is lost.
    let log_a = a.stop();
    let late: Vec<Value> = (0..30)
        .map(|i| {
            serde_json::json!({"type": "track", "event": "App Created", "messageId": format!("late-{i}"),
                "anonymousId": "machine-late", "timestamp": "2026-11-25T16:02:03Z"})
        })
        .collect();
    for chunk in late.chunks(3) {
        let body = serde_json::json!({ "batch": chunk }).to_string();
        let (status, reply) = http(plain_port, "POST", "/v1/batch", body.as_bytes());
        assert_eq!(status, 200, "{reply}");
    }
    expected += 30;
    assert_eq!(count(&url, "SELECT count(*) FROM tracks"), expected);
    assert_eq!(
        count(&url, "SELECT count(*) - count(DISTINCT id) FROM tracks"),
        0
    );

    drop(nginx);
    let log_b = b.stop();
    // Both collectors took part.
    for (name, log) in [("A", &log_a), ("B", &log_b)] {
        assert!(
            log.contains("POST /v1/batch 200"),
            "collector {name} served nothing:\n{log}"
        );
    }
}

/// A throwaway CA (`ca.crt`, what clients trust) and the proxy's
/// certificate for 127.0.0.1 signed by it (`tls.crt`, `tls.key`): webpki,
/// under the wrapper's rustls, refuses a self-signed CA certificate used as
/// the server's own.
fn make_certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        run_ok(Command::new("openssl").args(args).current_dir(dir));
    };
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=cfdev-shim test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "tls.key",
        "-out",
        "tls.csr",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "tls.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "leaf.ext",
        "-out",
        "tls.crt",
    ]);
}
