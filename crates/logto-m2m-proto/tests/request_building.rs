//! Golden request bytes, and everything refused locally before anything is sent.
#![allow(clippy::unwrap_used)]

mod common;

use common::{API, config};
use logto_m2m_proto::{
    ClientAuthMethod, ClientConfig, ConfigError, TokenParams, TokenRequest, USER_AGENT_VALUE,
    management_api, redacted,
};

fn body(request: &TokenRequest) -> String {
    String::from_utf8(request.to_http().into_body()).unwrap()
}

fn post_config() -> ClientConfig {
    ClientConfig::builder("http://127.0.0.1:3001", "m2m-app", "m2m-secret")
        .auth_method(ClientAuthMethod::Post)
        .build()
        .unwrap()
}

#[test]
fn basic_request_is_exactly_what_logto_expects() {
    let request = TokenRequest::new(
        &config(),
        TokenParams::for_resource(API).scopes(["read:items", "write:items"]),
    )
    .unwrap();
    let http = request.to_http();
    assert_eq!(http.method(), "POST");
    assert_eq!(http.uri(), "http://127.0.0.1:3001/oidc/token");
    let headers = http.headers();
    assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
    assert_eq!(headers["accept"], "application/json");
    assert_eq!(headers["user-agent"], USER_AGENT_VALUE);
    assert!(USER_AGENT_VALUE.starts_with("logto-m2m-proto/"));
    // base64("m2m-app:m2m-secret"), the header the recorded requests used.
    assert_eq!(headers["authorization"], "Basic bTJtLWFwcDptMm0tc2VjcmV0");
    assert!(headers["authorization"].is_sensitive());
    assert_eq!(
        String::from_utf8(http.into_body()).unwrap(),
        "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com&scope=read%3Aitems+write%3Aitems"
    );
}

#[test]
fn post_request_carries_the_credentials_in_the_body_and_no_authorization_header() {
    let request = TokenRequest::new(
        &post_config(),
        TokenParams::for_resource(API).scope("read:items"),
    )
    .unwrap();
    let http = request.to_http();
    assert!(http.headers().get("authorization").is_none());
    assert_eq!(
        String::from_utf8(http.into_body()).unwrap(),
        "grant_type=client_credentials&client_id=m2m-app&client_secret=m2m-secret\
         &resource=https%3A%2F%2Fapi.example.com&scope=read%3Aitems"
    );
}

#[test]
fn golden_bodies_for_every_parameter_combination() {
    let cases: Vec<(TokenParams, &str)> = vec![
        (
            TokenParams::for_resource(API),
            "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com",
        ),
        (
            TokenParams::for_organization("org-1"),
            "grant_type=client_credentials&organization_id=org-1",
        ),
        (
            TokenParams::for_organization("org-1").scopes(["org:read", "other"]),
            "grant_type=client_credentials&organization_id=org-1&scope=org%3Aread+other",
        ),
        (
            TokenParams::for_resource(API)
                .organization("org-1")
                .scope("read:items"),
            "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com&organization_id=org-1&scope=read%3Aitems",
        ),
        (
            // Duplicates removed, order kept.
            TokenParams::for_resource(API).scopes(["b", "a", "b", "c", "a"]),
            "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com&scope=b+a+c",
        ),
        (
            TokenParams::for_resource(API)
                .extra_param("audience", "x y")
                .extra_param("prompt", "&="),
            "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com&audience=x+y&prompt=%26%3D",
        ),
        (
            TokenParams::new().allow_default_resource(),
            "grant_type=client_credentials",
        ),
    ];
    for (params, expected) in cases {
        assert_eq!(
            body(&TokenRequest::new(&config(), params).unwrap()),
            expected
        );
    }
    let post = TokenRequest::new(
        &post_config(),
        TokenParams::for_organization("org-1").extra_param("k", "v"),
    )
    .unwrap();
    assert_eq!(
        body(&post),
        "grant_type=client_credentials&client_id=m2m-app&client_secret=m2m-secret&organization_id=org-1&k=v"
    );
}

