//! Logto machine-to-machine token managers over the `logto-m2m-proto` state machine.
#![forbid(unsafe_code)]

pub mod transport;

pub use logto_m2m_proto as proto;
pub use transport::{BlockingTransport, IntoTransportError, Transport};
