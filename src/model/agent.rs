//! The agent side of a partner connection: the agent a tenant configures, the rules
//! a deployment's per-Cloud-PC results move by, and what an action report records.

use super::schema::{ACTION_ERROR_CODE, ACTION_STATE, ACTION_TYPE, AUTHENTICATED_METHOD};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
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
    /// Validates the JSON a client sent; the error names the field and what it needs.
    pub fn parse(value: &Value) -> Result<Self, String> {
        let Value::Object(m) = value else {
            return Err("'agentSetting' must be an object with agentUrl, agentSha256, installParameters and autoDeploymentEnabled.".into());
        };
        let known = [
            "agentUrl",
            "agentSha256",
            "installParameters",
            "autoDeploymentEnabled",
        ];
        if let Some(k) = m
            .keys()
            .find(|k| !k.starts_with('@') && !known.contains(&k.as_str()))
        {
            return Err(format!(
                "'agentSetting' has no field '{k}'; it has {}.",
                known.join(", ")
            ));
        }
        let agent_url = agent_url(m)?;
        let agent_sha256 = match m.get("agentSha256") {
            Some(Value::String(s)) if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
                s.clone()
            }
            Some(Value::String(s)) => {
                return Err(format!(
                    "'agentSetting.agentSha256' must be the installer's SHA-256 as 64 hexadecimal digits; '{s}' has {} characters{}.",
                    s.chars().count(),
                    if s.bytes().all(|b| b.is_ascii_hexdigit()) { "" } else { " and characters that are not hexadecimal digits" }
                ))
            }
            None | Some(Value::Null) => {
                return Err("'agentSetting.agentSha256' is required: the installer's SHA-256 as 64 hexadecimal digits.".into())
            }
            Some(_) => return Err("'agentSetting.agentSha256' must be a string of 64 hexadecimal digits.".into()),
        };
        let install_parameters = match m.get("installParameters") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => {
                if items.len() > MAX_PARAMETERS {
                    return Err(format!(
                        "'agentSetting.installParameters' has {} items; at most {MAX_PARAMETERS} are accepted.",
                        items.len()
                    ));
                }
                items
                    .iter()
                    .enumerate()
                    .map(|(i, p)| match p {
                        Value::String(s) if s.len() <= MAX_PARAMETER_LEN => Ok(s.clone()),
                        Value::String(_) => Err(format!(
                            "'agentSetting.installParameters[{i}]' is longer than {MAX_PARAMETER_LEN} bytes."
                        )),
                        _ => Err(format!(
                            "'agentSetting.installParameters[{i}]' must be a string."
                        )),
                    })
                    .collect::<Result<_, _>>()?
            }
            Some(_) => {
                return Err("'agentSetting.installParameters' must be an array of strings.".into())
            }
        };
        let auto_deployment_enabled = match m.get("autoDeploymentEnabled") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err("'agentSetting.autoDeploymentEnabled' must be true or false.".into())
            }
        };
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
            "agentUrl": self.agent_url,
            "agentSha256": self.agent_sha256,
            "installParameters": self.install_parameters,
            "autoDeploymentEnabled": self.auto_deployment_enabled,
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

fn agent_url(m: &Map<String, Value>) -> Result<String, String> {
    let s = match m.get("agentUrl") {
        Some(Value::String(s)) => s,
        None | Some(Value::Null) => {
            return Err(
                "'agentSetting.agentUrl' is required: the https URL of the agent's installer."
                    .into(),
            )
        }
        Some(_) => {
            return Err("'agentSetting.agentUrl' must be a string holding an https URL.".into())
        }
    };
    if s.len() > MAX_URL_LEN {
        return Err(format!(
            "'agentSetting.agentUrl' is longer than {MAX_URL_LEN} characters."
        ));
    }
    match url::Url::parse(s) {
        Ok(u) if u.scheme() == "https" && u.host().is_some() => Ok(s.clone()),
        Ok(u) => Err(format!(
            "'agentSetting.agentUrl' must be an https URL; '{s}' uses {}.",
            if u.host().is_none() { "no host".to_owned() } else { format!("'{}'", u.scheme()) }
        )),
        Err(_) => Err(format!(
            "'agentSetting.agentUrl' must be an https URL such as https://partner.example/agent.msi; '{s}' is not a URL."
        )),
    }
}

/// The Cloud PCs a deployment names: 1 to [`MAX_CLOUD_PCS`] distinct GUIDs.
pub fn parse_cloud_pc_ids(value: Option<&Value>) -> Result<Vec<Uuid>, String> {
    let items = match value {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => {
            return Err(
                "'cloudPcIds' is required: an array of 1 to 50 Cloud PC ids (GUIDs).".into(),
            )
        }
        Some(_) => return Err("'cloudPcIds' must be an array of Cloud PC ids (GUIDs).".into()),
    };
    if items.is_empty() || items.len() > MAX_CLOUD_PCS {
        return Err(format!(
            "'cloudPcIds' holds {} ids; give from 1 to {MAX_CLOUD_PCS}.",
            items.len()
        ));
    }
    let mut ids: Vec<Uuid> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let id = item
            .as_str()
            .and_then(|s| Uuid::try_parse(s.trim()).ok())
            .ok_or_else(|| format!("'cloudPcIds[{i}]' must be a GUID such as 198d7140-80bb-4843-8cc4-811377a49a92."))?;
        if ids.contains(&id) {
            return Err(format!("'cloudPcIds' names {id} more than once."));
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
                .contains("'colour'")
        );
        assert!(err(json!("x")).contains("must be an object"));
    }

    #[test]
    fn cloud_pc_ids_are_one_to_fifty_distinct_guids() {
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
