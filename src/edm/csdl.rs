//! CSDL (`$metadata`) fragments generated from the description, in the form of
//! Microsoft's beta schema: properties in alphabetical order, the key inherited from
//! `graph.entity`, enums followed by `unknownFutureValue` when evolvable.

use super::{ComplexType, EdmType, EntityType, EntityView, EnumType, Operation, Returns, Source};
use std::fmt::Write;

/// The type as `$metadata` writes it, with the `graph` alias for this namespace.
fn type_ref(t: &EdmType) -> String {
    match t {
        EdmType::Enum(e) => format!("graph.{}", e.name),
        EdmType::Complex(c) => format!("graph.{}", c.name),
        other => other.name(),
    }
}

/// `<ComplexType>` for a complex type, its fields in the order given.
pub fn complex_type(c: &ComplexType) -> String {
    let mut s = format!("      <ComplexType Name=\"{}\">\n", c.name);
    for f in c.fields {
        let nullable = if f.nullable {
            ""
        } else {
            " Nullable=\"false\""
        };
        let _ = writeln!(
            s,
            "        <Property Name=\"{}\" Type=\"{}\"{nullable} />",
            f.name,
            type_ref(&f.edm)
        );
    }
    s.push_str("      </ComplexType>\n");
    s
}

/// `<EnumType>` for an enum.
pub fn enum_type(e: &EnumType) -> String {
    let mut s = format!("      <EnumType Name=\"{}\">\n", e.name);
    for (i, m) in e.members.iter().enumerate() {
        let _ = writeln!(s, "        <Member Name=\"{m}\" Value=\"{i}\" />");
    }
    if let Some(v) = e.unknown_future_value {
        let _ = writeln!(
            s,
            "        <Member Name=\"unknownFutureValue\" Value=\"{v}\" />"
        );
    }
    s.push_str("      </EnumType>\n");
    s
}

/// `<EntityType>` for one view of an entity, deriving from `graph.entity`.
pub fn entity_type(view: &EntityView) -> String {
    let mut props: Vec<_> = view
        .properties()
        .filter(|p| p.source != Source::Key)
        .map(|p| (view.name(p), p))
        .collect();
    props.sort_by_key(|(name, _)| *name);
    let mut s = format!(
        "      <EntityType Name=\"{}\" BaseType=\"graph.entity\">\n",
        view.type_name
    );
    for (name, p) in props {
        let nullable = if p.nullable {
            ""
        } else {
            " Nullable=\"false\""
        };
        let _ = writeln!(
            s,
            "        <Property Name=\"{name}\" Type=\"{}\"{nullable} />",
            type_ref(&p.edm)
        );
    }
    s.push_str("      </EntityType>\n");
    s
}

/// `<ComplexType>` for a row type described like an entity (action results and
/// reports are complex types in Graph's schema), properties in alphabetical order.
pub fn complex_type_of(entity: &EntityType) -> String {
    let mut props: Vec<_> = entity.properties.iter().collect();
    props.sort_by_key(|p| p.name);
    let mut s = format!("      <ComplexType Name=\"{}\">\n", entity.name);
    for p in props {
        let nullable = if p.nullable {
            ""
        } else {
            " Nullable=\"false\""
        };
        let _ = writeln!(
            s,
            "        <Property Name=\"{}\" Type=\"{}\"{nullable} />",
            p.name,
            type_ref(&p.edm)
        );
    }
    s.push_str("      </ComplexType>\n");
    s
}

/// `<Action>` or `<Function>` bound to `binding` (a type name in this namespace).
pub fn operation(op: &Operation, binding: &str) -> String {
    let element = if op.is_action { "Action" } else { "Function" };
    let mut s = format!("      <{element} Name=\"{}\" IsBound=\"true\">\n", op.name);
    let _ = writeln!(
        s,
        "        <Parameter Name=\"bindingParameter\" Type=\"graph.{binding}\" />"
    );
    for (name, edm) in op.parameters {
        let _ = writeln!(
            s,
            "        <Parameter Name=\"{name}\" Type=\"{}\" />",
            type_ref(edm)
        );
    }
    match &op.returns {
        Some(Returns::String) => s.push_str("        <ReturnType Type=\"Edm.String\" />\n"),
        Some(Returns::CollectionOf(e)) => {
            let _ = writeln!(
                s,
                "        <ReturnType Type=\"Collection(graph.{})\" />",
                e.name
            );
        }
        None => {}
    }
    let _ = writeln!(s, "      </{element}>");
    s
}
