//! Where events go, and the one set of rules every endpoint obeys, whether
//! stored (`telemetry endpoint URL`), given by `CFDEV_SHIM_ENDPOINT` or by
//! `install.sh --endpoint` (which asks `cfdev-shim check-endpoint URL`): an
//! http/https base URL with a host, no user name or password (the write key
//! is given apart), no query or fragment; a trailing `/v1/batch` is removed
//! because it is added when sending. An invalid endpoint is a problem shown
//! by `status`, never a crash.

use crate::config::Config;

use cfdev_wire::BATCH_PATH;

/// Where events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Normalised base URL: no trailing `/` nor `/v1/batch`.
    pub base: String,
    pub write_key: Option<String>,
}

/// Where the endpoint in use was configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointSource {
    /// `CFDEV_SHIM_ENDPOINT`.
    Environment,
    /// `cfdev-shim telemetry endpoint URL` (or install.sh, which stores it).
    Config,
}

impl EndpointSource {
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointSource::Environment => "CFDEV_SHIM_ENDPOINT",
            EndpointSource::Config => "config",
        }
    }
}

impl Endpoint {
    pub fn batch_url(&self) -> String {
        format!("{}{BATCH_PATH}", self.base)
    }

    /// The write key as it may be shown: never in full.
    pub fn masked_write_key(&self) -> Option<String> {
        self.write_key.as_deref().map(mask_secret)
    }
}

/// Checks `url` against the endpoint rules and returns the base URL to
/// store and use. The error is one sentence that never repeats a password.
pub fn normalise(url: &str) -> Result<String, String> {
    let shown = || {
        if url.contains('@') {
            "the endpoint".to_string()
        } else {
            format!("'{url}'")
        }
    };
    let mut parsed = url::Url::parse(url.trim()).map_err(|e| {
        format!(
            "{} is not a URL ({e}); give the base URL, e.g. https://collector.example.com",
            shown()
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "{} must be an http:// or https:// URL with a host",
            shown()
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("the endpoint must not contain a user name or password; \
                    give the write key with --write-key (or CFDEV_SHIM_WRITE_KEY)"
            .into());
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!(
            "{} must not have a query (?…) or fragment (#…); give the base URL",
            shown()
        ));
    }
    let path = parsed.path().trim_end_matches('/');
    let path = path.strip_suffix(BATCH_PATH).unwrap_or(path);
    let path = path.trim_end_matches('/').to_string();
    parsed.set_path(&path);
    Ok(parsed.as_str().trim_end_matches('/').to_string())
}

/// The endpoint in use: `CFDEV_SHIM_ENDPOINT` (with `CFDEV_SHIM_WRITE_KEY`)
/// over the stored one. `Ok(None)`: none configured (events stay local).
/// `Err`: one is configured but breaks the rules.
pub fn configured(
    env_endpoint: Option<&str>,
    env_write_key: Option<&str>,
    config: &Config,
) -> Result<Option<(Endpoint, EndpointSource)>, String> {
    let non_empty = |v: Option<&str>| v.filter(|v| !v.is_empty()).map(String::from);
    let (raw, write_key, source) = match non_empty(env_endpoint) {
        Some(raw) => (raw, non_empty(env_write_key), EndpointSource::Environment),
        None => match config.endpoint() {
            Some(raw) => (
                raw.to_string(),
                non_empty(env_write_key).or_else(|| config.write_key().map(String::from)),
                EndpointSource::Config,
            ),
            None => return Ok(None),
        },
    };
    let base = normalise(&raw).map_err(|why| match source {
        EndpointSource::Environment => format!("CFDEV_SHIM_ENDPOINT: {why}"),
        EndpointSource::Config => format!("stored endpoint: {why}"),
    })?;
    Ok(Some((Endpoint { base, write_key }, source)))
}

/// The first few characters of a secret and how long it is.
pub fn mask_secret(secret: &str) -> String {
    let chars = secret.chars().count();
    let shown: String = if chars >= 12 {
        secret.chars().take(4).collect()
    } else {
        String::new()
    };
    format!("{shown}… ({chars} characters)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_normalised() {
        for (input, want) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
            ("http://127.0.0.1:8080/v1/batch", "http://127.0.0.1:8080"),
            ("https://h.example/v1/batch/", "https://h.example"),
            (
                "https://h.example/segment/v1/batch",
                "https://h.example/segment",
            ),
            ("HTTPS://H.Example:443/prefix/", "https://h.example/prefix"),
            ("  https://h.example  ", "https://h.example"),
        ] {
            assert_eq!(normalise(input).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn broken_rules_are_refused_without_repeating_secrets() {
        for (input, reason) in [
            ("not-a-url", "is not a URL"),
            ("", "is not a URL"),
            ("ftp://h.example", "http:// or https://"),
            ("file:///etc/passwd", "http:// or https://"),
            ("https://user:hunter2@h.example", "user name or password"),
            ("https://user@h.example", "user name or password"),
            ("https://h.example/?key=1", "query"),
            ("https://h.example/#frag", "fragment"),
        ] {
            let err = normalise(input).unwrap_err();
            assert!(err.contains(reason), "{input}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn the_environment_wins_and_is_checked_too() {
        let mut config = Config::default();
        config.set_endpoint("https://stored.example/v1/batch", Some("stored-key"));
        let (e, source) = configured(None, None, &config).unwrap().unwrap();
        assert_eq!(e.base, "https://stored.example");
        assert_eq!(e.write_key.as_deref(), Some("stored-key"));
        assert_eq!(source, EndpointSource::Config);
        let (e, source) = configured(Some("http://env.example"), None, &config)
            .unwrap()
            .unwrap();
        assert_eq!((e.base.as_str(), e.write_key), ("http://env.example", None));
        assert_eq!(source, EndpointSource::Environment);
        let err = configured(Some("not-a-url"), None, &config).unwrap_err();
        assert!(err.starts_with("CFDEV_SHIM_ENDPOINT: "), "{err}");
        assert_eq!(configured(None, None, &Config::default()), Ok(None));
    }

    #[test]
    fn secrets_are_masked() {
        assert_eq!(mask_secret("wk-123"), "… (6 characters)");
        assert_eq!(mask_secret("abcdefghijklmnop"), "abcd… (16 characters)");
    }
}
