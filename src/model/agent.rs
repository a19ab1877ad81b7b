//! The agent side of a partner connection: the agent a tenant configures, the rules
//! a deployment's per-Cloud-PC results move by, and what an action report records.

use super::schema::{
    ACTION_ERROR_CODE, ACTION_STATE, ACTION_TYPE, AGENT_SETTING_PROPERTY, AGENT_SHA256, AGENT_URL,
    AUTHENTICATED_METHOD, AUTO_DEPLOYMENT_ENABLED, CLOUD_PC_IDS, INSTALL_PARAMETERS,
};
use crate::json::Fields;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

/// Most install parameters an agent setting may carry, and the longest one.
const MAX_PARAMETERS: usize = 100;
const MAX_PARAMETER_LEN: usize = 2048;
/// Longest agent URL accepted.
const MAX_URL_LEN: usize = 2048;
/// Most Cloud PCs one deployment may name, as Microsoft documents.
pub const MAX_CLOUD_PCS: usize = 50;

/// `cloudPcExternalPartnerAgentSetting`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSetting {
    pub agent_url: String,
    /// 64 hexadecimal digits, as the client wrote them: a stored string reads back as
    /// it was sent (nothing here compares hashes; a comparison would ignore case).
    pub agent_sha256: String,
    pub install_parameters: Vec<String>,
    pub auto_deployment_enabled: bool,
}

impl AgentSetting {
    /// Validates the JSON a client sent as `agentSetting`; the error names the field
    /// and what it needs.
    pub fn parse(value: &Value) -> Result<Self, String> {
        let mut f = Fields::of(value, AGENT_SETTING_PROPERTY)?;
        let agent_url = agent_url(&mut f)?;
        let agent_sha256 = match f.str(AGENT_SHA256)? {
            Some(s) if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) => s.to_owned(),
            Some(s) => {
                return Err(format!(
                    "{} must be the installer's SHA-256 as 64 hexadecimal digits; '{s}' has {} characters{}.",
                    f.name(AGENT_SHA256),
                    s.chars().count(),
                    if s.bytes().all(|b| b.is_ascii_hexdigit()) { "" } else { " and characters that are not hexadecimal digits" }
                ))
            }
            None => {
                return Err(f.missing(
                    AGENT_SHA256,
                    "the installer's SHA-256 as 64 hexadecimal digits",
                ))
            }
        };
        let install_parameters = install_parameters(&mut f)?;
        let auto_deployment_enabled = f.bool(AUTO_DEPLOYMENT_ENABLED)?.unwrap_or(false);
        f.finish()?;
        Ok(AgentSetting {
            agent_url,
            agent_sha256,
            install_parameters,
            auto_deployment_enabled,
        })
    }

    /// The stored and rendered form, fields in schema order.
    pub fn to_json(&self) -> Value {
        json!({
            AGENT_URL: self.agent_url,
            AGENT_SHA256: self.agent_sha256,
            INSTALL_PARAMETERS: self.install_parameters,
            AUTO_DEPLOYMENT_ENABLED: self.auto_deployment_enabled,
        })
    }

    /// The installer's file name, from the last segment of its URL.
    pub fn agent_name(&self) -> Option<String> {
        url::Url::parse(&self.agent_url)
            .ok()?
            .path_segments()?
            .next_back()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    }
}

fn agent_url(f: &mut Fields) -> Result<String, String> {
    let name = f.name(AGENT_URL);
    let s = f
        .str(AGENT_URL)?
        .ok_or_else(|| f.missing(AGENT_URL, "the https URL of the agent's installer"))?;
    if s.len() > MAX_URL_LEN {
        return Err(format!("{name} is longer than {MAX_URL_LEN} characters."));
    }
    match url::Url::parse(s) {
        Ok(u) if u.scheme() == "https" && u.host().is_some() => Ok(s.to_owned()),
        Ok(u) => Err(format!(
            "{name} must be an https URL; '{s}' uses {}.",
            if u.host().is_none() { "no host".to_owned() } else { format!("'{}'", u.scheme()) }
        )),
        Err(_) => Err(format!(
            "{name} must be an https URL such as https://partner.example/agent.msi; '{s}' is not a URL."
        )),
    }
}