#[test]
fn basic_credentials_are_form_encoded_before_base64() {
    // RFC 6749 §2.3.1: id and secret are application/x-www-form-urlencoded, then joined by ':'.
    let config = ClientConfig::builder("https://tenant.logto.app", "a:b c", "s+e/c%r é")
        .build()
        .unwrap();
    let request = TokenRequest::new(&config, TokenParams::for_resource(API)).unwrap();
    let header = request.to_http().headers()["authorization"]
        .to_str()
        .unwrap()
        .to_owned();
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(header.strip_prefix("Basic ").unwrap())
        .unwrap();
    assert_eq!(
        String::from_utf8(decoded).unwrap(),
        "a%3Ab+c:s%2Be%2Fc%25r+%C3%A9"
    );
}

#[test]
fn endpoint_is_validated_and_normalised() {
    let build = |endpoint: &str| ClientConfig::builder(endpoint, "id", "secret").build();
    assert_eq!(
        build("https://t.logto.app/").unwrap().token_endpoint(),
        "https://t.logto.app/oidc/token"
    );
    assert_eq!(
        build("https://auth.example.com/logto/")
            .unwrap()
            .token_endpoint(),
        "https://auth.example.com/logto/oidc/token"
    );
    assert_eq!(
        build("http://localhost:3001").unwrap().endpoint(),
        "http://localhost:3001"
    );
    assert_eq!(
        build("http://[::1]:3001").unwrap().endpoint(),
        "http://[::1]:3001"
    );
    assert!(build("http://127.5.0.1").is_ok());
    assert!(matches!(
        build("http://auth.example.com"),
        Err(ConfigError::InsecureHttp { .. })
    ));
    assert!(matches!(
        build("http://10.0.0.1"),
        Err(ConfigError::InsecureHttp { .. })
    ));
    for bad in [
        "auth.example.com",
        "/relative",
        "https://e.com/?q=1",
        "https://e.com/#f",
        "https://u:p@e.com",
        "ftp://e.com",
    ] {
        assert!(
            matches!(build(bad), Err(ConfigError::InvalidUrl { .. })),
            "{bad}"
        );
    }
    let insecure = ClientConfig::builder("http://logto.internal", "id", "secret")
        .allow_insecure_http(true)
        .build();
    assert_eq!(
        insecure.unwrap().token_endpoint(),
        "http://logto.internal/oidc/token"
    );
    let custom = ClientConfig::builder("https://e.com", "id", "secret")
        .token_endpoint("https://e.com/custom/token")
        .build();
    assert_eq!(
        custom.unwrap().token_endpoint(),
        "https://e.com/custom/token"
    );
    assert!(matches!(
        ClientConfig::builder("https://e.com", "id", "secret")
            .token_endpoint("http://e.com/token")
            .build(),
        Err(ConfigError::InsecureHttp { .. })
    ));
    assert_eq!(
        ClientConfig::builder("https://e.com", "", "secret")
            .build()
            .unwrap_err(),
        ConfigError::EmptyAppId
    );
    assert_eq!(
        ClientConfig::builder("https://e.com", "id", "")
            .build()
            .unwrap_err(),
        ConfigError::EmptyAppSecret
    );
}

#[test]
fn what_logto_would_refuse_is_refused_locally() {
    let refuse = |params: TokenParams| TokenRequest::new(&config(), params).unwrap_err();
    assert_eq!(
        refuse(TokenParams::new()),
        ConfigError::NoResourceOrOrganization
    );
    assert_eq!(
        refuse(TokenParams::for_resource(API).resource("https://default.logto.app/api")),
        ConfigError::MultipleResources
    );
    assert!(matches!(
        refuse(TokenParams::for_resource("not-a-uri")),
        ConfigError::InvalidResource { .. }
    ));
    assert!(matches!(
        refuse(TokenParams::for_resource("https://api.example.com#x")),
        ConfigError::InvalidResource { .. }
    ));
    assert!(matches!(
        refuse(TokenParams::for_resource("https://api.example.com#")),
        ConfigError::InvalidResource { .. }
    ));
    assert!(matches!(
        refuse(TokenParams::for_resource("")),
        ConfigError::InvalidResource { .. }
    ));
    assert_eq!(
        refuse(TokenParams::for_organization("")),
        ConfigError::EmptyOrganizationId
    );
    for scope in ["", "a b", "quote\"", "back\\slash", "tab\t", "é"] {
        assert!(
            matches!(
                refuse(TokenParams::for_resource(API).scope(scope)),
                ConfigError::InvalidScope { .. }
            ),
            "{scope:?}"
        );
    }
    for name in logto_m2m_proto::RESERVED_PARAMETERS {
        assert_eq!(
            refuse(TokenParams::for_resource(API).extra_param(name, "x")),
            ConfigError::ReservedParameter {
                name: name.to_owned()
            }
        );
    }
    // URNs are absolute URIs and are sent as given (no normalisation).
    let urn = TokenRequest::new(&config(), TokenParams::for_resource("urn:example:api")).unwrap();
    assert_eq!(
        body(&urn),
        "grant_type=client_credentials&resource=urn%3Aexample%3Aapi"
    );
}

