//! HTTPS: a certificate chain and key from PEM files, or, for development, a local
//! certificate authority and a `localhost` certificate it signs, created once in the
//! data dir. Clients trust the development CA file, not each leaf certificate.

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

/// The PEM files a TLS listener serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// For a development certificate: the CA file clients should trust.
    pub ca: Option<PathBuf>,
}

/// The development certificate authority in `data_dir/tls`: its certificate (what
/// clients trust) and its key (kept beside it, owner-only), made on first use. It
/// signs the `localhost` certificate and, for the intercepting proxy, a certificate
/// per intercepted host.
pub struct DevCa {
    dir: PathBuf,
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// The CA's name and constraints; the same every time, so a CA made by an earlier
/// start is rebuilt from its key alone.
fn ca_params() -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params
        .distinguished_name
        .push(DnType::CommonName, "cloudpc-partners development CA");
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(params)
}

impl DevCa {
    /// The CA kept in `data_dir/tls`, made if there is none. A CA file without its
    /// key (made by a version that did not keep the key) is replaced, with the
    /// certificates it signed: clients must then trust the new `dev-ca.pem`.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        let dir = data_dir.join("tls");
        let cert_path = dir.join("dev-ca.pem");
        let key_path = dir.join("dev-ca-key.pem");
        if let (Ok(cert_pem), Ok(key_pem)) = (
            std::fs::read_to_string(&cert_path),
            std::fs::read_to_string(&key_path),
        ) {
            let key = KeyPair::from_pem(&key_pem)
                .with_context(|| format!("the CA key {} is not a key", key_path.display()))?;
            return Ok(DevCa {
                issuer: Issuer::new(ca_params()?, key),
                cert_pem,
                dir,
            });
        }
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        if cert_path.exists() {
            tracing::warn!(ca = %cert_path.display(), "the development CA has no key beside it: making a new CA; trust the new file");
            let _ = std::fs::remove_dir_all(dir.join("hosts"));
            let _ = std::fs::remove_file(dir.join("localhost.pem"));
        }
        let params = ca_params()?;
        let key = KeyPair::generate()?;
        let cert_pem = params.self_signed(&key)?.pem();
        write_private(&key_path, key.serialize_pem().as_bytes())?;
        std::fs::write(&cert_path, &cert_pem)
            .with_context(|| format!("cannot write {}", cert_path.display()))?;
        Ok(DevCa {
            issuer: Issuer::new(params, key),
            cert_pem,
            dir,
        })
    }

    /// The file clients trust.
    pub fn cert_file(&self) -> PathBuf {
        self.dir.join("dev-ca.pem")
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A server certificate for `names` (host names or IP addresses), kept as
    /// `stem.pem` (leaf, then the CA) and `stem-key.pem`, made on first use.
    pub fn leaf(&self, stem: &str, names: &[&str]) -> anyhow::Result<TlsFiles> {
        let files = TlsFiles {
            cert: self.dir.join(format!("{stem}.pem")),
            key: self.dir.join(format!("{stem}-key.pem")),
            ca: Some(self.cert_file()),
        };
        if files.cert.exists() && files.key.exists() {
            return Ok(files);
        }
        if let Some(parent) = files.cert.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let (chain, key) = self.sign(names)?;
        // The key first: a certificate file is only taken as made when its key exists.
        write_private(&files.key, key.as_bytes())?;
        std::fs::write(&files.cert, chain)?;
        Ok(files)
    }

    /// A leaf certificate chain (leaf, then the CA) and its key, both PEM.
    pub fn sign(&self, names: &[&str]) -> anyhow::Result<(String, String)> {
        let mut leaf =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
        leaf.distinguished_name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("localhost"),
        );
        leaf.use_authority_key_identifier_extension = true;
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate()?;
        let cert = leaf.signed_by(&key, &self.issuer)?;
        Ok((
            format!("{}{}", cert.pem(), self.cert_pem),
            key.serialize_pem(),
        ))
    }
}

/// Makes ring the process's rustls provider, for the HTTP clients (reqwest takes
/// the process default; the listeners name ring themselves). Idempotent: a provider
/// already installed, by us or an embedding program, is kept.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The development CA and `localhost` certificate in `data_dir/tls`, created on first use.
pub fn development_certificate(data_dir: &Path) -> anyhow::Result<TlsFiles> {
    DevCa::load_or_create(data_dir)?.leaf("localhost", &["localhost", "127.0.0.1", "::1"])
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}

/// The rustls configuration for the files.
pub async fn server_config(
    files: &TlsFiles,
) -> anyhow::Result<axum_server::tls_rustls::RustlsConfig> {
    axum_server::tls_rustls::RustlsConfig::from_pem_chain_file(&files.cert, &files.key)
        .await
        .with_context(|| {
            format!(
                "cannot load the TLS certificate {} and key {}",
                files.cert.display(),
                files.key.display()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_certificate_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = development_certificate(dir.path()).unwrap();
        let pem = std::fs::read_to_string(&first.cert).unwrap();
        assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 2, "leaf and CA");
        let again = development_certificate(dir.path()).unwrap();
        assert_eq!(first, again);
        assert_eq!(std::fs::read_to_string(&again.cert).unwrap(), pem);
        // A host's certificate is signed by the same CA, and kept too.
        let ca = DevCa::load_or_create(dir.path()).unwrap();
        let host = ca
            .leaf("hosts/graph.microsoft.com", &["graph.microsoft.com"])
            .unwrap();
        let chain = std::fs::read_to_string(&host.cert).unwrap();
        assert!(chain.ends_with(ca.cert_pem()));
        assert_eq!(ca.leaf("hosts/graph.microsoft.com", &[]).unwrap(), host);
        assert_eq!(std::fs::read_to_string(&host.cert).unwrap(), chain);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&first.key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
