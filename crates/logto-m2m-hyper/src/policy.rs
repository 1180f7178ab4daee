//! Which request URLs may be sent: `https` anywhere, plain `http` only to loopback hosts unless the
//! caller opted in. Checked before any DNS lookup or connection.

use std::net::IpAddr;

use logto_m2m_proto::http::Uri;

/// Why a request URL was refused before anything was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Plain `http` to a host that is not loopback, without the opt-in.
    InsecureHttp {
        /// The refused host.
        host: String,
    },
    /// The URL cannot be sent at all (no scheme, no host, a scheme other than http or https).
    InvalidUrl {
        /// Why.
        reason: &'static str,
    },
}

/// Checks that `uri` may be sent: an absolute `https` URL, or `http` to a loopback host (or to any
/// host when `allow_insecure_http` is set).
pub(crate) fn check(uri: &Uri, allow_insecure_http: bool) -> Result<(), Refusal> {
    let Some(scheme) = uri.scheme_str() else {
        return Err(Refusal::InvalidUrl {
            reason: "the URL has no scheme",
        });
    };
    let Some(host) = uri.host().filter(|host| !host.is_empty()) else {
        return Err(Refusal::InvalidUrl {
            reason: "the URL has no host",
        });
    };
    if scheme.eq_ignore_ascii_case("https") {
        Ok(())
    } else if scheme.eq_ignore_ascii_case("http") {
        if allow_insecure_http || is_loopback(host) {
            Ok(())
        } else {
            Err(Refusal::InsecureHttp {
                host: host.to_owned(),
            })
        }
    } else {
        Err(Refusal::InvalidUrl {
            reason: "the scheme must be https (or http on loopback)",
        })
    }
}

/// Whether a URL host is loopback: `localhost` (and its subdomains), 127.0.0.0/8 or `::1`.
pub(crate) fn is_loopback(host: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap_or_else(|_| Uri::from_static("/"))
    }

    #[test]
    fn https_is_always_allowed() {
        assert_eq!(
            check(&uri("https://tenant.logto.app/oidc/token"), false),
            Ok(())
        );
    }

    #[test]
    fn http_is_allowed_on_loopback_only() {
        for ok in [
            "http://127.0.0.1:3001/oidc/token",
            "http://127.3.2.1/",
            "http://localhost:3001/",
            "http://LocalHost./",
            "http://auth.localhost/",
            "http://[::1]:8080/",
        ] {
            assert_eq!(check(&uri(ok), false), Ok(()), "{ok}");
        }
        for refused in [
            "http://example.invalid/oidc/token",
            "http://10.0.0.1/",
            "http://localhost.example.com/",
            "http://[::2]/",
            "http://128.0.0.1/",
        ] {
            assert!(
                matches!(
                    check(&uri(refused), false),
                    Err(Refusal::InsecureHttp { .. })
                ),
                "{refused}"
            );
            assert_eq!(check(&uri(refused), true), Ok(()), "{refused}");
        }
    }

    #[test]
    fn other_urls_are_invalid() {
        for bad in ["/oidc/token", "ftp://example.com/"] {
            assert!(
                matches!(check(&uri(bad), true), Err(Refusal::InvalidUrl { .. })),
                "{bad}"
            );
        }
    }
}
