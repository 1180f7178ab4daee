//! A blocking [`logto_m2m::BlockingTransport`] over [ureq] 3.
//!
//! [`UreqTransport`] sends token requests over rustls (ring, webpki roots), refuses plain `http`
//! except to loopback hosts, never follows redirects, returns 4xx and 5xx answers as responses
//! (OAuth error bodies must reach the parser), enforces a connect timeout, an overall timeout and a
//! response-size cap while reading, and reuses connections.
//!
//! # Logging: keep `ureq_proto` at `debug` or below
//!
//! At `trace` level, ureq's protocol crate (log target `ureq_proto`) hex-dumps the head of every
//! request and the head and body of every response, 16 bytes a line: the `Authorization: Basic`
//! credentials and the access token included. Neither ureq nor this transport can switch it off,
//! and a library cannot filter your logger. Add `ureq_proto=debug` (or `ureq_proto=off`) to your
//! filter whatever else is at `trace`: `RUST_LOG=trace,ureq_proto=debug` with `env_logger`, or the
//! same directive in `tracing_subscriber::EnvFilter` when `log` records reach `tracing`. ureq's own
//! records (target `ureq`) redact these headers and log no body.
//!
//! # Proxies
//!
//! None unless configured with [`UreqTransportBuilder::proxy`]: `HTTP_PROXY`, `HTTPS_PROXY` and
//! `ALL_PROXY` are ignored, so that a variable set for other programs cannot send the credentials
//! through a proxy.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use logto_m2m::BlockingTransport;
//! use logto_m2m_ureq::UreqTransport;
//!
//! let transport = UreqTransport::builder()
//!     .timeout(Duration::from_secs(5))
//!     .max_response_bytes(32 * 1024)
//!     .build();
//! let request = logto_m2m::proto::http::Request::post("https://tenant.logto.app/oidc/token")
//!     .header("content-type", "application/x-www-form-urlencoded")
//!     .body(b"grant_type=client_credentials".to_vec())?;
//! let response = transport.send(request)?;
//! println!("{}", response.status());
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod manager;
mod transport;

pub use error::UreqTransportError;
pub use manager::{token_manager, token_manager_for, token_manager_from_env};
pub use transport::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT,
    UreqTransport, UreqTransportBuilder,
};
/// The ureq version this transport is built on, for inspecting the errors it wraps.
pub use ureq;
