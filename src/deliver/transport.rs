//! One HTTP request: a batch POSTed to `{base}/v1/batch` with hard time
//! limits, never following redirects (a redirect is a configuration problem
//! to fix once, not something to obey on every delivery), and the outcome
//! told apart as the policy needs it: an HTTP status, a TLS or DNS failure,
//! or any other network error.

use super::endpoint::Endpoint;
use super::policy::Answer;
use base64::Engine;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Connecting may take this long at most.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// One request (send and answer) may take this long at most.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// POSTs `messages` (serialised track messages) as one batch.
pub fn post<'a>(
    endpoint: &Endpoint,
    messages: impl IntoIterator<Item = &'a str>,
    deadline: Instant,
) -> Answer {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Answer::Network("time limit reached".into());
    }
    let body = cfdev_wire::batch_body(messages, &cfdev_wire::now_timestamp());
    let mut request = attohttpc::post(endpoint.batch_url())
        .connect_timeout(CONNECT_TIMEOUT.min(remaining))
        .read_timeout(REQUEST_TIMEOUT.min(remaining))
        .timeout(REQUEST_TIMEOUT.min(remaining))
        .header("Content-Type", "application/json")
        .header(
            "User-Agent",
            concat!("cfdev-shim/", env!("CARGO_PKG_VERSION")),
        )
        .follow_redirects(false);
    if endpoint.base.starts_with("https:") {
        for cert in system_roots() {
            request = request.add_root_certificate(cert.clone());
        }
    }
    if let Some(key) = &endpoint.write_key {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
        request = request.header("Authorization", format!("Basic {token}"));
    }
    match request.text(body).send() {
        Ok(response) => {
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v.trim().to_string())
            };
            Answer::Status {
                status: response.status().as_u16(),
                retry_after: header("Retry-After").and_then(|v| v.parse().ok()),
                location: header("Location").map(|l| l.chars().take(200).collect()),
            }
        }
        Err(e) => classify(&e),
    }
}

/// The system's trusted root certificates (honouring `SSL_CERT_FILE` and
/// `SSL_CERT_DIR`), read once per process. Only those rustls accepts: one
/// malformed certificate in the store must not fail every request.
fn system_roots() -> &'static [rustls::pki_types::CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<rustls::pki_types::CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut probe = rustls::RootCertStore::empty();
        rustls_native_certs::load_native_certs()
            .certs
            .into_iter()
            .filter(|cert| probe.add(cert.clone()).is_ok())
            .collect()
    })
}

/// TLS and DNS failures are configuration problems; the rest may pass.
fn classify(error: &attohttpc::Error) -> Answer {
    use attohttpc::ErrorKind as K;
    match error.kind() {
        K::Tls(e) => Answer::Tls(e.to_string()),
        K::InvalidDNSName(name) => Answer::Tls(format!("'{name}' is not a valid TLS host name")),
        K::Io(e) => {
            if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Answer::Tls(tls.to_string());
            }
            let text = e.to_string();
            // std's getaddrinfo errors; a temporary failure (offline, no
            // resolver answer) is the network's, a missing name is ours.
            match text.strip_prefix("failed to lookup address information: ") {
                Some(why) if !why.contains("Temporary failure") => Answer::Dns(why.to_string()),
                _ => Answer::Network(text),
            }
        }
        _ => Answer::Network(error.to_string()),
    }
}