fn install_parameters(f: &mut Fields) -> Result<Vec<String>, String> {
    let name = f.name(INSTALL_PARAMETERS);
    let items = match f.value(INSTALL_PARAMETERS) {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(f.wrong(INSTALL_PARAMETERS, "an array of strings", other)),
    };
    if items.len() > MAX_PARAMETERS {
        return Err(format!(
            "{name} has {} items; at most {MAX_PARAMETERS} are accepted.",
            items.len()
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, p)| match p {
            Value::String(s) if s.len() <= MAX_PARAMETER_LEN => Ok(s.clone()),
            Value::String(_) => Err(format!(
                "'{}' is longer than {MAX_PARAMETER_LEN} bytes.",
                f.item(INSTALL_PARAMETERS, i)
            )),
            _ => Err(format!(
                "'{}' must be a string.",
                f.item(INSTALL_PARAMETERS, i)
            )),
        })
        .collect()
}

/// The Cloud PCs a deployment names, as `cloudPcIds`: 1 to [`MAX_CLOUD_PCS`]
/// distinct GUIDs.
pub fn parse_cloud_pc_ids(f: &mut Fields) -> Result<Vec<Uuid>, String> {
    let name = f.name(CLOUD_PC_IDS);
    let items = f.array(CLOUD_PC_IDS)?.ok_or_else(|| {
        f.missing(
            CLOUD_PC_IDS,
            &format!("an array of 1 to {MAX_CLOUD_PCS} Cloud PC ids (GUIDs)"),
        )
    })?;
    if items.is_empty() || items.len() > MAX_CLOUD_PCS {
        return Err(format!(
            "{name} holds {} ids; give from 1 to {MAX_CLOUD_PCS}.",
            items.len()
        ));
    }
    let mut ids: Vec<Uuid> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let id = item
            .as_str()
            .and_then(|s| Uuid::try_parse(s.trim()).ok())
            .ok_or_else(|| {
                format!(
                    "'{}' must be a GUID such as 198d7140-80bb-4843-8cc4-811377a49a92.",
                    f.item(CLOUD_PC_IDS, i)
                )
            })?;
        if ids.contains(&id) {
            return Err(format!("{name} names {id} more than once."));
        }
        ids.push(id);
    }
    Ok(ids)
}

/// A result's state, by name, as its enum value.
pub fn state_value(name: &str) -> Option<i64> {
    ACTION_STATE.value_of(name)
}

/// Whether a result may move from one state to another: only forward,
/// `created → pending → running → succeeded | failed`, and to `canceled` from any
/// state that has not finished. Reporting the state it is already in is a no-op.
pub fn may_move(from: i64, to: i64) -> bool {
    let name = |v| ACTION_STATE.member(v).unwrap_or_default();
    let rank = |s: &str| match s {
        "created" => Some(0),
        "pending" => Some(1),
        "running" => Some(2),
        _ => None,
    };
    let (from, to) = (name(from), name(to));
    if from == to {
        return true;
    }
    match (rank(from), to) {
        (None, _) => false,
        (Some(_), "canceled") => true,
        (Some(f), "succeeded" | "failed") => f >= 1,
        (Some(f), t) => rank(t).is_some_and(|t| t > f),
    }
}

/// An error code by name, as its enum value.
pub fn error_code_value(name: &str) -> Option<i64> {
    ACTION_ERROR_CODE.value_of(name)
}

/// What a report records about one configure or deploy.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionReport {
    pub action_type: i64,
    pub authenticated_method: i64,
    pub app_id: Option<String>,
    pub app_name: Option<String>,
    pub user_principal_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub cloud_pc_id: Option<Uuid>,
    pub agent_name: Option<String>,
    pub activity_id: Uuid,
    pub activity_message: String,
    pub agent_setting: Value,
}

/// The enum value of an action type.
pub fn action_type(name: &str) -> i64 {
    ACTION_TYPE.value_of(name).unwrap_or_default()
}

