//! Token claims: turning verified claims into a [`Caller`], and minting local tokens.

use super::signing::SigningKeys;
use super::{
    AuthError, Caller, CallerKind, Identity, CONSUMER_TENANT, LOCAL_AUDIENCE,
    PARTNER_READ_WRITE_ALL,
};
use crate::model::TenantId;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, Header};
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// The client id local tokens name when none is given.
pub const LOCAL_APP_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";

/// What kind of token to mint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    Delegated { scopes: Vec<String> },
    Application { roles: Vec<String> },
    Partner { partner_id: Uuid },
}

/// A request for a local token.
#[derive(Debug, Clone)]
pub struct MintRequest {
    pub tenant: Uuid,
    pub kind: TokenKind,
    pub app_id: Option<String>,
    pub lifetime: std::time::Duration,
    /// Unix seconds the token is issued at.
    pub now: i64,
}

/// The namespace of the stable object ids local tokens carry (a name-based UUID of
/// the tenant and the app or user), so the same app is the same principal each time.
const PRINCIPALS: Uuid = Uuid::from_u128(0x6c0f_3a52_9d1e_4b7a_8f21_5e3c_7a90_b1d4);

/// Mints a token signed with the current local key (RS256, `kid` and `x5t` in the
/// header), shaped as Entra shapes a v1.0 access token for Microsoft Graph.
pub fn mint_local_token(
    keys: &SigningKeys,
    req: &MintRequest,
) -> Result<String, jsonwebtoken::errors::Error> {
    let key = keys.current().ok_or_else(|| {
        jsonwebtoken::errors::Error::from(jsonwebtoken::errors::ErrorKind::InvalidKeyFormat)
    })?;
    let lifetime = i64::try_from(req.lifetime.as_secs()).unwrap_or(i64::MAX / 2);
    let app_id = req
        .app_id
        .clone()
        .unwrap_or_else(|| LOCAL_APP_ID.to_owned());
    let issuer = format!("https://sts.windows.net/{}/", req.tenant);
    let principal = |what: &str| {
        Uuid::new_v5(&PRINCIPALS, format!("{}/{what}", req.tenant).as_bytes()).to_string()
    };
    let mut uti = [0u8; 16];
    rand::fill(&mut uti);
    let mut claims = json!({
        "aud": LOCAL_AUDIENCE,
        "iss": issuer,
        "iat": req.now,
        "nbf": req.now,
        "exp": req.now.saturating_add(lifetime),
        "app_displayname": "cloudpc-partners local token",
        "appid": app_id,
        "appidacr": "1",
        "tid": req.tenant.to_string(),
        "uti": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uti),
        "ver": "1.0",
    });
    let Some(map) = claims.as_object_mut() else {
        unreachable!("json! with braces builds an object")
    };
    match &req.kind {
        TokenKind::Delegated { scopes } => {
            // A user, as Entra names one, so audit records have someone to name.
            let org = req.tenant.simple().to_string();
            let upn = format!("admin@{}.onmicrosoft.com", &org[..8]);
            let oid = principal("user/admin");
            map.insert("idtyp".into(), json!("user"));
            map.insert("oid".into(), json!(oid));
            map.insert("sub".into(), json!(oid));
            map.insert("scp".into(), Value::String(scopes.join(" ")));
            map.insert("upn".into(), json!(upn));
            map.insert("unique_name".into(), json!(upn));
            map.insert("name".into(), json!("Cloud PC admin"));
            map.insert("acr".into(), json!("1"));
            map.insert("amr".into(), json!(["pwd"]));
        }
        TokenKind::Application { roles } => {
            let oid = principal(&format!("app/{app_id}"));
            map.insert("idtyp".into(), json!("app"));
            map.insert("idp".into(), json!(issuer));
            map.insert("oid".into(), json!(oid));
            map.insert("sub".into(), json!(oid));
            map.insert("roles".into(), json!(roles));
        }
        TokenKind::Partner { partner_id } => {
            let oid = principal(&format!("app/{app_id}"));
            map.insert("idtyp".into(), json!("app"));
            map.insert("idp".into(), json!(issuer));
            map.insert("oid".into(), json!(oid));
            map.insert("sub".into(), json!(oid));
            map.insert("roles".into(), json!([PARTNER_READ_WRITE_ALL]));
            map.insert("partnerId".into(), json!(partner_id.to_string()));
        }
    }
    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some("JWT".into());
    header.kid = Some(key.kid.clone());
    header.x5t = Some(key.kid.clone());
    encode(&header, &claims, key.encoding())
}

pub(super) fn caller_from_claims(claims: Map<String, Value>) -> Result<Caller, AuthError> {
    let invalid = |why: &str| AuthError::InvalidToken(why.to_owned());
    let tid = claims
        .get("tid")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("Access token has no 'tid' (tenant) claim."))?;
    let tenant =
        Uuid::try_parse(tid).map_err(|_| invalid("Access token's 'tid' claim is not a GUID."))?;
    if tenant == CONSUMER_TENANT {
        return Err(AuthError::PersonalAccount);
    }
    let app_id = ["appid", "azp"]
        .iter()
        .find_map(|k| claims.get(*k).and_then(Value::as_str))
        .unwrap_or("unknown")
        .to_owned();
    let roles: Vec<String> = claims
        .get("roles")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let kind = if let Some(partner) = claims.get("partnerId") {
        let partner_id = partner
            .as_str()
            .and_then(|p| Uuid::try_parse(p).ok())
            .ok_or_else(|| invalid("Access token's 'partnerId' claim is not a GUID."))?;
        if !roles.iter().any(|r| r == PARTNER_READ_WRITE_ALL) {
            return Err(AuthError::Forbidden(format!(
                "A partner credential must hold the '{PARTNER_READ_WRITE_ALL}' role."
            )));
        }
        CallerKind::Partner { partner_id }
    } else if let Some(scp) = claims.get("scp").and_then(Value::as_str) {
        CallerKind::Delegated {
            scopes: scp.split_whitespace().map(str::to_owned).collect(),
        }
    } else {
        CallerKind::Application { roles }
    };
    let text = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| claims.get(*k).and_then(Value::as_str))
            .map(str::to_owned)
    };
    let identity = Identity {
        app_name: text(&["app_displayname"]),
        user_principal_name: text(&["upn", "unique_name", "preferred_username"]),
        guest: claims.get("acct").and_then(Value::as_i64) == Some(1),
    };
    Ok(Caller {
        tenant: TenantId(tenant),
        app_id,
        kind,
        identity,
    })
}
