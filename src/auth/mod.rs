//! Who is calling: bearer-token validation to a [`Caller`], permission checks, and
//! minting local development tokens.
//!
//! Two key sources: the service's own RS256 keys, made in its data dir and published
//! as a key set (for development and the `token` command), or a JWKS file of RS256
//! public keys with a configured issuer and audience (production, e.g. Entra ID's).

pub mod authority;
mod keys;
mod signing;
mod tenant;
mod token;

pub use keys::KeySource;
pub use signing::{SigningKey, SigningKeys, WithdrawError, SIGNING_KEYS_DIR};
pub use tenant::{parse_tenant, parse_tenant_flag, tenant_for_domain, TenantName};
pub use token::{mint_local_token, MintRequest, TokenKind};

use crate::model::TenantId;
use keys::Verified;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// The permission that reads partner connections.
pub const READ_ALL: &str = "CloudPC.Read.All";
/// The permission that reads and writes partner connections.
pub const READ_WRITE_ALL: &str = "CloudPC.ReadWrite.All";
/// The permission a partner's own service holds to call the partner API.
pub const PARTNER_READ_WRITE_ALL: &str = "CloudPC.PartnerReadWrite.All";
/// The tenant of personal Microsoft accounts, which these APIs do not support.
pub const CONSUMER_TENANT: Uuid = Uuid::from_u128(0x9188040d_6c67_4c5b_b112_36a304b66dad);
/// The audience local tokens carry (Microsoft Graph's).
pub const LOCAL_AUDIENCE: &str = "https://graph.microsoft.com";

/// What a Graph call needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    ReadWrite,
}

/// How the caller holds its permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerKind {
    /// A user signed in to an app: permissions in `scp`.
    Delegated { scopes: Vec<String> },
    /// An app acting as itself: permissions in `roles`.
    Application { roles: Vec<String> },
    /// An external partner's service, for the partner API only.
    Partner { partner_id: Uuid },
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant: TenantId,
    /// The client app (`appid`/`azp`), the unit throttling counts per.
    pub app_id: String,
    pub kind: CallerKind,
    /// Who it is, as far as the token says; recorded in action reports.
    pub identity: Identity,
}

/// The descriptive claims of a token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// `app_displayname`
    pub app_name: Option<String>,
    /// `upn`, `unique_name` or `preferred_username`
    pub user_principal_name: Option<String>,
    /// `acct` = 1: a guest user in the tenant.
    pub guest: bool,
}

/// Why a call is refused; the Graph layer maps each to 401 or 403.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Access token is empty; send an Authorization header of the form 'Bearer <token>'.")]
    MissingToken,
    #[error("{0}")]
    InvalidToken(String),
    #[error("Personal Microsoft accounts are not supported for this API; sign in with a work or school account.")]
    PersonalAccount,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    WrongApi(String),
    #[error("The token issuer's signing keys have not loaded yet (the --authority is unreachable); retry shortly.")]
    IssuerUnavailable,
}

impl Caller {
    /// Checks a Graph call: partner credentials are refused, and the token must hold
    /// a permission that grants `needed`.
    pub fn require_graph(&self, needed: Permission) -> Result<(), AuthError> {
        let (held, claim) = match &self.kind {
            CallerKind::Delegated { scopes } => (scopes, "scp"),
            CallerKind::Application { roles } => (roles, "roles"),
            CallerKind::Partner { .. } => {
                return Err(AuthError::WrongApi(
                    "A partner credential can call only the partner API (/partner/v1); use an admin token with CloudPC.Read.All or CloudPC.ReadWrite.All for Microsoft Graph.".into(),
                ))
            }
        };
        let accepted: &[&str] = match needed {
            Permission::Read => &[READ_ALL, READ_WRITE_ALL],
            Permission::ReadWrite => &[READ_WRITE_ALL],
        };
        if held
            .iter()
            .any(|h| accepted.iter().any(|a| h.eq_ignore_ascii_case(a)))
        {
            return Ok(());
        }
        Err(AuthError::Forbidden(format!(
            "Missing scope permissions on the request. API requires one of '{}'. {} on the request '{}'.",
            accepted.join(", "),
            if claim == "scp" { "Scopes" } else { "Roles" },
            held.join(" ")
        )))
    }

