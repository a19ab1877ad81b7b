//! Token claims: turning verified claims into a [`Caller`], and minting local tokens.

use super::{
    AuthError, Caller, CallerKind, Identity, CONSUMER_TENANT, LOCAL_AUDIENCE,
    PARTNER_READ_WRITE_ALL,
};
use crate::model::TenantId;
use jsonwebtoken::{encode, EncodingKey, Header};
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

/// Mints a token signed with the local secret, shaped like an Entra ID access token.
pub fn mint_local_token(
    secret: &[u8],
    req: &MintRequest,
) -> Result<String, jsonwebtoken::errors::Error> {
    let lifetime = i64::try_from(req.lifetime.as_secs()).unwrap_or(i64::MAX / 2);
    let mut claims = json!({
        "aud": LOCAL_AUDIENCE,
        "iss": format!("https://sts.windows.net/{}/", req.tenant),
        "iat": req.now,
        "nbf": req.now,
        "exp": req.now.saturating_add(lifetime),
        "tid": req.tenant.to_string(),
        "appid": req.app_id.clone().unwrap_or_else(|| LOCAL_APP_ID.to_owned()),
        "oid": Uuid::new_v4().to_string(),
        "app_displayname": "cloudpc-partners local token",
        "ver": "1.0",
    });
    let Some(map) = claims.as_object_mut() else {
        unreachable!("json! with braces builds an object")
    };
    match &req.kind {
        TokenKind::Delegated { scopes } => {
            map.insert("scp".into(), Value::String(scopes.join(" ")));
            // A user, as Entra names one, so audit records have someone to name.
            let org = req.tenant.simple().to_string();
            map.insert(
                "upn".into(),
                json!(format!("admin@{}.onmicrosoft.com", &org[..8])),
            );
        }
        TokenKind::Application { roles } => {
            map.insert("roles".into(), json!(roles));
            map.insert("idtyp".into(), json!("app"));
        }
        TokenKind::Partner { partner_id } => {
            map.insert("roles".into(), json!([PARTNER_READ_WRITE_ALL]));
            map.insert("idtyp".into(), json!("app"));
            map.insert("partnerId".into(), json!(partner_id.to_string()));
        }
    }
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret),
    )
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
