//! A transport implementer and a caller name everything through `logto_m2m` alone: no direct
//! dependency on `logto-m2m-proto` or `async-trait` is needed.
#![allow(clippy::unwrap_used)]

use logto_m2m::proto::http::{Request, Response};
use logto_m2m::{
    AsyncTokenManager, ClientConfig, ConfigError, Error, ErrorCode, OAuthError, TokenParams,
    Transport, TransportError, TransportErrorKind, check_url,
};

/// A transport that refuses what `check_url` refuses and answers like Logto for an unknown
/// resource.
struct UnknownResource;

#[logto_m2m::async_trait]
impl Transport for UnknownResource {
    type Error = TransportError;

    async fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, TransportError> {
        check_url(request.uri(), false)
            .map_err(|refusal| TransportError::new(TransportErrorKind::InvalidRequest, refusal))?;
        Ok(Response::builder()
            .status(400)
            .header("content-type", "application/json")
            .body(
                br#"{"error":"invalid_target","error_description":"resource indicator is missing, or unknown"}"#
                    .to_vec(),
            )
            .unwrap())
    }
}

#[test]
fn a_transport_and_its_errors_need_only_this_crate() {
    let config: Result<ClientConfig, ConfigError> =
        ClientConfig::builder("https://t.logto.app", "app", "secret").build();
    let manager = AsyncTokenManager::new(UnknownResource, config.unwrap());
    let source = manager
        .source(TokenParams::for_resource("https://unknown.example.com"))
        .unwrap();
    let error: Error = smol::block_on(source.token()).unwrap_err();
    assert_eq!(error.oauth_error_code(), Some(&ErrorCode::InvalidTarget));
    let oauth: &OAuthError = error.oauth_error().unwrap();
    assert_eq!(
        oauth.description.as_deref(),
        Some("resource indicator is missing, or unknown")
    );

    let insecure = ClientConfig::builder("http://logto.internal", "app", "secret")
        .allow_insecure_http(true)
        .build()
        .unwrap();
    let manager = AsyncTokenManager::new(UnknownResource, insecure);
    let source = manager
        .source(TokenParams::for_resource("https://api.example.com"))
        .unwrap();
    let error = smol::block_on(source.token()).unwrap_err();
    let Error::Transport(transport) = &error else {
        panic!("{error}")
    };
    assert_eq!(transport.kind(), TransportErrorKind::InvalidRequest);
    assert!(
        error
            .to_string()
            .contains("refusing plain http to non-loopback host \"logto.internal\""),
        "{error}"
    );
}