    /// Checks a partner API call and returns the partner it is for.
    pub fn require_partner(&self) -> Result<Uuid, AuthError> {
        match &self.kind {
            CallerKind::Partner { partner_id } => Ok(*partner_id),
            _ => Err(AuthError::WrongApi(format!(
                "The partner API needs a partner credential: an application token with the '{PARTNER_READ_WRITE_ALL}' role and a partnerId claim (cloudpc-partners token --tenant T --partner P)."
            ))),
        }
    }
}

/// Most verified tokens kept; past this the cache starts over.
const CACHE_LIMIT: usize = 50_000;

/// Validates bearer tokens. Verified tokens are cached until they expire, so a
/// partner sending a heartbeat every few seconds pays for one signature check.
///
/// The cache hashes with foldhash rather than SipHash: a token is most of a
/// kilobyte, and SipHash over it was 2% of a GET. Only tokens whose signature checked
/// out are ever inserted, so no anonymous client can choose the keys to collide.
pub struct Authenticator {
    keys: KeySource,
    cache: Mutex<HashMap<String, (Arc<Caller>, i64), foldhash::fast::RandomState>>,
}

impl Authenticator {
    pub fn new(keys: KeySource) -> Self {
        Self {
            keys,
            cache: Mutex::new(HashMap::default()),
        }
    }

    /// Authenticates the value of an `Authorization` header at time `now` (Unix seconds).
    pub async fn authenticate(
        &self,
        header: Option<&str>,
        now: i64,
    ) -> Result<Arc<Caller>, AuthError> {
        let token = bearer(header)?;
        if let Some((caller, exp)) = self.cache_get(token) {
            if now <= exp {
                return Ok(caller);
            }
        }
        let Verified { claims, exp } = self.keys.verify(token, now).await?;
        let caller = Arc::new(token::caller_from_claims(claims)?);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(token.to_owned(), (caller.clone(), exp));
        Ok(caller)
    }

    /// The local signing keys, when tokens are local (never with a JWKS file).
    pub fn local_keys(&self) -> Option<&SigningKeys> {
        match &self.keys {
            KeySource::Local { keys } => Some(keys),
            KeySource::Jwks { .. } | KeySource::Authority { .. } => None,
        }
    }

    /// Whether tokens can be checked now (an authority's keys have loaded).
    pub fn is_ready(&self) -> bool {
        self.keys.is_ready()
    }

    /// The authority followed, with `--authority`.
    pub fn authority(&self) -> Option<&Arc<authority::Authority>> {
        match &self.keys {
            KeySource::Authority { authority, .. } => Some(authority),
            _ => None,
        }
    }

    /// Withdraws a local key: no longer published nor accepted, and no token it
    /// signed is trusted from the cache of verified tokens either.
    pub fn withdraw_local_key(&self, kid: &str) -> Result<(), WithdrawError> {
        let keys = self.local_keys().ok_or(WithdrawError::Unknown)?;
        keys.withdraw(kid)?;
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
        Ok(())
    }

    fn cache_get(&self, token: &str) -> Option<(Arc<Caller>, i64)> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(token).cloned()
    }
}

fn bearer(header: Option<&str>) -> Result<&str, AuthError> {
    let value = header
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or(AuthError::MissingToken)?;
    if value.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::MissingToken);
    }
    let (scheme, token) = value.split_once(' ').ok_or_else(|| {
        AuthError::InvalidToken(
            "The Authorization header must be of the form 'Bearer <token>'.".into(),
        )
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::InvalidToken(format!(
            "The Authorization scheme '{scheme}' is not supported; use 'Bearer <token>'."
        )));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthError::MissingToken);
    }
    Ok(token)
}
