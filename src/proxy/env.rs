//! `cloudpc-partners env`: the environment an unchanged app needs to reach the
//! stand-in through the intercepting proxy, as lines a shell evaluates.
//!
//! Proxy variables are given in both cases (curl reads only the lower-case
//! `http_proxy`; many tools only the upper case). Python's `ssl`, requests, httpx and
//! curl are given a bundle of the system's roots plus the development CA, since
//! their variables replace the default roots and pass-through hosts must still
//! verify; Node's `NODE_EXTRA_CA_CERTS` adds to its roots, so it gets the CA alone.

use crate::tls::DevCa;
use anyhow::Context;
use std::path::{Path, PathBuf};

/// The shells `env` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    /// POSIX shells: `export NAME='value'`.
    Sh,
    /// `set -gx NAME 'value'`.
    Fish,
    /// `$env:NAME = 'value'`.
    Powershell,
}

/// Where the system keeps its trusted roots, by distribution.
const SYSTEM_ROOTS: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The variables, in the order they are printed.
pub fn variables(proxy: &str, bundle: &Path, ca: &Path) -> Vec<(&'static str, String)> {
    let proxy_url = format!("http://{proxy}");
    let loopback = "localhost,127.0.0.1,::1".to_owned();
    let bundle = bundle.display().to_string();
    vec![
        ("HTTPS_PROXY", proxy_url.clone()),
        ("https_proxy", proxy_url.clone()),
        ("HTTP_PROXY", proxy_url.clone()),
        ("http_proxy", proxy_url),
        ("NO_PROXY", loopback.clone()),
        ("no_proxy", loopback),
        ("SSL_CERT_FILE", bundle.clone()),
        ("REQUESTS_CA_BUNDLE", bundle.clone()),
        ("CURL_CA_BUNDLE", bundle),
        ("NODE_EXTRA_CA_CERTS", ca.display().to_string()),
        // Node 24 (and 22.21) route fetch through the proxy variables with this set;
        // older Node needs the preload the README names.
        ("NODE_USE_ENV_PROXY", "1".to_owned()),
    ]
}

/// One line that sets `name` to `value` in `shell`.
pub fn line(shell: Shell, name: &str, value: &str) -> String {
    match shell {
        Shell::Sh => format!("export {name}={}", sh_quote(value)),
        Shell::Fish => format!("set -gx {name} {}", sh_quote(value)),
        Shell::Powershell => format!("$env:{name} = '{}'", value.replace('\'', "''")),
    }
}

/// A single-quoted word for sh and fish.
fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

/// Makes (or reuses) the development CA in `data_dir` and writes the bundle beside
/// it; the CA file and the bundle, as absolute paths.
pub fn prepare(data_dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let data_dir = std::fs::canonicalize(data_dir)?;
    let ca = DevCa::load_or_create(&data_dir)?;
    let roots = SYSTEM_ROOTS
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_else(|| {
            tracing::warn!("no system root certificates found: the bundle holds the development CA alone, so passed-through HTTPS hosts will not verify");
            String::new()
        });
    let bundle = data_dir.join("tls").join("ca-bundle.pem");
    let mut text = roots;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(ca.cert_pem());
    std::fs::write(&bundle, text).with_context(|| format!("cannot write {}", bundle.display()))?;
    Ok((ca.cert_file(), bundle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_shell_gets_its_own_quoting() {
        assert_eq!(line(Shell::Sh, "A", "it's"), "export A='it'\\''s'");
        assert_eq!(line(Shell::Fish, "A", "x y"), "set -gx A 'x y'");
        assert_eq!(line(Shell::Powershell, "A", "it's"), "$env:A = 'it''s'");
        let vars = variables(
            "127.0.0.1:8000",
            Path::new("/d/b.pem"),
            Path::new("/d/ca.pem"),
        );
        let get = |n: &str| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("https_proxy"), Some("http://127.0.0.1:8000"));
        assert_eq!(get("NODE_EXTRA_CA_CERTS"), Some("/d/ca.pem"));
        assert_eq!(get("SSL_CERT_FILE"), Some("/d/b.pem"));
        assert!(get("NO_PROXY").unwrap().contains("127.0.0.1"));
    }

    #[test]
    fn the_bundle_ends_with_the_development_ca() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, bundle) = prepare(dir.path()).unwrap();
        let ca_pem = std::fs::read_to_string(&ca).unwrap();
        let text = std::fs::read_to_string(&bundle).unwrap();
        assert!(text.ends_with(&ca_pem));
        assert!(bundle.is_absolute() && ca.is_absolute());
        // Made once: a second call keeps the same CA.
        let (again, _) = prepare(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(again).unwrap(), ca_pem);
    }
}
