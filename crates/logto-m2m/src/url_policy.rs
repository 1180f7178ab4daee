//! Which request URLs a transport may send to: `https` anywhere, plain `http` only to loopback
//! hosts unless the caller opted in. Every transport should check this before any DNS lookup or
//! connection: the request carries the app secret.

use logto_m2m_proto::http::Uri;
use logto_m2m_proto::is_loopback_host;

/// Why a request URL was refused before anything was sent. Its `Display` says why and what to do;
/// it is an [`std::error::Error`], so a transport can wrap it as it is
/// (`TransportError::new(TransportErrorKind::InvalidRequest, refusal)`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlRefusal {
    /// Plain `http` to a host that is not loopback, without the opt-in.
    #[error(
        "refusing plain http to non-loopback host {host:?}: the app secret would travel unencrypted \
         (use https, or opt in with allow_insecure_http)"
    )]
    InsecureHttp {
        /// The refused host.
        host: String,
    },
    /// The URL cannot be sent at all (no scheme, no host, a scheme other than http or https).
    #[error("refusing to send to this URL: {reason}")]
    InvalidUrl {
        /// Why.
        reason: &'static str,
    },
}

/// Checks that `uri` may be sent (call it first in your own transport's `send`): an absolute `https` URL, or `http` to a loopback host (or to any
/// host when `allow_insecure_http` is set).
pub fn check_url(uri: &Uri, allow_insecure_http: bool) -> Result<(), UrlRefusal> {
    let Some(scheme) = uri.scheme_str() else {
        return Err(UrlRefusal::InvalidUrl {
            reason: "the URL has no scheme",
        });
    };
    let Some(host) = uri.host().filter(|host| !host.is_empty()) else {
        return Err(UrlRefusal::InvalidUrl {
            reason: "the URL has no host",
        });
    };
    if scheme.eq_ignore_ascii_case("https") {
        Ok(())
    } else if scheme.eq_ignore_ascii_case("http") {
        if allow_insecure_http || is_loopback_host(host) {
            Ok(())
        } else {
            Err(UrlRefusal::InsecureHttp {
                host: host.to_owned(),
            })
        }
    } else {
        Err(UrlRefusal::InvalidUrl {
            reason: "the scheme must be https (or http on loopback)",
        })
    }
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
            check_url(&uri("https://tenant.logto.app/oidc/token"), false),
            Ok(())
        );
    }

    #[test]
    fn http_is_allowed_on_loopback_only() {
        for ok in [
            "http://127.0.0.1:3001/oidc/token",
            "http://127.3.2.1/",
            "http://localhost:3001/",
            "http://LocalHost/",
            "http://[::1]:8080/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            assert_eq!(check_url(&uri(ok), false), Ok(()), "{ok}");
        }
        for refused in [
            "http://example.invalid/oidc/token",
            "http://10.0.0.1/",
            "http://localhost.example.com/",
            // Names that a resolver may send to DNS: only a literal address or exactly
            // `localhost` is known to stay on this machine.
            "http://localhost./",
            "http://auth.localhost/",
            "http://localhost.localhost/",
            "http://[::2]/",
            "http://128.0.0.1/",
        ] {
            assert!(
                matches!(
                    check_url(&uri(refused), false),
                    Err(UrlRefusal::InsecureHttp { .. })
                ),
                "{refused}"
            );
            assert_eq!(check_url(&uri(refused), true), Ok(()), "{refused}");
        }
    }

    #[test]
    fn other_urls_are_invalid() {
        for bad in ["/oidc/token", "ftp://example.com/"] {
            assert!(
                matches!(
                    check_url(&uri(bad), true),
                    Err(UrlRefusal::InvalidUrl { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_refusal_is_an_error_that_says_why_and_wraps_into_a_transport_error() {
        use logto_m2m_proto::{TransportError, TransportErrorKind};

        let refusal = check_url(&uri("http://auth.example.com/oidc/token"), false).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "refusing plain http to non-loopback host \"auth.example.com\": the app secret would \
             travel unencrypted (use https, or opt in with allow_insecure_http)"
        );
        let error = TransportError::new(TransportErrorKind::InvalidRequest, refusal);
        assert!(error.to_string().contains("auth.example.com"), "{error}");
        let invalid = check_url(&uri("ftp://example.com/"), true).unwrap_err();
        assert_eq!(
            invalid.to_string(),
            "refusing to send to this URL: the scheme must be https (or http on loopback)"
        );
    }
}
