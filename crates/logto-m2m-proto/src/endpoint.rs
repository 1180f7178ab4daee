//! Validation of the URLs we send secrets to: absolute, no query or fragment, no user info, and
//! `https` unless the host is loopback or the caller opted in to plain `http`.
//!
//! Parsed by `http::Uri` (already the type every request carries), plus the checks Logto needs;
//! the host is lower-cased, an IPv6 address written in its shortest form and a default port
//! dropped, so that equal endpoints compare equal. Host names must be ASCII: an internationalized
//! name is given in its `xn--` form.

use std::net::{IpAddr, Ipv6Addr};

use http::Uri;

use crate::error::ConfigError;

/// The paths of Logto's OIDC routes that a pasted endpoint may end with, longest first: the
/// endpoint is the base URL they hang from.
const OIDC_SUFFIXES: [&str; 4] = [
    "/oidc/.well-known/openid-configuration",
    "/oidc/token",
    "/oidc/jwks",
    "/oidc",
];

/// A checked absolute URL, written in a normal form.
#[derive(Debug, Clone)]
pub(crate) struct SecureUrl {
    /// `scheme://host[:port]path`, the path as given (`/` when there is none).
    text: String,
    /// The host: lower case, an IPv6 address in brackets.
    host: String,
}

impl SecureUrl {
    /// The whole URL.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// The host: lower case, an IPv6 address in brackets.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// The URL without a trailing slash on its path, ready to have a path appended.
    pub(crate) fn without_trailing_slash(&self) -> String {
        self.text.trim_end_matches('/').to_owned()
    }
}

/// Parses and checks the Logto endpoint: a URL the app secret is sent under, which must be Logto's
/// base URL and not one of its OIDC routes (`/oidc/token` is appended to it).
pub(crate) fn parse_endpoint(
    input: &str,
    allow_insecure_http: bool,
) -> Result<SecureUrl, ConfigError> {
    let url = parse_secure_url("endpoint", input, allow_insecure_http)?;
    let base = url.without_trailing_slash();
    if let Some(suffix) = OIDC_SUFFIXES.iter().find(|suffix| base.ends_with(*suffix)) {
        let base = base.strip_suffix(suffix).unwrap_or(&base).to_owned();
        return Err(ConfigError::EndpointWithOidcPath {
            endpoint: input.to_owned(),
            suffix,
            base,
        });
    }
    Ok(url)
}

/// Parses and checks a URL that the app secret will be sent to.
pub(crate) fn parse_secure_url(
    what: &'static str,
    input: &str,
    allow_insecure_http: bool,
) -> Result<SecureUrl, ConfigError> {
    let invalid = |reason: &str| ConfigError::InvalidUrl {
        what,
        reason: reason.to_owned(),
    };
    // `http::Uri` keeps a query and drops a fragment: both are refused before parsing.
    if input.contains('?') {
        return Err(invalid("it must not have a query"));
    }
    if input.contains('#') {
        return Err(invalid("it must not have a fragment"));
    }
    if !input.is_ascii() {
        return Err(invalid(
            "it must be ASCII: give an internationalized host name in its xn-- form and \
             percent-encode the path",
        ));
    }
    let uri: Uri = input
        .parse()
        .map_err(|e: http::uri::InvalidUri| invalid(&format!("it is not an absolute URL ({e})")))?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(invalid(
            "it must be an absolute URL, such as https://your-tenant.logto.app",
        ));
    };
    if authority.as_str().contains('@') {
        return Err(invalid("it must not carry user info"));
    }
    let host = normal_host(authority.host()).ok_or_else(|| {
        invalid("its host must be an IP address or a host name of ASCII letters, digits, '-', '.' and '_'")
    })?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => 443,
        "http" if allow_insecure_http || is_loopback_host(&host) => 80,
        "http" => return Err(ConfigError::InsecureHttp { host }),
        _ => return Err(invalid("the scheme must be https (or http on loopback)")),
    };
    // `http::Uri` keeps a port it cannot read as a number (`:99999`): refused here.
    let port_text = authority
        .as_str()
        .get(authority.host().len()..)
        .unwrap_or_default()
        .trim_start_matches(':');
    let port = match port_text.parse::<u16>() {
        Ok(port) if port != default_port => format!(":{port}"),
        Ok(_) => String::new(),
        Err(_) if port_text.is_empty() => String::new(),
        Err(_) => return Err(invalid("its port is not a number from 0 to 65535")),
    };
    Ok(SecureUrl {
        text: format!("{scheme}://{host}{port}{}", uri.path()),
        host,
    })
}

/// A URL host in normal form (lower case; an IPv6 address in brackets, in its shortest form), or
/// `None` when it is empty or not a host name.
fn normal_host(host: &str) -> Option<String> {
    if let Some(inside) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inside.parse::<Ipv6Addr>().ok().map(|ip| format!("[{ip}]"));
    }
    let is_name = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    is_name.then(|| host.to_ascii_lowercase())
}

/// Whether a URL host is loopback: a literal loopback address (127.0.0.0/8, `::1` bracketed or not,
/// an IPv4-mapped loopback address) or the name `localhost` itself (in any letter case). The only
/// hosts plain `http` may reach without an explicit opt-in.
///
/// `localhost.` and `*.localhost` are not loopback here: a resolver may send those names to DNS,
/// which can answer with any address.
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
    bare.eq_ignore_ascii_case("localhost")
}

/// Whether `resource` is an absolute URI as RFC 3986 §4.3 writes one: a scheme, `:`, and the rest;
/// an `http` or `https` one with a host. White space and control characters are refused anywhere.
pub(crate) fn is_absolute_uri(resource: &str) -> bool {
    if resource.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return false;
    }
    let Some((scheme, _rest)) = resource.split_once(':') else {
        return false;
    };
    let mut letters = scheme.bytes();
    let scheme_ok = letters.next().is_some_and(|b| b.is_ascii_alphabetic())
        && letters.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return false;
    }
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
        return resource
            .parse::<Uri>()
            .ok()
            .and_then(|uri| uri.host().and_then(normal_host))
            .is_some();
    }
    true
}
