//! A loopback HTTP server for delivery tests: records every request and
//! answers as the test says (status codes, delays, or never).

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
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

impl Server {
    /// `script(n, request)` decides the reply to the n-th request (0-based).
    pub fn start(script: impl Fn(usize, &Request) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let max_concurrent = Arc::new(AtomicUsize::new(0));
        let current = Arc::new(AtomicUsize::new(0));
        let counter = Arc::new(AtomicUsize::new(0));
        let script: Arc<Script> = Arc::new(Box::new(script));
        let (r, a, m) = (requests.clone(), accepted.clone(), max_concurrent.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (r, a, m, current, counter, script) = (
                    r.clone(),
                    a.clone(),
                    m.clone(),
                    current.clone(),
                    counter.clone(),
                    script.clone(),
                );
                std::thread::spawn(move || serve(stream, &r, &a, &m, &current, &counter, &script));
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

fn read_request(stream: &mut TcpStream) -> Option<Request> {
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
    mut stream: TcpStream,
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
        Reply::Reset => {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
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
