//! CSDL (`$metadata`) fragments generated from the description, in the form of
//! Microsoft's beta schema: properties in alphabetical order, the key inherited from
//! `graph.entity`, enums followed by `unknownFutureValue` when evolvable.

use super::{EdmType, EntityView, EnumType, Source};
use std::fmt::Write;

/// The type as `$metadata` writes it, with the `graph` alias for this namespace.
fn type_ref(t: &EdmType) -> String {
    match t {
        EdmType::Enum(e) => format!("graph.{}", e.name),
        other => other.name(),
    }
}

/// `<EnumType>` for an enum.
pub fn enum_type(e: &EnumType) -> String {
    let mut s = format!("      <EnumType Name=\"{}\">\n", e.name);
    let sentinel = e.evolvable.then_some("unknownFutureValue");
    for (i, m) in e.members.iter().copied().chain(sentinel).enumerate() {
        let _ = writeln!(s, "        <Member Name=\"{m}\" Value=\"{i}\" />");
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
