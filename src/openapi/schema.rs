//! JSON Schema (2020-12, as OpenAPI 3.1 uses it) for the described types: the same
//! facts `$metadata` reads, in the shape a schema validator or a client generator
//! wants.

use crate::edm::{ComplexType, EdmType, EntityType, EntityView, EnumType, Property, Writable};
use serde_json::{json, Map, Value};

/// The component name of a type: `microsoft.graph.<name>`, as Microsoft's own
/// OpenAPI documents name them.
pub fn component(name: &str) -> String {
    format!("{}.{name}", crate::edm::NAMESPACE)
}

/// `{"$ref": "#/components/schemas/<name>"}`
pub fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// The schema of one value of an EDM type.
pub fn edm(t: &EdmType) -> Value {
    match t {
        EdmType::String => json!({ "type": "string" }),
        EdmType::GuidString => json!({ "type": "string", "format": "uuid" }),
        EdmType::Boolean => json!({ "type": "boolean" }),
        EdmType::DateTimeOffset => json!({ "type": "string", "format": "date-time" }),
        EdmType::Enum(e) => reference(&component(e.name)),
        EdmType::Complex(c) => reference(&component(c.name)),
        EdmType::StringCollection => json!({ "type": "array", "items": { "type": "string" } }),
    }
}

/// `edm`, or `null` when the value may be null.
pub fn nullable(t: &EdmType, nullable: bool) -> Value {
    let one = edm(t);
    match (nullable, one.get("type").cloned()) {
        (false, _) => one,
        // A plain type: 3.1 writes "may be null" as a second type.
        (true, Some(kind)) => {
            let mut s = one;
            s["type"] = json!([kind, "null"]);
            s
        }
        (true, None) => json!({ "anyOf": [one, { "type": "null" }] }),
    }
}

/// An enumeration: its members as strings.
pub fn enumeration(e: &EnumType) -> Value {
    json!({ "title": e.name, "type": "string", "enum": e.members })
}

/// A complex type: every field, nothing else.
pub fn complex(c: &ComplexType) -> Value {
    let properties: Map<String, Value> = c
        .fields
        .iter()
        .map(|f| (f.name.to_owned(), nullable(&f.edm, f.nullable)))
        .collect();
    json!({
        "title": c.name,
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    })
}

/// The properties of one view as a response renders them. None is required: with
/// `$select` an item holds only the chosen ones.
fn view_properties(view: &EntityView) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "@odata.type".into(),
        json!({ "type": "string", "const": format!("#{}", view.qualified_type()) }),
    );
    m.insert(
        "@odata.etag".into(),
        json!({ "type": "string", "description": "The entity's version, for If-Match." }),
    );
    for p in view.properties() {
        m.insert(view.name(p).into(), property(p));
    }
    m
}

fn property(p: Property) -> Value {
    let mut s = nullable(&p.edm, p.nullable);
    if p.on_create == Writable::No && p.on_update == Writable::No {
        mark(&mut s, "readOnly", json!(true));
    }
    s
}

/// Adds a keyword to a schema, wrapping a bare `$ref` (whose siblings older tools
/// ignore) in `allOf`.
fn mark(s: &mut Value, key: &str, value: Value) {
    if s.get("$ref").is_some() {
        *s = json!({ "allOf": [s.clone()] });
    }
    s[key] = value;
}

/// An entity of one view, as GET answers it.
pub fn entity(view: &EntityView) -> Value {
    json!({
        "title": view.type_name,
        "type": "object",
        "properties": view_properties(view),
        "additionalProperties": false,
    })
}

/// An entity as a single-entity response: the entity and its `@odata.context`.
pub fn entity_response(view: &EntityView) -> Value {
    let mut s = entity(view);
    s["properties"]["@odata.context"] = json!({ "type": "string" });
    s["title"] = json!(format!("{} response", view.type_name));
    s
}

/// A page of a collection: `value`, with the count and the next link when asked for
/// or needed.
pub fn page(item: Value) -> Value {
    json!({
        "type": "object",
        "properties": {
            "@odata.context": { "type": "string" },
            "@odata.count": { "type": "integer", "minimum": 0 },
            "@odata.nextLink": {
                "type": "string",
                "description": "The next page: the same query with a $skiptoken. Absent on the last page."
            },
            "value": { "type": "array", "items": item },
        },
        "required": ["value"],
        "additionalProperties": false,
    })
}

/// A described row type (action results, reports): every property, as rendered.
pub fn row(entity: &EntityType) -> Value {
    let properties: Map<String, Value> = entity
        .properties
        .iter()
        .map(|p| (p.name.to_owned(), nullable(&p.edm, p.nullable)))
        .collect();
    json!({
        "title": entity.name,
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    })
}

/// A request body that creates (`on_create`) or updates (`on_update`) an entity of a
/// view: its writable properties, the required ones required, and the read-only ones
/// a client may send back unchanged marked `readOnly`.
pub fn body(view: &EntityView, writable: fn(Property) -> Writable, read_only_ok: bool) -> Value {
    let mut properties = Map::new();
    properties.insert(
        "@odata.type".into(),
        json!({ "type": "string", "const": format!("#{}", view.qualified_type()) }),
    );
    let mut required = Vec::new();
    for p in view.properties() {
        let name = view.name(p);
        match writable(p) {
            Writable::No if read_only_ok => {
                let mut s = nullable(&p.edm, p.nullable);
                mark(&mut s, "readOnly", json!(true));
                properties.insert(name.into(), s);
            }
            Writable::No => {}
            Writable::Optional => {
                properties.insert(name.into(), nullable(&p.edm, p.nullable));
            }
            Writable::Required => {
                properties.insert(name.into(), nullable(&p.edm, p.nullable));
                required.push(name);
            }
        }
    }
    if read_only_ok {
        properties.insert("@odata.etag".into(), json!({ "type": "string" }));
        properties.insert("@odata.context".into(), json!({ "type": "string" }));
    }
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schema::{PARTNERS, SETTINGS, STATUS};

    #[test]
    fn nullable_scalars_take_a_second_type_and_references_an_any_of() {
        assert_eq!(
            nullable(&EdmType::String, true),
            json!({ "type": ["string", "null"] })
        );
        assert_eq!(
            nullable(&EdmType::Enum(&STATUS), true)["anyOf"][1],
            json!({ "type": "null" })
        );
        assert_eq!(
            nullable(&EdmType::Boolean, false),
            json!({ "type": "boolean" })
        );
    }

    #[test]
    fn each_view_names_its_own_properties() {
        let new = entity(&PARTNERS);
        let old = entity(&SETTINGS);
        assert!(new["properties"]["connectionStatus"].is_object());
        assert!(new["properties"]["agentSetting"].is_object());
        assert!(old["properties"]["status"].is_object());
        assert!(old["properties"].get("connectionStatus").is_none());
        assert!(old["properties"].get("agentSetting").is_none());
    }

    #[test]
    fn create_requires_what_the_description_requires() {
        let create = body(&PARTNERS, |p| p.on_create, false);
        assert_eq!(create["required"], json!(["partnerId", "enableConnection"]));
        assert!(create["properties"].get("connectionStatus").is_none());
        let update = body(&PARTNERS, |p| p.on_update, true);
        assert_eq!(update["required"], json!(["enableConnection"]));
        assert_eq!(
            update["properties"]["connectionStatus"]["allOf"][0]["$ref"],
            "#/components/schemas/microsoft.graph.cloudPcExternalPartnerStatus"
        );
        assert_eq!(update["properties"]["partnerId"]["readOnly"], true);
    }
}
