//! The description of `cloudPcExternalPartner`: every fact about each property, once.
//! Its older `cloudPcExternalPartnerSetting` view serves the same records and calls
//! `connectionStatus` `status`.

use crate::edm::{
    Derived, EdmType, EntityType, EntityView, EnumType, FilterOps, PropertyDef, Source, Writable,
};

/// `cloudPcExternalPartnerStatus`, in the schema's member order (also the order
/// `$orderby=connectionStatus` sorts by, as OData orders enums by value).
pub static STATUS: EnumType = EnumType {
    name: "cloudPcExternalPartnerStatus",
    members: &["notAvailable", "available", "healthy", "unhealthy"],
    evolvable: true,
};

/// Names the domain rules read values by.
pub const PARTNER_ID: &str = "partnerId";
pub const ENABLE_CONNECTION: &str = "enableConnection";
pub const LAST_SYNC_DATE_TIME: &str = "lastSyncDateTime";

/// The stored column `enableConnection` lives in; the update SQL restarts the health
/// clock when it switches on.
pub const ENABLE_CONNECTION_COLUMN: &str = "enable_connection";

/// `cloudPcExternalPartner`, in the order the seed pages list (and JSON renders) it.
pub static PARTNER: EntityType = EntityType {
    name: "cloudPcExternalPartner",
    properties: &[
        PropertyDef {
            name: "id",
            edm: EdmType::GuidString,
            nullable: false,
            on_create: Writable::No,
            on_update: Writable::No,
            filter: FilterOps::Ordering,
            sortable: true,
            source: Source::Key,
        },
        PropertyDef {
            name: PARTNER_ID,
            edm: EdmType::GuidString,
            nullable: false,
            on_create: Writable::Required,
            on_update: Writable::No,
            filter: FilterOps::Ordering,
            sortable: true,
            source: Source::Column("partner_id"),
        },
        PropertyDef {
            name: ENABLE_CONNECTION,
            edm: EdmType::Boolean,
            nullable: false,
            on_create: Writable::Required,
            on_update: Writable::Required,
            filter: FilterOps::Equality,
            sortable: true,
            source: Source::Column(ENABLE_CONNECTION_COLUMN),
        },
        PropertyDef {
            name: LAST_SYNC_DATE_TIME,
            edm: EdmType::DateTimeOffset,
            nullable: true,
            on_create: Writable::No,
            on_update: Writable::No,
            filter: FilterOps::Ordering,
            sortable: true,
            source: Source::Column("last_sync_at"),
        },
        PropertyDef {
            name: "connectionStatus",
            edm: EdmType::Enum(&STATUS),
            nullable: false,
            on_create: Writable::No,
            on_update: Writable::No,
            filter: FilterOps::Ordering,
            sortable: true,
            source: Source::Derived(Derived::Status),
        },
        PropertyDef {
            name: "statusDetails",
            edm: EdmType::String,
            nullable: true,
            on_create: Writable::No,
            on_update: Writable::No,
            filter: FilterOps::None,
            sortable: false,
            source: Source::Derived(Derived::StatusDetails),
        },
    ],
};

/// `externalPartners`, the current view.
pub static PARTNERS: EntityView = EntityView {
    set_name: "externalPartners",
    type_name: "cloudPcExternalPartner",
    entity: &PARTNER,
    renames: &[],
};

/// `externalPartnerSettings`, the view Microsoft deprecated.
pub static SETTINGS: EntityView = EntityView {
    set_name: "externalPartnerSettings",
    type_name: "cloudPcExternalPartnerSetting",
    entity: &PARTNER,
    renames: &[("connectionStatus", "status")],
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edm::csdl;

    /// The generated type matches the shape of Microsoft's beta CSDL for
    /// cloudPcExternalPartner (before its 2026 agent members): the same properties,
    /// types and nullability, in its alphabetical order, keyed by graph.entity.
    #[test]
    fn csdl_matches_microsofts_beta_shape() {
        assert_eq!(
            csdl::entity_type(&PARTNERS),
            r#"      <EntityType Name="cloudPcExternalPartner" BaseType="graph.entity">
        <Property Name="connectionStatus" Type="graph.cloudPcExternalPartnerStatus" Nullable="false" />
        <Property Name="enableConnection" Type="Edm.Boolean" Nullable="false" />
        <Property Name="lastSyncDateTime" Type="Edm.DateTimeOffset" />
        <Property Name="partnerId" Type="Edm.String" Nullable="false" />
        <Property Name="statusDetails" Type="Edm.String" />
      </EntityType>
"#
        );
        assert!(csdl::entity_type(&SETTINGS).contains(
            r#"<Property Name="status" Type="graph.cloudPcExternalPartnerStatus" Nullable="false" />"#
        ));
        assert_eq!(
            csdl::enum_type(&STATUS),
            r#"      <EnumType Name="cloudPcExternalPartnerStatus">
        <Member Name="notAvailable" Value="0" />
        <Member Name="available" Value="1" />
        <Member Name="healthy" Value="2" />
        <Member Name="unhealthy" Value="3" />
        <Member Name="unknownFutureValue" Value="4" />
      </EnumType>
"#
        );
    }

    #[test]
    fn every_stored_property_has_a_distinct_column() {
        let cols: Vec<_> = PARTNER.columns().map(|(_, c)| c).collect();
        let mut unique = cols.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(cols.len(), unique.len());
    }
}
