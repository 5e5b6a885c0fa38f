//! A loopback HTTP server for delivery tests: records every request and
//! answers as the test says (status codes, delays, or never); in https
//! too, with a certificate made for the test.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// What to answer to one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16, Vec<(String, String)>),
    /// Read the request, then never answer (until the client gives up).
    Hang,
    /// Close the connection without answering.
    Reset,
    /// Answer bytes that are not HTTP.
    Garbage,
    /// A valid 200, one byte per 500 ms.
    Trickle,
}

type Script = Box<dyn Fn(usize, &Request) -> Reply + Send + Sync>;

pub struct Server {
    pub url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    accepted: Arc<Mutex<Vec<Value>>>,
    pub max_concurrent: Arc<AtomicUsize>,
}

/// A self-signed certificate for 127.0.0.1, made with the openssl CLI.
pub struct TestCert {
    pub cert_file: std::path::PathBuf,
    config: Arc<rustls::ServerConfig>,
}

impl TestCert {
    pub fn new(dir: &std::path::Path) -> TestCert {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
        let out = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                // A leaf, not a CA: webpki refuses a CA as a server's certificate.
                "-addext",
                "basicConstraints=critical,CA:FALSE",
            ])
            .arg("-keyout")
            .arg(&key_file)
            .arg("-out")
            .arg(&cert_file)
            .output()
            .expect("the openssl CLI runs (.ci/run installs it)");
        assert!(out.status.success(), "{out:?}");
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_file)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(&key_file).unwrap();
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        TestCert {
            cert_file,
            config: Arc::new(config),
        }
    }
}

impl Server {
    /// `script(n, request)` decides the reply to the n-th request (0-based).
    pub fn start(script: impl Fn(usize, &Request) -> Reply + Send + Sync + 'static) -> Server {
        Server::listen(None, script)
    }

    /// As `start`, in https with `cert`.
    pub fn start_tls(
        cert: &TestCert,
        script: impl Fn(usize, &Request) -> Reply + Send + Sync + 'static,
    ) -> Server {
        Server::listen(Some(cert.config.clone()), script)
    }

    fn listen(
        tls: Option<Arc<rustls::ServerConfig>>,
        script: impl Fn(usize, &Request) -> Reply + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let max_concurrent = Arc::new(AtomicUsize::new(0));
        let current = Arc::new(AtomicUsize::new(0));
        let counter = Arc::new(AtomicUsize::new(0));
        let script: Arc<Script> = Arc::new(Box::new(script));
        let (r, a, m) = (requests.clone(), accepted.clone(), max_concurrent.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (r, a, m, current, counter, script, tls) = (
                    r.clone(),
                    a.clone(),
                    m.clone(),
                    current.clone(),
                    counter.clone(),
                    script.clone(),
                    tls.clone(),
                );
                std::thread::spawn(move || {
                    let Some(tls) = tls else {
                        return serve(stream, &r, &a, &m, &current, &counter, &script);
                    };
                    let Ok(session) = rustls::ServerConnection::new(tls) else {
                        return;
                    };
                    let stream = rustls::StreamOwned::new(session, stream);
                    serve(stream, &r, &a, &m, &current, &counter, &script)
                });
            }
        });
        Server {
            url,
            requests,
            accepted,
            max_concurrent,
        }
    }

    /// Always 200.
    pub fn ok() -> Server {
        Server::start(|_, _| Reply::Status(200, vec![]))
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Events of every batch answered 2xx, in arrival order.
    pub fn accepted(&self) -> Vec<Value> {
        self.accepted.lock().unwrap().clone()
    }

    pub fn accepted_ids(&self) -> Vec<String> {
        self.accepted()
            .iter()
            .map(|e| e["messageId"].as_str().unwrap().to_string())
            .collect()
    }
}

fn read_request(stream: &mut impl Read) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[header_end..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

fn serve(
    mut stream: impl Read + Write,
    requests: &Mutex<Vec<Request>>,
    accepted: &Mutex<Vec<Value>>,
    max_concurrent: &AtomicUsize,
    current: &AtomicUsize,
    counter: &AtomicUsize,
    script: &Script,
) {
    let Some(request) = read_request(&mut stream) else {
        return;
    };
    // Concurrency = requests between "fully read" and "answer decided": a
    // client can only start its next request after it got the previous answer.
    let now = current.fetch_add(1, Ordering::SeqCst) + 1;
    max_concurrent.fetch_max(now, Ordering::SeqCst);
    let n = counter.fetch_add(1, Ordering::SeqCst);
    requests.lock().unwrap().push(request.clone());
    let reply = script(n, &request);
    if (200..300).contains(&match &reply {
        Reply::Status(c, _) => *c,
        _ => 0,
    }) {
        if let Some(batch) = request.json()["batch"].as_array() {
            accepted.lock().unwrap().extend(batch.iter().cloned());
        }
    }
    current.fetch_sub(1, Ordering::SeqCst);
    match reply {
        Reply::Hang => {
            std::thread::sleep(Duration::from_secs(120));
        }
        Reply::Reset => drop(stream),
        Reply::Garbage => {
            let _ = stream.write_all(b"\x00\xffnot http at all\r\n\r\n");
        }
        Reply::Trickle => {
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}" {
                if stream.write_all(&[*byte]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        Reply::Status(code, headers) => {
            let mut response =
                format!("HTTP/1.1 {code} X\r\nContent-Length: 2\r\nConnection: close\r\n");
            for (k, v) in headers {
                response.push_str(&format!("{k}: {v}\r\n"));
            }
            response.push_str("\r\n{}");
            let _ = stream.write_all(response.as_bytes());
        }
    }
}
