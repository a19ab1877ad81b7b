//! The service's own signing keys, for local and development tokens: RSA key pairs
//! kept in `DATA_DIR/signing-keys/`, each with a self-signed certificate, published
//! as a JSON Web Key Set the way Entra publishes its own (`kid` equal to `x5t`, the
//! certificate's SHA-1 thumbprint, and the certificate in `x5c`), so a gateway or a
//! test can check a token the standard way: RS256, by `kid`, against `jwks_uri`.
//!
//! Files are `key-N.pem` (private key and certificate, owner-only); the highest `N`
//! signs. A new key is published with `hard_link`, which is atomic and fails if the
//! name is taken, so processes starting together on one data dir agree on one key,
//! and a key made by one process is found by another the first time it sees its `kid`.

use anyhow::Context;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{DecodingKey, EncodingKey};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use sha1::Digest;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// The folder inside the data dir.
pub const SIGNING_KEYS_DIR: &str = "signing-keys";

/// RSA modulus size, as Entra's keys.
const RSA_BITS: usize = 2048;

/// The least time between two re-reads of the folder for an unknown `kid`, so a
/// flood of made-up `kid`s costs one directory read a second at most.
const RELOAD_EVERY: Duration = Duration::from_secs(1);

/// One key pair.
pub struct SigningKey {
    /// `N` of `key-N.pem`: higher is newer.
    pub number: u64,
    pub kid: String,
    /// When the key was made (Unix seconds), from its certificate.
    pub created: i64,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Value,
}

/// The keys of one data dir, newest last.
pub struct SigningKeys {
    dir: PathBuf,
    keys: RwLock<Vec<std::sync::Arc<SigningKey>>>,
    last_reload: std::sync::Mutex<Option<Instant>>,
}

/// What `key-N.pem` holds, parsed.
fn parse_key_file(number: u64, text: &str) -> anyhow::Result<SigningKey> {
    // The key comes first, then the certificate.
    let at = text
        .find("-----BEGIN CERTIFICATE-----")
        .context("no certificate")?;
    let (key_pem, cert_pem) = text.split_at(at);
    let cert_der = STANDARD.decode(
        cert_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>(),
    )?;
    let key = <rsa::PrivateKey as rsa::pkcs8::DecodePrivateKey>::from_pkcs8_pem(key_pem)?;
    let public = key.to_public_key();
    // A JWK's integers are big-endian with no leading zeros (RFC 7518, 6.3.1).
    let n = URL_SAFE_NO_PAD.encode(public.n().to_be_bytes_trimmed_vartime());
    let e = URL_SAFE_NO_PAD.encode(public.e().to_be_bytes_trimmed_vartime());
    let kid = URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&cert_der));
    let created = created_of(text).unwrap_or(0);
    let jwk = json!({
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": kid,
        "x5t": kid,
        "n": n,
        "e": e,
        "x5c": [STANDARD.encode(&cert_der)],
    });
    Ok(SigningKey {
        number,
        encoding: EncodingKey::from_rsa_pem(text.as_bytes())?,
        decoding: DecodingKey::from_rsa_components(&n, &e)?,
        kid,
        created,
        jwk,
    })
}

/// The `created` comment a key file starts with.
fn created_of(text: &str) -> Option<i64> {
    text.lines()
        .next()?
        .strip_prefix("# created ")?
        .trim()
        .parse()
        .ok()
}

/// A new key file's text: a comment with the time, the PKCS#8 key, a certificate.
fn new_key_file(now: i64) -> anyhow::Result<String> {
    // The operating system's generator; rsa 0.10 and rand 0.10 share rand_core.
    let key = rsa::PrivateKey::new(&mut rand::rngs::SysRng, RSA_BITS)?;
    let pem = key.to_pkcs8_pem(LineEnding::LF)?;
    let pair = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256)?;
    let mut params = rcgen::CertificateParams::new(Vec::new())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "cloudpc-partners token signing");
    let cert = params.self_signed(&pair)?;
    Ok(format!("# created {now}\n{}{}", pem.as_str(), cert.pem()))
}