#[test]
fn management_api_presets() {
    let cloud = ClientConfig::builder(
        management_api::cloud_endpoint("my-tenant").unwrap(),
        "id",
        "secret",
    )
    .build()
    .unwrap();
    let params = management_api::cloud_token_params("my-tenant").unwrap();
    assert_eq!(
        body(&TokenRequest::new(&cloud, params.clone()).unwrap()),
        "grant_type=client_credentials&resource=https%3A%2F%2Fmy-tenant.logto.app%2Fapi&scope=all"
    );
    // The same Cloud resource through a custom domain is refused, with the reason.
    let custom = ClientConfig::builder("https://auth.example.com", "id", "secret")
        .build()
        .unwrap();
    let error = TokenRequest::new(&custom, params).unwrap_err();
    assert!(matches!(
        error,
        ConfigError::ManagementApiViaCustomDomain { .. }
    ));
    assert!(error.to_string().contains("logto.app"));
    // Self-hosted: any endpoint, the `default` tenant's indicator.
    assert_eq!(
        body(&TokenRequest::new(&custom, management_api::self_hosted_token_params()).unwrap()),
        "grant_type=client_credentials&resource=https%3A%2F%2Fdefault.logto.app%2Fapi&scope=all"
    );
    for bad in ["", "-x", "x-", "Upper", "a.b", "a/b"] {
        assert!(management_api::cloud_endpoint(bad).is_err(), "{bad}");
    }
}

#[test]
fn redacted_display_hides_every_secret() {
    let basic = TokenRequest::new(&config(), TokenParams::for_resource(API))
        .unwrap()
        .to_http();
    let printed = redacted(&basic).to_string();
    assert!(
        printed.starts_with("POST http://127.0.0.1:3001/oidc/token HTTP/1.1\n"),
        "{printed}"
    );
    assert!(printed.contains("authorization: [redacted]"), "{printed}");
    assert!(!printed.contains("bTJtLWFwcDptMm0tc2VjcmV0"));
    let post = TokenRequest::new(&post_config(), TokenParams::for_resource(API))
        .unwrap()
        .to_http();
    let printed = redacted(&post).to_string();
    assert!(
        printed.contains("client_secret=%5Bredacted%5D"),
        "{printed}"
    );
    assert!(!printed.contains("m2m-secret"));
}

#[test]
fn cache_keys_ignore_scope_order_but_nothing_else() {
    let key = |params: TokenParams| TokenRequest::new(&config(), params).unwrap().key().clone();
    let base = key(TokenParams::for_resource(API).scopes(["a", "b"]));
    assert_eq!(
        base,
        key(TokenParams::for_resource(API).scopes(["b", "a", "b"]))
    );
    assert_ne!(base, key(TokenParams::for_resource(API).scope("a")));
    assert_ne!(
        base,
        key(TokenParams::for_resource("https://other.example.com").scopes(["a", "b"]))
    );
    assert_ne!(
        base,
        key(TokenParams::for_resource(API)
            .organization("o")
            .scopes(["a", "b"]))
    );
    assert_ne!(
        base,
        key(TokenParams::for_resource(API)
            .scopes(["a", "b"])
            .extra_param("k", "v"))
    );
    let post = TokenRequest::new(
        &post_config(),
        TokenParams::for_resource(API).scopes(["a", "b"]),
    )
    .unwrap();
    assert_ne!(&base, post.key());
}

