//! An async [`logto_m2m::Transport`] over [hyper] 1, hyper-util's pooled client and rustls.
//!
//! [`HyperTransport`] sends token requests over rustls (ring, webpki roots), refuses plain `http`
//! except to loopback hosts, never follows redirects, returns 4xx and 5xx answers as responses
//! (OAuth error bodies must reach the parser), enforces a connect timeout, an overall timeout and a
//! response-size cap while reading, and reuses connections.
//!
//! It needs tokio: hyper-util's client connects, times out and spawns its connection tasks with
//! tokio. Await it inside a tokio runtime (with I/O and time enabled), or give it a runtime handle
//! with [`HyperTransportBuilder::tokio_handle`] to await it from any executor.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use logto_m2m::Transport;
//! use logto_m2m_hyper::HyperTransport;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let transport = HyperTransport::builder()
//!     .timeout(Duration::from_secs(5))
//!     .max_response_bytes(32 * 1024)
//!     .build();
//! let request = logto_m2m::proto::http::Request::post("https://tenant.logto.app/oidc/token")
//!     .header("content-type", "application/x-www-form-urlencoded")
//!     .body(b"grant_type=client_credentials".to_vec())?;
//! let response = transport.send(request).await?;
//! println!("{}", response.status());
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod connector;
mod error;
mod manager;
mod transport;

pub use error::HyperTransportError;
pub use manager::{token_manager, token_manager_for, token_manager_from_env, with_tokio};
pub use transport::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT,
    HyperTransport, HyperTransportBuilder,
};
