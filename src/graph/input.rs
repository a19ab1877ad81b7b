//! Turning a request body into a validated create or update, by the entity
//! description, with a message that names the offending property for every mistake.

use crate::edm::{EdmType, Property, Scalar, Values, Writable};
use crate::http::ApiError;
use crate::json::fields::{kind, Fields};
use crate::model::{NewPartner, PartnerUpdate};
use crate::odata::EntityView;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Which request a body is for, and so which properties it may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Create,
    Update,
}

impl Purpose {
    fn writable(self, p: Property) -> Writable {
        match self {
            Purpose::Create => p.on_create,
            Purpose::Update => p.on_update,
        }
    }
}

/// Validates a create body: the properties a create may set, the required ones present.
pub fn parse_create(shape: &EntityView, body: &Map<String, Value>) -> Result<NewPartner, ApiError> {
    let (values, _) = parse_values(shape, body, Purpose::Create)?;
    Ok(NewPartner { values })
}

/// Validates an update body: the properties an update may change. Read-only
/// properties may come back as the client read them (a client may send the whole
/// object it got): they are returned for the use case to check against the
/// connection as it is, so a PATCH that tries to change one is refused by name.
/// `statusDetails`, a sentence that moves on with every heartbeat, need only be a
/// string.
pub fn parse_update(
    shape: &EntityView,
    body: &Map<String, Value>,
) -> Result<PartnerUpdate, ApiError> {
    let (values, unchanged) = parse_values(shape, body, Purpose::Update)?;
    Ok(PartnerUpdate { values, unchanged })
}

/// Whether a read-only value sent back is compared with the connection's: all but
/// the status sentence.
fn compared(p: Property) -> bool {
    !matches!(
        p.source,
        crate::edm::Source::Derived(crate::edm::Derived::StatusDetails)
    )
}

/// The values a body sets, and (on an update) the read-only ones it sends back to
/// be compared. Unknown properties and a mismatched `@odata.type` are refused; other
/// annotations carry no data (the JSON floor's rule).
fn parse_values(
    shape: &EntityView,
    body: &Map<String, Value>,
    purpose: Purpose,
) -> Result<(Values, Vec<(Property, Scalar)>), ApiError> {
    let mut fields = Fields::new(body);
    if let Some(given) = fields.annotation("@odata.type") {
        let expected = shape.qualified_type();
        let name = given.as_str().unwrap_or_default();
        if name.strip_prefix('#').unwrap_or(name) != expected {
            return Err(bad(format!(
                "The @odata.type {given} does not match this collection's type; use \"#{expected}\" or leave it out."
            )));
        }
    }
    let mut values = Values::new();
    let mut unchanged = Vec::new();
    for p in shape.properties() {
        let name = shape.name(p);
        let writable = purpose.writable(p);
        match (writable, fields.raw(name)) {
            (Writable::No, Some(v)) if purpose == Purpose::Update => {
                if v.is_null() && !p.nullable {
                    return Err(bad(format!("The property '{name}' cannot be null.")));
                }
                let v = typed(p, name, v)?;
                if compared(p) {
                    unchanged.push((p, v));
                }
            }
            (Writable::No, Some(_)) => {
                return Err(bad(format!(
                    "The property '{name}' is read-only and cannot be set; {}.",
                    what_is_writable(shape, purpose)
                )))
            }
            (_, Some(Value::Null)) if !p.nullable => {
                return Err(bad(format!("The property '{name}' cannot be null.")))
            }
            (Writable::Required, None) if purpose == Purpose::Update => {
                return Err(bad(format!(
                    "The property '{name}' is required: it is what a PATCH changes ({}); read-only properties may be sent back as they read, but they change nothing.",
                    what_is_writable(shape, purpose)
                )))
            }
            (Writable::Required, None) => {
                return Err(bad(format!("The property '{name}' is required.")))
            }
            (_, None) => {}
            (_, Some(v)) => values.set(p.name, typed(p, name, v)?),
        }
    }
    fields
        .finish_with(|name, _| {
            format!(
                "The property {name} does not exist on type '{}'. Make sure to only use property names that are defined by the type.",
                shape.qualified_type()
            )
        })
        .map_err(bad)?;
    Ok((values, unchanged))
}

/// A JSON value as the property's type.
fn typed(p: Property, name: &str, v: &Value) -> Result<Scalar, ApiError> {
    Ok(match (&p.edm, v) {
        (_, Value::Null) => Scalar::Null,
        (EdmType::GuidString, Value::String(s)) => Scalar::Text(
            Uuid::try_parse(s.trim())
                .map_err(|_| {
                    bad(format!(
                        "The property '{name}' must be a GUID such as 198d7140-80bb-4843-8cc4-811377a49a92; '{s}' is not one."
                    ))
                })?
                .to_string(),
        ),
        (EdmType::GuidString, other) => {
            return Err(wrong_type(name, "a string holding a GUID", other))
        }
        (EdmType::String, Value::String(s)) => Scalar::Text(s.clone()),
        (EdmType::String, other) => return Err(wrong_type(name, "a string", other)),
        (EdmType::Boolean, Value::Bool(b)) => Scalar::Bool(*b),
        (EdmType::Boolean, other) => {
            return Err(wrong_type(name, "a Boolean (true or false)", other))
        }
        (EdmType::DateTimeOffset, Value::String(s)) => Scalar::Time(
            DateTime::parse_from_rfc3339(s.trim())
                .map_err(|_| {
                    bad(format!(
                        "The property '{name}' value '{s}' is not a date-time with a time zone, such as 2026-11-23T10:00:00Z."
                    ))
                })?
                .with_timezone(&Utc),
        ),
        (EdmType::DateTimeOffset, other) => {
            return Err(wrong_type(name, "a date-time string such as 2026-11-23T10:00:00Z", other))
        }
        (EdmType::Enum(e), Value::String(s)) => Scalar::Enum(e.value_of(s).ok_or_else(|| {
            bad(format!(
                "The property '{name}' must be one of {}; '{s}' is not.",
                e.members.join(", ")
            ))
        })?),
        (EdmType::Enum(e), other) => {
            return Err(wrong_type(name, &format!("one of {}", e.members.join(", ")), other))
        }
        // A value with no field set (Kiota sends `{}`, or every field null, for a null
        // it read) is no value, whatever the fields' facets say.
        (EdmType::Complex(_), Value::Object(m)) if m.values().all(Value::is_null) => Scalar::Null,
        (EdmType::Complex(c), v) => Scalar::Json(c.check(v, name).map_err(bad)?),
        (EdmType::StringCollection, other) => {
            return Err(wrong_type(name, "an array of strings", other))
        }
    })
}

