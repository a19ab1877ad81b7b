//! Where signing keys come from, and signature/expiry/audience/issuer checks.

use super::{AuthError, LOCAL_AUDIENCE};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use rand::RngCore;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// A NumericDate claim: `None` when absent, `Err` when present but not a number.
fn numeric_date(
    claims: &serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Option<Result<f64, ()>> {
    claims
        .get(name)
        .map(|v| v.as_f64().filter(|n| n.is_finite()).ok_or(()))
}

/// Clock skew tolerated on `exp` and `nbf`, as Entra ID's own validators do.
const CLOCK_SKEW_SECS: i64 = 60;

/// The name of the local signing key inside the data dir.
pub const LOCAL_KEY_FILE: &str = "signing-key";

/// The keys tokens are checked against.
pub enum KeySource {
    /// A local HS256 secret; issuer is Entra's v1 form for the token's tenant.
    Local { secret: Vec<u8> },
    /// RS256 public keys by `kid`; `issuer` may contain `{tenantid}`, filled from `tid`.
    Jwks {
        keys: HashMap<String, DecodingKey>,
        issuer: String,
        audience: String,
    },
}

pub(super) struct Verified {
    pub claims: serde_json::Map<String, serde_json::Value>,
    pub exp: i64,
}

impl KeySource {
    /// Loads a JWKS file (RS256 keys) for production validation.
    pub fn from_jwks_file(path: &Path, issuer: String, audience: String) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read JWKS file {}: {e}", path.display()))?;
        let set: JwkSet = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "JWKS file {} is not a JSON Web Key Set: {e}",
                path.display()
            )
        })?;
        let mut keys = HashMap::new();
        for (i, jwk) in set.keys.iter().enumerate() {
            let kid = jwk.common.key_id.clone().unwrap_or_else(|| format!("#{i}"));
            let key = DecodingKey::from_jwk(jwk).map_err(|e| {
                anyhow::anyhow!("key '{kid}' in {} is unusable: {e}", path.display())
            })?;
            keys.insert(kid, key);
        }
        anyhow::ensure!(
            !keys.is_empty(),
            "JWKS file {} holds no keys",
            path.display()
        );
        Ok(KeySource::Jwks {
            keys,
            issuer,
            audience,
        })
    }

    pub(super) fn verify(&self, token: &str, now: i64) -> Result<Verified, AuthError> {
        let invalid = |why: String| AuthError::InvalidToken(why);
        let header = decode_header(token)
            .map_err(|e| invalid(format!("Access token is malformed: {e}.")))?;
        let (key, alg, audience, issuer) = match self {
            KeySource::Local { secret } => (
                DecodingKey::from_secret(secret),
                Algorithm::HS256,
                LOCAL_AUDIENCE,
                "https://sts.windows.net/{tenantid}/",
            ),
            KeySource::Jwks {
                keys,
                issuer,
                audience,
            } => {
                let key = match &header.kid {
                    Some(kid) => keys.get(kid),
                    None if keys.len() == 1 => keys.values().next(),
                    None => None,
                }
                .ok_or_else(|| invalid("Access token is signed with a key this service does not know (unknown 'kid').".into()))?;
                (
                    key.clone(),
                    Algorithm::RS256,
                    audience.as_str(),
                    issuer.as_str(),
                )
            }
        };
        if header.alg != alg {
            return Err(invalid(format!(
                "Access token is signed with {:?}; this service accepts {alg:?}.",
                header.alg
            )));
        }
        let mut v = Validation::new(alg);
        v.set_audience(&[audience]);
        // `exp` is required and checked below, as a number (fractions allowed).
        v.set_required_spec_claims(&["aud"]);
        // Lifetime is checked below against the service's clock, not the library's.
        v.validate_exp = false;
        v.validate_nbf = false;
        let data =
            decode::<serde_json::Map<String, serde_json::Value>>(token, &key, &v).map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                invalid(match e.kind() {
                    K::ExpiredSignature => {
                        "Lifetime validation failed, the token is expired.".into()
                    }
                    K::ImmatureSignature => {
                        "Lifetime validation failed, the token is not yet valid.".into()
                    }
                    K::InvalidAudience => {
                        format!("Invalid audience; this service accepts tokens for '{audience}'.")
                    }
                    K::InvalidSignature if matches!(self, KeySource::Local { .. }) => {
                        "Access token signature is invalid. Local tokens are signed with the key in the server's data dir: mint them with `cloudpc-partners token --data-dir <the server's --data-dir>`.".into()
                    }
                    K::InvalidSignature => "Access token signature is invalid.".into(),
                    _ => format!("Access token is not valid: {e}."),
                })
            })?;
        let claims = data.claims;
        let tid = claims
            .get("tid")
            .and_then(|t| t.as_str())
            .ok_or_else(|| invalid("Access token has no 'tid' (tenant) claim.".into()))?;
        let expected = issuer.replace("{tenantid}", tid);
        if claims.get("iss").and_then(|i| i.as_str()) != Some(expected.as_str()) {
            return Err(invalid(format!("Invalid issuer; expected '{expected}'.")));
        }
        // RFC 7519 NumericDates may have fractions: compared as numbers, never ignored.
        let exp = match numeric_date(&claims, "exp") {
            Some(Ok(exp)) => exp,
            _ => {
                return Err(invalid(
                    "Access token's 'exp' claim is missing or not a number.".into(),
                ))
            }
        };
        let now = now as f64;
        let skew = CLOCK_SKEW_SECS as f64;
        if now > exp + skew {
            return Err(invalid(
                "Lifetime validation failed, the token is expired.".into(),
            ));
        }
        match numeric_date(&claims, "nbf") {
            None => {}
            Some(Err(())) => {
                return Err(invalid(
                    "Access token's 'nbf' claim is not a number.".into(),
                ))
            }
            Some(Ok(nbf)) if now < nbf - skew => {
                return Err(invalid(
                    "Lifetime validation failed, the token is not yet valid.".into(),
                ))
            }
            Some(Ok(_)) => {}
        }
        // Cached callers are rechecked against the whole seconds of `exp`.
        Ok(Verified {
            claims,
            exp: exp.floor() as i64,
        })
    }
}

