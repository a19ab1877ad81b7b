//! Where signing keys come from, and signature/expiry/audience/issuer checks.

use super::authority::{issuer_matches, Authority};
use super::signing::SigningKeys;
use super::{AuthError, LOCAL_AUDIENCE};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use std::collections::HashMap;
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

/// The keys tokens are checked against.
pub enum KeySource {
    /// The service's own RS256 keys (published at the dev authority's `jwks_uri`);
    /// issuer is Entra's v1 form for the token's tenant.
    Local { keys: std::sync::Arc<SigningKeys> },
    /// RS256 public keys by `kid` from a file; `issuer` may contain `{tenantid}`,
    /// filled from `tid`.
    Jwks {
        keys: HashMap<String, DecodingKey>,
        issuer: String,
        audiences: Vec<String>,
        allowed_tenants: Vec<uuid::Uuid>,
    },
    /// An OpenID provider's keys, followed (`--authority`).
    Authority {
        authority: std::sync::Arc<Authority>,
        audiences: Vec<String>,
        allowed_tenants: Vec<uuid::Uuid>,
    },
}

/// Which issuers a source accepts.
enum IssuerRule<'a> {
    /// This, with `{tenantid}` filled from the token's `tid`.
    Template(&'a str),
    /// What an authority's discovery document says (see [`issuer_matches`]).
    Discovered(String),
}

pub(super) struct Verified {
    pub claims: serde_json::Map<String, serde_json::Value>,
    pub exp: i64,
}

/// Whether a token's header says `"alg": "none"`.
fn unsigned(token: &str) -> bool {
    use base64::Engine;
    token
        .split('.')
        .next()
        .and_then(|h| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h)
                .ok()
        })
        .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
        .is_some_and(|h| {
            h["alg"]
                .as_str()
                .is_some_and(|a| a.eq_ignore_ascii_case("none"))
        })
}

impl KeySource {
    /// Loads a JWKS file (RS256 keys) for production validation.
    pub fn from_jwks_file(
        path: &Path,
        issuer: String,
        audiences: Vec<String>,
        allowed_tenants: Vec<uuid::Uuid>,
    ) -> anyhow::Result<Self> {
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
            audiences,
            allowed_tenants,
        })
    }

    /// Whether tokens can be checked now: false only while an authority's keys have
    /// never loaded.
    pub fn is_ready(&self) -> bool {
        match self {
            KeySource::Authority { authority, .. } => authority.is_ready(),
            _ => true,
        }
    }

    pub(super) async fn verify(&self, token: &str, now: i64) -> Result<Verified, AuthError> {
        let invalid = |why: String| AuthError::InvalidToken(why);
        let header = decode_header(token).map_err(|e| {
            if unsigned(token) {
                return invalid(
                    "Access token is unsigned (alg 'none'); this service accepts RS256.".into(),
                );
            }
            invalid(format!("Access token is malformed: {e}."))
        })?;
        if header.alg != Algorithm::RS256 {
            return Err(invalid(match (self, header.alg) {
                (KeySource::Local { .. }, Algorithm::HS256) => "Access token is signed with HS256, as this service's tokens were before it moved to RS256; those are no longer accepted. Get a new token (cloudpc-partners token, or the token endpoint).".into(),
                _ => format!(
                    "Access token is signed with {:?}; this service accepts RS256.",
                    header.alg
                ),
            }));
        }
        let unknown_kid = || {
            invalid(
                "Access token is signed with a key this service does not know (unknown 'kid')."
                    .into(),
            )
        };
        const LOCAL: &[String] = &[];
        let (key, audiences, issuer, allowed) = match self {
            KeySource::Local { keys } => (
                header
                    .kid
                    .as_deref()
                    .and_then(|kid| keys.decoding(kid))
                    .ok_or_else(unknown_kid)?,
                LOCAL,
                IssuerRule::Template("https://sts.windows.net/{tenantid}/"),
                &[][..],
            ),
            KeySource::Jwks {
                keys,
                issuer,
                audiences,
                allowed_tenants,
            } => {
                let key = match &header.kid {
                    Some(kid) => keys.get(kid),
                    None if keys.len() == 1 => keys.values().next(),
                    None => None,
                }
                .ok_or_else(unknown_kid)?;
                (
                    key.clone(),
                    audiences.as_slice(),
                    IssuerRule::Template(issuer.as_str()),
                    allowed_tenants.as_slice(),
                )
            }
            KeySource::Authority {
                authority,
                audiences,
                allowed_tenants,
            } => {
                if !authority.is_ready() {
                    return Err(AuthError::IssuerUnavailable);
                }
                let key = match &header.kid {
                    Some(kid) => authority.key(kid).await,
                    None => None,
                }
                .ok_or_else(unknown_kid)?;
                let issuer = authority
                    .loaded()
                    .map(|l| l.issuer.clone())
                    .unwrap_or_default();
                (
                    key,
                    audiences.as_slice(),
                    IssuerRule::Discovered(issuer),
                    allowed_tenants.as_slice(),
                )
            }
        };
        let audiences: Vec<&str> = match audiences.is_empty() {
            true => vec![LOCAL_AUDIENCE],
            false => audiences.iter().map(String::as_str).collect(),
        };
        let audience = audiences.join("' or '");
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&audiences);
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
                        "Access token signature is invalid. Local tokens are signed with the keys in the server's data dir: mint them with `cloudpc-partners token --data-dir <the server's --data-dir>`.".into()
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
        let iss = claims
            .get("iss")
            .and_then(|i| i.as_str())
            .unwrap_or_default();
        match &issuer {
            IssuerRule::Template(template) => {
                let expected = template.replace("{tenantid}", tid);
                if iss != expected {
                    return Err(invalid(format!("Invalid issuer; expected '{expected}'.")));
                }
            }
            IssuerRule::Discovered(issuer) => {
                if !issuer_matches(issuer, tid, iss) {
                    return Err(invalid(format!(
                        "Invalid issuer '{iss}'; the authority issues as '{issuer}'."
                    )));
                }
            }
        }
        if !allowed.is_empty() && !uuid::Uuid::try_parse(tid).is_ok_and(|t| allowed.contains(&t)) {
            return Err(invalid(format!(
                "The tenant '{tid}' is not allowed to call this service (--allowed-tenant)."
            )));
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