fn bad(message: String) -> ApiError {
    ApiError::BadRequest(message)
}

/// "only partnerId and enableConnection can be given", from the description.
fn what_is_writable(shape: &EntityView, purpose: Purpose) -> String {
    let names: Vec<&str> = shape
        .properties()
        .filter(|p| purpose.writable(p) != Writable::No)
        .map(|p| shape.name(p))
        .collect();
    let list = match names.split_last() {
        None => return "nothing can be set".into(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    };
    match purpose {
        Purpose::Create => format!("only {list} can be given"),
        Purpose::Update => format!("only {list} can be updated"),
    }
}

fn wrong_type(name: &str, expected: &str, got: &Value) -> ApiError {
    bad(format!(
        "The property '{name}' must be {expected}, not {}.",
        kind(got)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schema::{PARTNERS, SETTINGS};
    use serde_json::json;

    fn create(v: Value) -> Result<NewPartner, String> {
        parse_create(&PARTNERS, v.as_object().unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn accepts_the_seed_example() {
        let p = create(json!({
            "@odata.type": "#microsoft.graph.cloudPcExternalPartner",
            "partnerId": "198d7140-80bb-4843-8cc4-811377a49a92",
            "enableConnection": true
        }))
        .unwrap();
        assert!(p.enable_connection());
    }

    #[test]
    fn names_each_problem() {
        let g = "198d7140-80bb-4843-8cc4-811377a49a92";
        assert!(create(json!({"enableConnection": true}))
            .unwrap_err()
            .contains("'partnerId' is required"));
        assert!(create(json!({"partnerId": g}))
            .unwrap_err()
            .contains("'enableConnection' is required"));
        assert!(
            create(json!({"partnerId": "nope", "enableConnection": true}))
                .unwrap_err()
                .contains("must be a GUID")
        );
        assert!(create(json!({"partnerId": 5, "enableConnection": true}))
            .unwrap_err()
            .contains("not a number"));
        assert!(create(json!({"partnerId": g, "enableConnection": "true"}))
            .unwrap_err()
            .contains("not a string"));
        assert!(create(json!({"partnerId": g, "enableConnection": null}))
            .unwrap_err()
            .contains("cannot be null"));
        assert!(
            create(json!({"partnerId": g, "enableConnection": true, "id": "x"}))
                .unwrap_err()
                .contains("'id' is read-only")
        );
        assert!(
            create(json!({"partnerId": g, "enableConnection": true, "colour": 1}))
                .unwrap_err()
                .contains("'colour' does not exist")
        );
        assert!(create(
            json!({"partnerId": g, "enableConnection": true, "EnableConnection": true})
        )
        .unwrap_err()
        .contains("does not exist"));
        assert!(create(json!({"@odata.type": "#microsoft.graph.user", "partnerId": g, "enableConnection": true})).unwrap_err().contains("@odata.type"));
    }

    #[test]
    fn update_takes_only_enable_connection() {
        let s = &SETTINGS;
        let ok = parse_update(s, json!({"@odata.type": "#microsoft.graph.cloudPcExternalPartnerSetting", "enableConnection": false}).as_object().unwrap());
        assert_eq!(ok.unwrap().values.bool("enableConnection"), Some(false));
        // Read-only properties may come back as read: each is type-checked and
        // handed on to be compared with the connection, but the status sentence.
        let u = parse_update(s, json!({"status": "healthy", "statusDetails": "words", "enableConnection": true, "partnerId": "198D7140-80BB-4843-8CC4-811377A49A92"}).as_object().unwrap()).unwrap();
        let names: Vec<&str> = u.unchanged.iter().map(|(p, _)| p.name).collect();
        // In the description's order.
        assert_eq!(names, ["partnerId", "connectionStatus"]);
        assert_eq!(
            u.unchanged[0].1,
            Scalar::Text("198d7140-80bb-4843-8cc4-811377a49a92".into())
        );
        let e = parse_update(
            s,
            json!({"status": "broken", "enableConnection": true})
                .as_object()
                .unwrap(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("'status'"), "{e}");
        let e = parse_update(
            s,
            json!({"partnerId": "x", "enableConnection": true})
                .as_object()
                .unwrap(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("must be a GUID"), "{e}");
        let e = parse_update(
            s,
            json!({"colour": 1, "enableConnection": true})
                .as_object()
                .unwrap(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("does not exist"), "{e}");
    }
}
