//! The certificates a store trusts for `rediss://` instead of the webpki roots (a private CA's):
//! read and checked when the store is built, so that a bad bundle fails there, not at the first
//! connection.

use redis::TlsCertificates;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::error::RedisConfigError;

/// One or more root certificates, as PEM.
#[derive(Clone)]
pub(crate) struct RootCertificates {
    pem: Vec<u8>,
}

impl RootCertificates {
    /// Checks that `pem` holds at least one certificate and that each can be a trust anchor.
    pub(crate) fn from_pem(pem: &[u8]) -> Result<Self, RedisConfigError> {
        let mut store = RootCertStore::empty();
        for certificate in CertificateDer::pem_slice_iter(pem) {
            let certificate = certificate.map_err(|error| {
                RedisConfigError::RootCertificates(format!("not a PEM certificate: {error}"))
            })?;
            store.add(certificate).map_err(|error| {
                RedisConfigError::RootCertificates(format!("not a usable root: {error}"))
            })?;
        }
        if store.is_empty() {
            return Err(RedisConfigError::RootCertificates(
                "no PEM certificate in it".into(),
            ));
        }
        Ok(Self { pem: pem.to_vec() })
    }

    /// What the redis crate takes: these roots, and no client certificate.
    pub(crate) fn certificates(&self) -> TlsCertificates {
        TlsCertificates {
            client_tls: None,
            root_cert: Some(self.pem.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_without_a_certificate_is_refused() {
        for pem in [
            &b""[..],
            b"not pem at all",
            b"-----BEGIN PRIVATE KEY-----\nMC4CAQA=\n-----END PRIVATE KEY-----\n",
            b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        ] {
            assert!(
                matches!(
                    RootCertificates::from_pem(pem),
                    Err(RedisConfigError::RootCertificates(_))
                ),
                "{:?}",
                String::from_utf8_lossy(pem)
            );
        }
    }
}
