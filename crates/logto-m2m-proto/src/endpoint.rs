//! Validation of the URLs we send secrets to: absolute, no query or fragment, no user info, and
//! `https` unless the host is loopback or the caller opted in to plain `http`.

use std::net::IpAddr;

use url::{Host, Url};

use crate::error::ConfigError;

/// Parses and checks a URL that the app secret will be sent to.
pub(crate) fn parse_secure_url(
    what: &'static str,
    input: &str,
    allow_insecure_http: bool,
) -> Result<Url, ConfigError> {
    let invalid = |reason: &str| ConfigError::InvalidUrl {
        what,
        reason: reason.to_owned(),
    };
    let url = Url::parse(input).map_err(|e| invalid(&e.to_string()))?;
    if url.query().is_some() {
        return Err(invalid("it must not have a query"));
    }
    if url.fragment().is_some() {
        return Err(invalid("it must not have a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("it must not carry user info"));
    }
    let host = url.host().ok_or_else(|| invalid("it has no host"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure_http || is_loopback(&host) => {}
        "http" => {
            return Err(ConfigError::InsecureHttp {
                host: host.to_string(),
            });
        }
        _ => return Err(invalid("the scheme must be https (or http on loopback)")),
    }
    Ok(url)
}

/// Whether a host is loopback: `localhost` (and its subdomains), 127.0.0.0/8 or `::1`.
pub(crate) fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(name) => {
            let name = name.trim_end_matches('.');
            name.eq_ignore_ascii_case("localhost")
                || name.to_ascii_lowercase().ends_with(".localhost")
        }
        Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

/// The URL as a string without a trailing slash on its path, ready to have a path appended.
pub(crate) fn without_trailing_slash(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}
