//! Throwaway certificates for the `rediss://` tests: a CA of the test's own, and a server
//! certificate it signs for 127.0.0.1 and localhost.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

/// A server's certificate and key, and the CA that signed it, all PEM.
pub struct ServerCertificates {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

/// Where [`ServerCertificates::write_to`] put the files.
pub struct CertificateFiles {
    pub ca: String,
    pub cert: String,
    pub key: String,
}

impl ServerCertificates {
    /// A new CA (named `name`) and a server certificate it signs for 127.0.0.1 and localhost.
    pub fn generate(name: &str) -> Self {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, name);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        Self {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// Writes the three PEM files into `dir`.
    pub fn write_to(&self, dir: &Path) -> CertificateFiles {
        let write = |name: &str, pem: &str| {
            let path = dir.join(name);
            std::fs::write(&path, pem).unwrap();
            path.to_str().unwrap().to_owned()
        };
        CertificateFiles {
            ca: write("ca.pem", &self.ca_pem),
            cert: write("server.pem", &self.cert_pem),
            key: write("server.key", &self.key_pem),
        }
    }
}

/// Makes ring rustls' process default (as the store does before its first TLS connection), for
/// the test's own TLS clients.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
