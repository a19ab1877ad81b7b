//! The certificates the proxy presents: one per intercepted host, signed by the
//! development CA, made on first use and kept in `DATA_DIR/tls/hosts/`, so a client
//! that trusts `dev-ca.pem` trusts every host the proxy answers for.

use crate::tls::DevCa;
use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The development CA and the TLS settings made from it, one per host.
pub struct HostCertificates {
    ca: DevCa,
    configs: Mutex<HashMap<String, Arc<rustls::ServerConfig>>>,
}

impl HostCertificates {
    pub fn new(ca: DevCa) -> Self {
        HostCertificates {
            ca,
            configs: Mutex::default(),
        }
    }

    /// The TLS settings a tunnel to `host` is served with; `host` must be a DNS name
    /// (it names the kept files).
    pub fn config_for(&self, host: &str) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        if !super::is_host_name(host) {
            anyhow::bail!("'{host}' is not a host name");
        }
        if let Some(config) = self.lock().get(host) {
            return Ok(config.clone());
        }
        let files = self.ca.leaf(&format!("hosts/{host}"), &[host])?;
        let chain = CertificateDer::pem_file_iter(&files.cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .with_context(|| format!("cannot read {}", files.cert.display()))?;
        let key = PrivateKeyDer::from_pem_file(&files.key)
            .with_context(|| format!("cannot read {}", files.key.display()))?;
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let config = Arc::new(config);
        self.lock().insert(host.to_owned(), config.clone());
        Ok(config)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<rustls::ServerConfig>>> {
        self.configs.lock().unwrap_or_else(|e| e.into_inner())
    }
}
