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

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(name) => is_loopback_host(name),
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Whether a URL host is loopback: `localhost` (and its subdomains), 127.0.0.0/8, `::1` (bracketed
/// or not) or an IPv4-mapped loopback address. The only hosts plain `http` may reach without an
/// explicit opt-in.
#[must_use]
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return match ip {
            IpAddr::V4(v4) => v4.is_loopback(),
            IpAddr::V6(v6) => {
                v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        };
    }
    let name = bare.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// The URL as a string without a trailing slash on its path, ready to have a path appended.
pub(crate) fn without_trailing_slash(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}