/// Reads the local signing secret from the data dir, creating it (mode 0600) on first use.
///
/// Several processes may start at once on one data dir: the key is written in full
/// to a private temporary file and then published with `hard_link`, which is atomic
/// and fails if a key already exists, so no process ever reads a half-written key.
pub fn load_or_create_local_secret(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    std::fs::create_dir_all(data_dir)
        .map_err(|e| anyhow::anyhow!("cannot create data dir {}: {e}", data_dir.display()))?;
    let path = data_dir.join(LOCAL_KEY_FILE);
    if !path.exists() {
        let mut secret = vec![0u8; 32];
        rand::thread_rng().fill_bytes(&mut secret);
        let tmp = data_dir.join(format!(
            ".{LOCAL_KEY_FILE}.{}",
            uuid::Uuid::new_v4().simple()
        ));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let written = options.open(&tmp).and_then(|mut f| {
            f.write_all(STANDARD.encode(&secret).as_bytes())?;
            f.sync_all()
        });
        let published = written.and_then(|()| std::fs::hard_link(&tmp, &path));
        let _ = std::fs::remove_file(&tmp);
        match published {
            Ok(()) => return Ok(secret),
            // Another process published one first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => anyhow::bail!("cannot create signing key {}: {e}", path.display()),
        }
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("cannot read signing key {}: {e}", path.display()))?;
    let secret = STANDARD
        .decode(text.trim())
        .map_err(|e| anyhow::anyhow!("signing key {} is corrupt: {e}", path.display()))?;
    anyhow::ensure!(
        secret.len() >= 32,
        "signing key {} is too short",
        path.display()
    );
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_starting_together_agree_on_one_key() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().to_owned();
            let keys: Vec<Vec<u8>> = (0..8)
                .map(|_| {
                    let path = path.clone();
                    std::thread::spawn(move || load_or_create_local_secret(&path).unwrap())
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|t| t.join().unwrap())
                .collect();
            assert!(keys.windows(2).all(|w| w[0] == w[1]));
            assert_eq!(keys[0].len(), 32);
            let leftovers = std::fs::read_dir(&path).unwrap().count();
            assert_eq!(leftovers, 1, "only the key file remains");
        }
    }
}
