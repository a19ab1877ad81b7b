//! Production validation that follows an issuer: the keys of an OpenID provider
//! (Entra ID, or any), read from its discovery document's `jwks_uri` and kept fresh.
//!
//! - Keys are cached. A token whose `kid` is unknown triggers one refresh, coalesced
//!   across concurrent requests (one fetch in flight; the others wait for it) and
//!   rate-limited to one every [`UNKNOWN_KID_REFRESH`], so a flood of made-up `kid`s
//!   cannot make the service hammer the issuer.
//! - A background refresh runs every [`REFRESH_EVERY`]; until a first key set has
//!   loaded it retries every [`RETRY_EVERY`] instead.
//! - A failed fetch keeps the last good keys, is logged once per failure streak and
//!   counted (`cloudpc_partners_authority_refreshes_total{outcome="failed"}`).

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::DecodingKey;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// The least time between two refreshes an unknown `kid` may cause.
pub const UNKNOWN_KID_REFRESH: Duration = Duration::from_secs(300);
/// How often the keys are read again on schedule.
pub const REFRESH_EVERY: Duration = Duration::from_secs(3600);
/// How often a first load is retried while none has succeeded.
pub const RETRY_EVERY: Duration = Duration::from_secs(5);
/// The longest one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// What was loaded from the issuer.
pub struct Loaded {
    /// RS256 keys by `kid`.
    pub keys: HashMap<String, DecodingKey>,
    /// The discovery document's `issuer`, as it says it (it may hold `{tenantid}`).
    pub issuer: String,
}

/// An issuer's keys, fetched and kept.
pub struct Authority {
    discovery: String,
    client: reqwest::Client,
    loaded: RwLock<Option<Arc<Loaded>>>,
    /// One fetch at a time; those who wait find the keys it loaded.
    fetching: tokio::sync::Mutex<()>,
    /// When an unknown `kid` last caused a fetch.
    last_kid_refresh: Mutex<Option<Instant>>,
    /// A failure streak is logged once.
    failing: AtomicBool,
}