#[test]
fn plain_http_goes_only_to_literal_loopback_addresses_and_localhost() {
    let build = |endpoint: &str| ClientConfig::builder(endpoint, "id", "secret").build();
    for loopback in [
        "http://localhost:3001",
        "http://LocalHost:3001",
        "http://127.0.0.1",
        "http://127.9.9.9:3001",
        "http://[::1]:3001",
        "http://[::ffff:127.0.0.1]",
    ] {
        assert!(build(loopback).is_ok(), "{loopback}");
    }
    // A resolver may send these names to DNS, which can answer with any address.
    for through_dns in [
        "http://localhost.:3001",
        "http://auth.localhost",
        "http://localhost.localhost:3001",
    ] {
        assert!(
            matches!(build(through_dns), Err(ConfigError::InsecureHttp { .. })),
            "{through_dns}"
        );
    }
}

#[test]
fn an_endpoint_pasted_with_an_oidc_path_is_refused_with_the_base_url_to_give() {
    for (pasted, suffix, base) in [
        ("https://t.logto.app/oidc", "/oidc", "https://t.logto.app"),
        ("https://t.logto.app/oidc/", "/oidc", "https://t.logto.app"),
        (
            "https://t.logto.app/oidc/token",
            "/oidc/token",
            "https://t.logto.app",
        ),
        (
            "https://auth.example.com/logto/oidc/token/",
            "/oidc/token",
            "https://auth.example.com/logto",
        ),
        (
            "http://localhost:3001/oidc/.well-known/openid-configuration",
            "/oidc/.well-known/openid-configuration",
            "http://localhost:3001",
        ),
    ] {
        let error = ClientConfig::builder(pasted, "id", "secret")
            .build()
            .unwrap_err();
        assert_eq!(
            error,
            ConfigError::EndpointWithOidcPath {
                endpoint: pasted.to_owned(),
                suffix,
                base: base.to_owned(),
            },
            "{pasted}"
        );
        assert!(
            error.to_string().contains(&format!("{base:?} instead")),
            "{error}"
        );
        assert_eq!(
            logto_m2m_proto::Discovery::new(pasted, false).unwrap_err(),
            error
        );
    }
    assert_eq!(
        ClientConfig::builder("https://t.logto.app/oidc/token", "id", "secret")
            .build()
            .unwrap_err()
            .to_string(),
        "the endpoint \"https://t.logto.app/oidc/token\" ends in Logto's OIDC path \"/oidc/token\": \
         give Logto's base URL \"https://t.logto.app\" instead (the token endpoint \
         https://t.logto.app/oidc/token is derived from it)"
    );
    // A path that only looks alike is a base URL; an explicit token endpoint may end in /oidc/token.
    assert!(
        ClientConfig::builder("https://e.com/oidc-proxy", "id", "secret")
            .build()
            .is_ok()
    );
    assert_eq!(
        ClientConfig::builder("https://e.com", "id", "secret")
            .token_endpoint("https://e.com/oidc/token")
            .build()
            .unwrap()
            .token_endpoint(),
        "https://e.com/oidc/token"
    );
}

#[test]
fn endpoints_are_written_in_one_normal_form() {
    let endpoint = |endpoint: &str| {
        ClientConfig::builder(endpoint, "id", "secret")
            .build()
            .unwrap()
            .endpoint()
            .to_owned()
    };
    assert_eq!(endpoint("HTTPS://T.Logto.APP/"), "https://t.logto.app");
    assert_eq!(endpoint("https://t.logto.app:443"), "https://t.logto.app");
    assert_eq!(
        endpoint("https://t.logto.app:8443/"),
        "https://t.logto.app:8443"
    );
    assert_eq!(endpoint("http://[0:0:0:0:0:0:0:1]:80"), "http://[::1]");
    assert_eq!(
        ClientConfig::builder("https://T.logto.app", "id", "secret")
            .token_endpoint("https://E.com")
            .build()
            .unwrap()
            .token_endpoint(),
        "https://e.com/"
    );
    for bad in [
        "https://",
        "https:///path",
        "https://e.com/?",
        "https://e.com/#",
        "https://@e.com",
        "https://bücher.example",
        "https://e com",
        "https://e.com:99999",
        "https://[::1",
        "https://[not-an-ip]",
        "mailto:admin@e.com",
    ] {
        assert!(
            matches!(
                ClientConfig::builder(bad, "id", "secret").build(),
                Err(ConfigError::InvalidUrl { .. })
            ),
            "{bad}"
        );
    }
    assert!(
        ClientConfig::builder("https://bücher.example", "id", "secret")
            .build()
            .unwrap_err()
            .to_string()
            .contains("xn--")
    );
}