/// Writes `text` as `path`, owner-only, all or nothing; `Ok(false)` if the name is taken.
fn publish(dir: &Path, path: &Path, text: &str) -> anyhow::Result<bool> {
    let tmp = dir.join(format!(".new-{}", uuid::Uuid::new_v4().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&tmp).and_then(|mut f| {
        f.write_all(text.as_bytes())?;
        f.sync_all()
    });
    let published = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match published {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot write {}", path.display())),
    }
}

impl SigningKeys {
    /// The keys in `data_dir`, making the first one if there is none.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        let dir = data_dir.join(SIGNING_KEYS_DIR);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let keys = SigningKeys {
            dir,
            keys: RwLock::default(),
            last_reload: std::sync::Mutex::default(),
        };
        keys.reload()?;
        if keys.read().is_empty() {
            let now = chrono::Utc::now().timestamp();
            keys.add(1, &new_key_file(now)?)?;
            keys.reload()?;
        }
        Ok(keys)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<std::sync::Arc<SigningKey>>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads every `key-N.pem` again.
    fn reload(&self) -> anyhow::Result<()> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&self.dir)
            .with_context(|| format!("cannot read {}", self.dir.display()))?
        {
            let path = entry?.path();
            let Some(number) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("key-"))
                .and_then(|n| n.strip_suffix(".pem"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let key = parse_key_file(number, &text)
                .with_context(|| format!("the signing key {} is unusable", path.display()))?;
            found.push(std::sync::Arc::new(key));
        }
        found.sort_by_key(|k| k.number);
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = found;
        Ok(())
    }

    /// Publishes a key file as number `n`; `Ok(false)` if another process took `n`.
    fn add(&self, n: u64, text: &str) -> anyhow::Result<bool> {
        publish(&self.dir, &self.dir.join(format!("key-{n}.pem")), text)
    }

    /// The key that signs: the newest.
    pub fn current(&self) -> Option<std::sync::Arc<SigningKey>> {
        self.read().last().cloned()
    }

    /// The key with `kid`; an unknown `kid` makes one re-read of the folder (at most
    /// one a second), so keys another process made are found.
    pub fn decoding(&self, kid: &str) -> Option<DecodingKey> {
        let find = |keys: &[std::sync::Arc<SigningKey>]| {
            keys.iter()
                .find(|k| k.kid == kid)
                .map(|k| k.decoding.clone())
        };
        if let Some(key) = find(&self.read()) {
            return Some(key);
        }
        {
            let mut last = self.last_reload.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|at| at.elapsed() < RELOAD_EVERY) {
                return None;
            }
            *last = Some(Instant::now());
        }
        if let Err(e) = self.reload() {
            tracing::warn!(error = %e, "re-reading the signing keys failed");
        }
        find(&self.read())
    }

    /// The JSON Web Key Set to publish: every key, newest first.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self.read().iter().rev().map(|k| k.jwk.clone()).collect();
        json!({ "keys": keys })
    }

    /// Every key, newest first.
    pub fn list(&self) -> Vec<std::sync::Arc<SigningKey>> {
        self.read().iter().rev().cloned().collect()
    }

    /// Makes a new key current; the others stay published and accepted.
    pub fn rotate(&self) -> anyhow::Result<std::sync::Arc<SigningKey>> {
        let text = new_key_file(chrono::Utc::now().timestamp())?;
        loop {
            self.reload()?;
            let next = self.read().last().map_or(1, |k| k.number + 1);
            if self.add(next, &text)? {
                self.reload()?;
                return self
                    .current()
                    .context("the new signing key vanished as it was made");
            }
        }
    }

    /// Withdraws the key `kid`: no longer published nor accepted. The current key
    /// cannot be withdrawn (make another current first).
    pub fn withdraw(&self, kid: &str) -> Result<(), WithdrawError> {
        self.reload().map_err(WithdrawError::Io)?;
        let keys = self.read().clone();
        let Some(key) = keys.iter().find(|k| k.kid == kid) else {
            return Err(WithdrawError::Unknown);
        };
        if keys.last().is_some_and(|current| current.kid == kid) {
            return Err(WithdrawError::Current);
        }
        std::fs::remove_file(self.dir.join(format!("key-{}.pem", key.number)))
            .map_err(|e| WithdrawError::Io(e.into()))?;
        self.reload().map_err(WithdrawError::Io)
    }
}

impl SigningKey {
    /// What signs with this key.
    pub fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }
}

/// Why a key was not withdrawn.
#[derive(Debug)]
pub enum WithdrawError {
    Unknown,
    Current,
    Io(anyhow::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_made_once_rotated_and_withdrawn() {
        let dir = tempfile::tempdir().unwrap();
        let keys = SigningKeys::load_or_create(dir.path()).unwrap();
        let first = keys.current().unwrap();
        assert_eq!(first.kid.len(), 27, "a base64url SHA-1 thumbprint");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let file = dir.path().join(SIGNING_KEYS_DIR).join("key-1.pem");
            let mode = std::fs::metadata(file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Another process on the same data dir finds the same key.
        let again = SigningKeys::load_or_create(dir.path()).unwrap();
        assert_eq!(again.current().unwrap().kid, first.kid);

        let second = keys.rotate().unwrap();
        assert_ne!(second.kid, first.kid);
        assert_eq!(keys.current().unwrap().kid, second.kid);
        let published = keys.jwks();
        assert_eq!(published["keys"].as_array().unwrap().len(), 2);
        assert_eq!(published["keys"][0]["kid"], second.kid.as_str());
        // The other process sees the new key the first time it meets its kid.
        assert!(again.decoding(&second.kid).is_some());

        assert!(matches!(
            keys.withdraw(&second.kid),
            Err(WithdrawError::Current)
        ));
        assert!(matches!(keys.withdraw("nope"), Err(WithdrawError::Unknown)));
        keys.withdraw(&first.kid).unwrap();
        assert_eq!(keys.jwks()["keys"].as_array().unwrap().len(), 1);
        assert!(keys.decoding(&first.kid).is_none());
    }

    #[test]
    fn processes_starting_together_agree_on_one_key() {
        for _ in 0..2 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().to_owned();
            let kids: Vec<String> = (0..4)
                .map(|_| {
                    let path = path.clone();
                    std::thread::spawn(move || {
                        SigningKeys::load_or_create(&path)
                            .unwrap()
                            .current()
                            .unwrap()
                            .kid
                            .clone()
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|t| t.join().unwrap())
                .collect();
            assert!(kids.windows(2).all(|w| w[0] == w[1]), "{kids:?}");
            let files = std::fs::read_dir(path.join(SIGNING_KEYS_DIR))
                .unwrap()
                .count();
            assert_eq!(files, 1, "only the key file remains");
        }
    }
}
