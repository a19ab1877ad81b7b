//! Turning a request body into a validated create or update, with a message that
//! names the offending property for every mistake.

use crate::http::body::json_kind;
use crate::http::ApiError;
use crate::model::{NewPartner, PartnerUpdate};
use crate::odata::{EntityShape, Property};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Validates a create body: `partnerId` and `enableConnection`, nothing else.
pub fn parse_create(
    shape: &EntityShape,
    body: &Map<String, Value>,
) -> Result<NewPartner, ApiError> {
    check_properties(
        shape,
        body,
        &[Property::PartnerId, Property::EnableConnection],
    )?;
    let partner_id = match required(shape, body, Property::PartnerId)? {
        Value::String(s) => Uuid::try_parse(s.trim()).map_err(|_| {
            bad(format!(
                "The property 'partnerId' must be a GUID such as 198d7140-80bb-4843-8cc4-811377a49a92; '{s}' is not one."
            ))
        })?,
        other => return Err(wrong_type("partnerId", "a string holding a GUID", other)),
    };
    let enable_connection = boolean(required(shape, body, Property::EnableConnection)?)?;
    Ok(NewPartner {
        partner_id,
        enable_connection,
    })
}

/// Validates an update body: only `enableConnection`, which is required.
pub fn parse_update(
    shape: &EntityShape,
    body: &Map<String, Value>,
) -> Result<PartnerUpdate, ApiError> {
    check_properties(shape, body, &[Property::EnableConnection])?;
    let enable = boolean(required(shape, body, Property::EnableConnection)?)?;
    Ok(PartnerUpdate {
        enable_connection: Some(enable),
    })
}

fn bad(message: String) -> ApiError {
    ApiError::BadRequest(message)
}

/// Refuses unknown and read-only properties and a mismatched `@odata.type`; other
/// instance annotations (`@odata.context`, `x@odata.type`, …) carry no data and are ignored.
fn check_properties(
    shape: &EntityShape,
    body: &Map<String, Value>,
    writable: &[Property],
) -> Result<(), ApiError> {
    for (name, value) in body {
        if name == "@odata.type" {
            let expected = shape.type_name;
            let given = value.as_str().unwrap_or_default();
            if given.strip_prefix('#').unwrap_or(given) != expected {
                return Err(bad(format!(
                    "The @odata.type {value} does not match this collection's type; use \"#{expected}\" or leave it out."
                )));
            }
            continue;
        }
        if name.contains('@') {
            continue;
        }
        match shape.lookup(name).filter(|p| shape.name(*p) == name) {
            Some(p) if writable.contains(&p) => {}
            Some(_) => {
                return Err(bad(format!(
                    "The property '{name}' is read-only and cannot be set{}.",
                    if writable.len() == 1 { "; only enableConnection can be updated" } else { "; only partnerId and enableConnection can be given" }
                )))
            }
            None => {
                return Err(bad(format!(
                    "The property '{name}' does not exist on type '{}'. Make sure to only use property names that are defined by the type.",
                    shape.type_name
                )))
            }
        }
    }
    Ok(())
}

fn required<'a>(
    shape: &EntityShape,
    body: &'a Map<String, Value>,
    p: Property,
) -> Result<&'a Value, ApiError> {
    let name = shape.name(p);
    match body.get(name) {
        None => Err(bad(format!("The property '{name}' is required."))),
        Some(Value::Null) => Err(bad(format!("The property '{name}' cannot be null."))),
        Some(v) => Ok(v),
    }
}

fn boolean(v: &Value) -> Result<bool, ApiError> {
    v.as_bool()
        .ok_or_else(|| wrong_type("enableConnection", "a Boolean (true or false)", v))
}

fn wrong_type(name: &str, expected: &str, got: &Value) -> ApiError {
    bad(format!(
        "The property '{name}' must be {expected}, not {}.",
        json_kind(got)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn create(v: Value) -> Result<NewPartner, String> {
        parse_create(&EntityShape::PARTNERS, v.as_object().unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn accepts_the_seed_example() {
        let p = create(json!({
            "@odata.type": "#microsoft.graph.cloudPcExternalPartner",
            "partnerId": "198d7140-80bb-4843-8cc4-811377a49a92",
            "enableConnection": true
        }))
        .unwrap();
        assert!(p.enable_connection);
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
        let s = &EntityShape::SETTINGS;
        let ok = parse_update(s, json!({"@odata.type": "#microsoft.graph.cloudPcExternalPartnerSetting", "enableConnection": false}).as_object().unwrap());
        assert_eq!(ok.unwrap().enable_connection, Some(false));
        let e = parse_update(s, json!({"status": "healthy"}).as_object().unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("'status' is read-only"));
        let e = parse_update(
            s,
            json!({"partnerId": "x", "enableConnection": true})
                .as_object()
                .unwrap(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("'partnerId' is read-only"));
    }
}