/// The enum value of how a caller signed in.
pub fn authenticated_method(delegated: bool, guest: bool) -> i64 {
    let name = match (delegated, guest) {
        (false, _) => "appOnly",
        (true, true) => "guestUser",
        (true, false) => "normalUser",
    };
    AUTHENTICATED_METHOD.value_of(name).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef";

    #[test]
    fn agent_settings_are_checked_field_by_field() {
        let ok = AgentSetting::parse(&json!({
            "agentUrl": "https://partner.example/dl/agent.msi",
            "agentSha256": SHA,
            "installParameters": ["/quiet"],
        }))
        .unwrap();
        assert_eq!(ok.agent_sha256, SHA, "read back as sent");

        assert!(!ok.auto_deployment_enabled);
        assert_eq!(ok.agent_name().as_deref(), Some("agent.msi"));
        let err = |v: Value| AgentSetting::parse(&v).unwrap_err();
        assert!(err(json!({"agentSha256": SHA})).contains("agentUrl' is required"));
        assert!(
            err(json!({"agentUrl": "http://x.example/a", "agentSha256": SHA})).contains("'http'")
        );
        assert!(err(json!({"agentUrl": "not a url", "agentSha256": SHA})).contains("not a URL"));
        assert!(
            err(json!({"agentUrl": "https://x.example/a", "agentSha256": "abc"}))
                .contains("64 hexadecimal")
        );
        assert!(
            err(json!({"agentUrl": "https://x.example/a", "agentSha256": "z".repeat(64)}))
                .contains("not hexadecimal")
        );
        assert!(err(
            json!({"agentUrl": "https://x.example/a", "agentSha256": SHA, "installParameters": [1]})
        )
        .contains("installParameters[0]"));
        assert!(err(json!({"agentUrl": "https://x.example/a", "agentSha256": SHA, "autoDeploymentEnabled": "yes"})).contains("true or false"));
        assert!(
            err(json!({"agentUrl": "https://x.example/a", "agentSha256": SHA, "colour": 1}))
                .contains("'agentSetting.colour' is not understood")
        );
        assert!(err(json!("x")).contains("must be an object"));
    }

    #[test]
    fn cloud_pc_ids_are_one_to_fifty_distinct_guids() {
        let parse_cloud_pc_ids = |ids: Option<&Value>| {
            let body = match ids {
                Some(ids) => json!({ "cloudPcIds": ids }),
                None => json!({}),
            };
            super::parse_cloud_pc_ids(&mut Fields::of(&body, "body").unwrap())
        };
        let g = Uuid::new_v4();
        assert_eq!(parse_cloud_pc_ids(Some(&json!([g]))).unwrap(), vec![g]);
        assert!(parse_cloud_pc_ids(Some(&json!([])))
            .unwrap_err()
            .contains("from 1 to 50"));
        let many: Vec<String> = (0..51).map(|_| Uuid::new_v4().to_string()).collect();
        assert!(parse_cloud_pc_ids(Some(&json!(many)))
            .unwrap_err()
            .contains("51"));
        assert!(parse_cloud_pc_ids(Some(&json!(["x"])))
            .unwrap_err()
            .contains("cloudPcIds[0]"));
        assert!(parse_cloud_pc_ids(Some(&json!([g, g])))
            .unwrap_err()
            .contains("more than once"));
        assert!(parse_cloud_pc_ids(None).unwrap_err().contains("required"));
    }

    #[test]
    fn results_move_only_forward() {
        let s = |n| state_value(n).unwrap();
        for (from, to, ok) in [
            ("pending", "running", true),
            ("pending", "succeeded", true),
            ("running", "failed", true),
            ("running", "canceled", true),
            ("created", "succeeded", false),
            ("running", "pending", false),
            ("succeeded", "failed", false),
            ("canceled", "running", false),
            ("failed", "failed", true),
        ] {
            assert_eq!(may_move(s(from), s(to)), ok, "{from} → {to}");
        }
    }
}