impl Authority {
    /// An authority at `url` (`https://login.microsoftonline.com/common/v2.0`); its
    /// discovery document is `url/.well-known/openid-configuration`. `extra_ca` is a
    /// PEM file of roots trusted besides the system's.
    pub fn new(url: &str, extra_ca: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let parsed = url::Url::parse(url)
            .map_err(|e| anyhow::anyhow!("--authority '{url}' is not a URL: {e}"))?;
        anyhow::ensure!(
            parsed.scheme() == "https",
            "--authority '{url}' must be an https URL: keys fetched over plain HTTP could be anyone's"
        );
        crate::tls::install_crypto_provider();
        let mut client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .user_agent(concat!("cloudpc-partners/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = extra_ca {
            let pem = std::fs::read(path).map_err(|e| {
                anyhow::anyhow!("cannot read --authority-ca {}: {e}", path.display())
            })?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                anyhow::anyhow!(
                    "--authority-ca {} is not PEM certificates: {e}",
                    path.display()
                )
            })? {
                client = client.add_root_certificate(cert);
            }
        }
        Ok(Authority {
            discovery: format!(
                "{}/.well-known/openid-configuration",
                url.trim_end_matches('/')
            ),
            client: anyhow::Context::with_context(client.build(), || {
                format!(
                    "cannot set up HTTPS to --authority '{url}' (it trusts the system's CA certificates, from the ca-certificates package, and any --authority-ca FILE)"
                )
            })?,
            loaded: RwLock::default(),
            fetching: tokio::sync::Mutex::new(()),
            last_kid_refresh: Mutex::default(),
            failing: AtomicBool::new(false),
        })
    }

    /// What is loaded now; `None` until a first key set has loaded.
    pub fn loaded(&self) -> Option<Arc<Loaded>> {
        self.loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether a key set has ever loaded.
    pub fn is_ready(&self) -> bool {
        self.loaded().is_some()
    }

    /// The key for `kid`, refreshing once (coalesced, rate-limited) if it is unknown.
    pub async fn key(&self, kid: &str) -> Option<DecodingKey> {
        let find = |this: &Self| this.loaded().and_then(|l| l.keys.get(kid).cloned());
        if let Some(key) = find(self) {
            return Some(key);
        }
        let _one = self.fetching.lock().await;
        // Whoever fetched while this request waited may have brought the key.
        if let Some(key) = find(self) {
            return Some(key);
        }
        {
            let mut last = self
                .last_kid_refresh
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|at| at.elapsed() < UNKNOWN_KID_REFRESH) {
                return None;
            }
            *last = Some(Instant::now());
        }
        self.fetch_and_keep("unknown kid").await;
        find(self)
    }

    /// One refresh on schedule (or a first load).
    pub async fn refresh(&self) {
        let _one = self.fetching.lock().await;
        self.fetch_and_keep("scheduled").await;
    }

    async fn fetch_and_keep(&self, why: &'static str) {
        match self.fetch().await {
            Ok(loaded) => {
                metrics::counter!("cloudpc_partners_authority_refreshes_total", "outcome" => "loaded").increment(1);
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(authority = %self.discovery, "the token issuer's keys load again");
                }
                tracing::debug!(why, keys = loaded.keys.len(), "token issuer's keys loaded");
                *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(loaded));
            }
            Err(e) => {
                metrics::counter!("cloudpc_partners_authority_refreshes_total", "outcome" => "failed").increment(1);
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(authority = %self.discovery, error = %e, kept = self.is_ready(), "cannot load the token issuer's keys; the last good keys (if any) stay in use");
                }
            }
        }
    }

    async fn fetch(&self) -> anyhow::Result<Loaded> {
        let doc: serde_json::Value = self
            .client
            .get(&self.discovery)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let issuer = doc["issuer"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("{} has no 'issuer'", self.discovery))?
            .to_owned();
        let jwks_uri = doc["jwks_uri"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("{} has no 'jwks_uri'", self.discovery))?;
        let set: JwkSet = self
            .client
            .get(jwks_uri)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            // Keys for other uses or algorithms are not ours to accept.
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                keys.insert(kid, key);
            }
        }
        anyhow::ensure!(!keys.is_empty(), "{jwks_uri} holds no usable key");
        Ok(Loaded { keys, issuer })
    }

    /// Keeps the keys fresh until the returned task is aborted.
    pub fn spawn_refresher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                this.refresh().await;
                let wait = if this.is_ready() {
                    REFRESH_EVERY
                } else {
                    RETRY_EVERY
                };
                tokio::time::sleep(wait).await;
            }
        })
    }
}

/// Whether `iss` is one the issuer stands for, for the token's tenant `tid`. An
/// Entra-shaped issuer (its document's `issuer` holds `{tenantid}` or this tenant)
/// stands for both of Entra's forms: v2 (its own, the placeholder filled) and v1
/// (`https://sts.windows.net/{tid}/`, what Graph access tokens carry). Any other
/// issuer stands for exactly itself.
pub fn issuer_matches(issuer: &str, tid: &str, iss: &str) -> bool {
    let entra_shaped = issuer.contains("{tenantid}") || issuer.contains(tid);
    if entra_shaped {
        iss == issuer.replace("{tenantid}", tid) || iss == format!("https://sts.windows.net/{tid}/")
    } else {
        iss == issuer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_issuers_stand_for_both_token_versions() {
        let tid = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        let common = "https://login.microsoftonline.com/{tenantid}/v2.0";
        assert!(issuer_matches(
            common,
            tid,
            &format!("https://login.microsoftonline.com/{tid}/v2.0")
        ));
        assert!(issuer_matches(
            common,
            tid,
            &format!("https://sts.windows.net/{tid}/")
        ));
        assert!(!issuer_matches(
            common,
            tid,
            "https://sts.windows.net/another/"
        ));
        let own = format!("https://login.microsoftonline.com/{tid}/v2.0");
        assert!(issuer_matches(
            &own,
            tid,
            &format!("https://sts.windows.net/{tid}/")
        ));
        let other = "https://idp.example.com";
        assert!(issuer_matches(other, tid, other));
        assert!(!issuer_matches(
            other,
            tid,
            &format!("https://sts.windows.net/{tid}/")
        ));
    }

    #[test]
    fn the_authority_must_be_https() {
        assert!(Authority::new("http://login.example.com", None).is_err());
        assert!(Authority::new("not a url", None).is_err());
        assert!(Authority::new("https://login.microsoftonline.com/common/v2.0", None).is_ok());
    }
}
