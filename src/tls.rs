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

/// The development CA and `localhost` certificate in `data_dir/tls`, created on first use.
pub fn development_certificate(data_dir: &Path) -> anyhow::Result<TlsFiles> {
    let dir = data_dir.join("tls");
    let files = TlsFiles {
        cert: dir.join("localhost.pem"),
        key: dir.join("localhost-key.pem"),
        ca: Some(dir.join("dev-ca.pem")),
    };
    if files.cert.exists() && files.key.exists() {
        return Ok(files);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;

    let mut ca_params = CertificateParams::new(Vec::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "cloudpc-partners development CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut leaf = CertificateParams::new(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ])?;
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf.use_authority_key_identifier_extension = true;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = KeyPair::generate()?;
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;

    if let Some(ca) = &files.ca {
        std::fs::write(ca, ca_cert.pem())?;
    }
    // The chain the server presents: leaf, then the CA.
    std::fs::write(&files.cert, format!("{}{}", leaf_cert.pem(), ca_cert.pem()))?;
    write_private(&files.key, leaf_key.serialize_pem().as_bytes())?;
    Ok(files)
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
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&first.key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
