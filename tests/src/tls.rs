//! Throwaway certificates for TLS tests: a CA, a certificate it issues for the
//! loopback listeners (`localhost` and `127.0.0.1`) and one for a client, all
//! written as PEM files, plus channels that trust that CA.

use std::path::{Path, PathBuf};
use std::time::Duration;

use platform::Settings;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// A CA and the certificates it issued, as PEM files in one directory.
#[derive(Clone, Debug)]
pub struct TestPki {
    pub ca_file: PathBuf,
    pub server_cert_file: PathBuf,
    pub server_key_file: PathBuf,
    pub client_cert_file: PathBuf,
    pub client_key_file: PathBuf,
    ca_pem: String,
    client_cert_pem: String,
    client_key_pem: String,
}

impl TestPki {
    /// A fresh CA named `name`, with a server and a client certificate, written
    /// under `dir` (files prefixed with `name`).
    pub fn generate(dir: &Path, name: &str) -> Self {
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, format!("Involve test CA {name}"));
        ca_params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca_cert = ca_params.self_signed(&ca_key).expect("a self-signed CA");
        let issuer = Issuer::new(ca_params, ca_key);

        let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose, common_name: &str| {
            let key = KeyPair::generate().expect("a key");
            let mut params = CertificateParams::new(names).expect("certificate parameters");
            params.distinguished_name.push(DnType::CommonName, common_name);
            params.extended_key_usages = vec![usage];
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
            let cert = params.signed_by(&key, &issuer).expect("a certificate signed by the CA");
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = leaf(
            vec!["localhost".into(), "127.0.0.1".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
            "localhost",
        );
        let (client_cert, client_key) =
            leaf(vec!["riverside.example".into()], ExtendedKeyUsagePurpose::ClientAuth, "riverside");

        let write = |file: &str, pem: &str| {
            let path = dir.join(format!("{name}-{file}"));
            std::fs::write(&path, pem).expect("writes a PEM file");
            path
        };
        Self {
            ca_file: write("ca.pem", &ca_cert.pem()),
            server_cert_file: write("server.pem", &server_cert),
            server_key_file: write("server.key", &server_key),
            client_cert_file: write("client.pem", &client_cert),
            client_key_file: write("client.key", &client_key),
            ca_pem: ca_cert.pem(),
            client_cert_pem: client_cert,
            client_key_pem: client_key,
        }
    }

    /// Serves the listener of `settings` over TLS with the server certificate;
    /// with `mutual`, client certificates from this CA are required.
    pub fn serve_tls(&self, settings: &mut Settings, mutual: bool) {
        settings.server.tls.cert_file = Some(self.server_cert_file.clone());
        settings.server.tls.key_file = Some(self.server_key_file.clone());
        settings.server.tls.client_ca_file = mutual.then(|| self.ca_file.clone());
    }

    /// A client that trusts this CA and presents no certificate.
    pub fn client(&self) -> ClientTlsConfig {
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&self.ca_pem))
    }

    /// A client that trusts this CA and presents the client certificate.
    pub fn client_with_certificate(&self) -> ClientTlsConfig {
        self.client().identity(Identity::from_pem(&self.client_cert_pem, &self.client_key_pem))
    }
}

/// A channel to `endpoint` (`https://...`) over TLS, connected now.
pub async fn connect_tls(endpoint: &str, tls: ClientTlsConfig) -> Result<Channel, tonic::transport::Error> {
    Channel::from_shared(endpoint.to_owned())
        .expect("endpoint")
        .tls_config(tls)?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
}
