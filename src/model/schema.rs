//! The description of `cloudPcExternalPartner`: every fact about each property, once.
//! Its older `cloudPcExternalPartnerSetting` view serves the same records and calls
//! `connectionStatus` `status`.

use crate::edm::{
    Catalog, ComplexType, Deprecation, Derived, EdmType, EntitySet, EntityType, EntityView,
    EnumType, FieldDef, FilterOps, Operation, PropertyDef, Returns, Source, Writable,
};

/// `cloudPcExternalPartnerStatus` (Microsoft numbers its `unknownFutureValue` 999), in the schema's member order (also the order
/// `$orderby=connectionStatus` sorts by, as OData orders enums by value).
pub static STATUS: EnumType = EnumType {
    name: "cloudPcExternalPartnerStatus",
    members: &["notAvailable", "available", "healthy", "unhealthy"],
    unknown_future_value: Some(999),
};

/// The agent setting's fields, as its description and its reader name them.
pub const AGENT_URL: &str = "agentUrl";
pub const AGENT_SHA256: &str = "agentSha256";
pub const INSTALL_PARAMETERS: &str = "installParameters";
pub const AUTO_DEPLOYMENT_ENABLED: &str = "autoDeploymentEnabled";
/// `deployAgent`'s parameter.
pub const CLOUD_PC_IDS: &str = "cloudPcIds";

/// `cloudPcExternalPartnerAgentSetting`: the partner agent a tenant configures.
pub static AGENT_SETTING: ComplexType = ComplexType {
    name: "cloudPcExternalPartnerAgentSetting",
    fields: &[
        FieldDef {
            name: AGENT_URL,
            edm: EdmType::String,
            nullable: true,
        },
        FieldDef {
            name: AGENT_SHA256,
            edm: EdmType::String,
            nullable: true,
        },
        FieldDef {
            name: INSTALL_PARAMETERS,
            edm: EdmType::StringCollection,
            nullable: false,
        },
        FieldDef {
            name: AUTO_DEPLOYMENT_ENABLED,
            edm: EdmType::Boolean,
            nullable: true,
        },
    ],
};

/// `cloudPcExternalPartnerActionStatus`: where one Cloud PC's part of an action is.
pub static ACTION_STATE: EnumType = EnumType {
    name: "cloudPcExternalPartnerActionStatus",
    members: &[
        "created",
        "pending",
        "canceled",
        "running",
        "succeeded",
        "failed",
    ],
    unknown_future_value: Some(6),
};

/// `cloudPcExternalPartnerActionErrorCode`: why one Cloud PC's part failed.
pub static ACTION_ERROR_CODE: EnumType = EnumType {
    name: "cloudPcExternalPartnerActionErrorCode",
    members: &[
        "none",
        "executeActionFailed",
        "executeActionTimeout",
        "deviceNotFound",
        "deviceNotAvailable",
        "checkDiskSpaceFailed",
        "checkNetworkConnectionFailed",
        "agentNotFound",
        "invalidAgentFormat",
        "invalidAgentChecksum",
    ],
    unknown_future_value: Some(10),
};

/// `cloudPcExternalPartnerActionType`: what a reported action was.
pub static ACTION_TYPE: EnumType = EnumType {
    name: "cloudPcExternalPartnerActionType",
    members: &["configureAgent", "deployAgent"],
    unknown_future_value: Some(2),
};

/// `cloudPcExternalPartnerAuthenticatedMethod`: how the actor signed in.
pub static AUTHENTICATED_METHOD: EnumType = EnumType {
    name: "cloudPcExternalPartnerAuthenticatedMethod",
    members: &["gDAP", "dAP", "appOnly", "normalUser", "guestUser"],
    unknown_future_value: Some(5),
};

/// Names the domain rules read values by.
pub const PARTNER_ID: &str = "partnerId";
pub const ENABLE_CONNECTION: &str = "enableConnection";
pub const LAST_SYNC_DATE_TIME: &str = "lastSyncDateTime";
pub const AGENT_SETTING_PROPERTY: &str = "agentSetting";

/// The stored column `enableConnection` lives in; the update SQL restarts the health
/// clock when it switches on.
pub const ENABLE_CONNECTION_COLUMN: &str = "enable_connection";

/// `cloudPcExternalPartner`, in the order the seed pages list (and JSON renders) it,
/// then the agent member Microsoft added in 2026 (set through `configureAgent`).
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
            server_maintained: false,
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
            server_maintained: false,
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
            server_maintained: false,
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
            server_maintained: true,
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
            server_maintained: true,
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
            server_maintained: true,
            source: Source::Derived(Derived::StatusDetails),
        },
        PropertyDef {
            name: AGENT_SETTING_PROPERTY,
            edm: EdmType::Complex(&AGENT_SETTING),
            nullable: true,
            on_create: Writable::No,
            on_update: Writable::No,
            filter: FilterOps::None,
            sortable: false,
            server_maintained: false,
            source: Source::Column("agent_setting"),
        },
    ],
};

/// `externalPartners`, the current view.
pub static PARTNERS: EntityView = EntityView {
    set_name: "externalPartners",
    type_name: "cloudPcExternalPartner",
    entity: &PARTNER,
    renames: &[],
    omits: &[],
};

/// `externalPartnerSettings`, the view Microsoft deprecated.
pub static SETTINGS: EntityView = EntityView {
    set_name: "externalPartnerSettings",
    type_name: "cloudPcExternalPartnerSetting",
    entity: &PARTNER,
    renames: &[("connectionStatus", "status")],
    // The deprecated type was removed before Microsoft added the agent members.
    omits: &[AGENT_SETTING_PROPERTY],
};

/// `cloudPcExternalPartnerActionResult`: one Cloud PC's part of an agent deployment,
/// as `retrieveDeployAgentActionResults` returns it (a complex type in Graph's schema;
/// described like an entity so the same query options and SQL apply).
pub static ACTION_RESULT: EntityType = EntityType {
    name: "cloudPcExternalPartnerActionResult",
    properties: &[
        PropertyDef {
            name: "activityId",
            edm: EdmType::String,
            nullable: true,
            on_create: Writable::No,
            on_update: Writable::No,
            filter: FilterOps::Equality,
            sortable: true,
            server_maintained: false,
            source: Source::Column("activity_id"),
        },
        PropertyDef {
            name: "cloudPcId",
            edm: EdmType::String,
            nullable: true,
            on_create: Writable::No,
            on_update: Writable::No,
            filter: FilterOps::Equality,
            sortable: true,
            server_maintained: false,
            source: Source::Column("cloud_pc_id"),
        },
        PropertyDef {
            name: "state",
            edm: EdmType::Enum(&ACTION_STATE),
            nullable: false,
            on_create: Writable::No,
            on_update: Writable::No,
            filter: FilterOps::Ordering,
            sortable: true,
            server_maintained: false,
            source: Source::Column("state"),
        },
        PropertyDef {
            name: "startDateTime",
            edm: EdmType::DateTimeOffset,
            nullable: true,
            on_create: Writable::No,
            on_update: Writable::No,
            filter: FilterOps::Ordering,
            sortable: true,
            server_maintained: false,
            source: Source::Column("start_at"),
        },
        PropertyDef {
            name: "lastModifiedDateTime",
            edm: EdmType::DateTimeOffset,
            nullable: true,
            on_create: Writable::No,
            on_update: Writable::No,
            filter: FilterOps::Ordering,
            sortable: true,
            server_maintained: false,
            source: Source::Column("last_modified_at"),
        },
        PropertyDef {
            name: "errorCode",
            edm: EdmType::Enum(&ACTION_ERROR_CODE),
            nullable: false,
            on_create: Writable::No,
            on_update: Writable::No,
            filter: FilterOps::Equality,
            sortable: true,
            server_maintained: false,
            source: Source::Column("error_code"),
        },
        PropertyDef {
            name: "errorMessage",
            edm: EdmType::String,
            nullable: true,
            on_create: Writable::No,
            on_update: Writable::No,
            filter: FilterOps::Equality,
            sortable: false,
            server_maintained: false,
            source: Source::Column("error_message"),
        },
    ],
};

/// The results of `retrieveDeployAgentActionResults`.
pub static ACTION_RESULTS: EntityView = EntityView {
    set_name: "retrieveDeployAgentActionResults",
    type_name: "cloudPcExternalPartnerActionResult",
    entity: &ACTION_RESULT,
    renames: &[],
    omits: &[],
};

/// `cloudPcExternalPartnerActionReport`: who configured or deployed what, and when.
pub static ACTION_REPORT: EntityType = EntityType {
    name: "cloudPcExternalPartnerActionReport",
    properties: &[
        PropertyDef {
            name: "actionType",
            edm: EdmType::Enum(&ACTION_TYPE),
            nullable: false,
            on_create: Writable::No,
            on_update: Writable::No,
            filter: FilterOps::Equality,
            sortable: true,
            server_maintained: false,
            source: Source::Column("action_type"),
        },
        PropertyDef {
            name: "authenticatedMethod",
            edm: EdmType::Enum(&AUTHENTICATED_METHOD),
            nullable: false,
            on_create: Writable::No,
            on_update: Writable::No,
            filter: FilterOps::Equality,
            sortable: true,
            server_maintained: false,
            source: Source::Column("authenticated_method"),
        },
        PropertyDef {
            name: "authenticatedAppId",
            edm: EdmType::String,
            nullable: false,
            on_create: Writable::No,
            on_update: Writable::No,
            filter: FilterOps::Equality,
            sortable: true,
            server_maintained: false,
            source: Source::Column("authenticated_app_id"),
        },
        PropertyDef {
            name: "authenticatedAppName",
            edm: EdmType::String,
            nullable: true,
            on_create: Writable::No,
            on_update: Writable::No,
            filter: FilterOps::Equality,
            sortable: true,
            server_maintained: false,
            source: Source::Column("authenticated_app_name"),
        },
        PropertyDef {
            name: "authenticatedUserPrincipalName",
            edm: EdmType::String,
            nullable: true,
            on_create: Writable::No,
            on_update: Writable::No,
            filter: FilterOps::Equality,
            sortable: true,
            server_maintained: false,
            source: Source::Column("authenticated_user_principal_name"),
        },
        PropertyDef {
            name: "createdDateTime",
            edm: EdmType::DateTimeOffset,
            nullable: false,
            on_create: Writable::No,
            on_update: Writable::No,
            filter: FilterOps::Ordering,
            sortable: true,
            server_maintained: false,
            source: Source::Column("created_at"),
        },
        PropertyDef {
            name: "cloudPcId",
            edm: EdmType::String,
            nullable: true,
            on_create: Writable::No,
            on_update: Writable::No,
            filter: FilterOps::Equality,
            sortable: true,
            server_maintained: false,
            source: Source::Column("cloud_pc_id"),
        },
        PropertyDef {
            name: "cloudPcName",
            edm: EdmType::String,
            nullable: true,
            on_create: Writable::No,
            on_update: Writable::No,
            filter: FilterOps::Equality,
            sortable: true,
            server_maintained: false,
            source: Source::Column("cloud_pc_name"),
        },
        PropertyDef {
            name: "agentName",
            edm: EdmType::String,
            nullable: true,
            on_create: Writable::No,
            on_update: Writable::No,
            filter: FilterOps::Equality,
            sortable: true,
            server_maintained: false,
            source: Source::Column("agent_name"),
        },
        PropertyDef {
            name: "activityId",
            edm: EdmType::String,
            nullable: true,
            on_create: Writable::No,
            on_update: Writable::No,
            filter: FilterOps::Equality,
            sortable: true,
            server_maintained: false,
            source: Source::Column("activity_id"),
        },
        PropertyDef {
            name: "activityMessage",
            edm: EdmType::String,
            nullable: true,
            on_create: Writable::No,
            on_update: Writable::No,
            filter: FilterOps::None,
            sortable: false,
            server_maintained: false,
            source: Source::Column("activity_message"),
        },
        PropertyDef {
            name: "agentSetting",
            edm: EdmType::Complex(&AGENT_SETTING),
            nullable: true,
            on_create: Writable::No,
            on_update: Writable::No,
            filter: FilterOps::None,
            sortable: false,
            server_maintained: false,
            source: Source::Column("agent_setting"),
        },
    ],
};

/// The results of `retrieveActionReports`.
pub static ACTION_REPORTS: EntityView = EntityView {
    set_name: "retrieveActionReports",
    type_name: "cloudPcExternalPartnerActionReport",
    entity: &ACTION_REPORT,
    renames: &[],
    omits: &[],
};

/// The operations bound to `cloudPcExternalPartner`.
pub static PARTNER_OPERATIONS: [Operation; 4] = [
    Operation {
        name: "configureAgent",
        is_action: true,
        parameters: &[(AGENT_SETTING_PROPERTY, EdmType::Complex(&AGENT_SETTING))],
        returns: None,
    },
    Operation {
        name: "deployAgent",
        is_action: true,
        parameters: &[(CLOUD_PC_IDS, EdmType::StringCollection)],
        returns: Some(Returns::String),
    },
    Operation {
        name: "retrieveDeployAgentActionResults",
        is_action: false,
        parameters: &[
            ("activityId", EdmType::String),
            ("cloudPcId", EdmType::String),
        ],
        returns: Some(Returns::CollectionOf(&ACTION_RESULT)),
    },
    Operation {
        name: "retrieveActionReports",
        is_action: false,
        parameters: &[],
        returns: Some(Returns::CollectionOf(&ACTION_REPORT)),
    },
];

/// Every enum type the schema declares.
/// What this service describes, listed once.
pub static CATALOG: Catalog = Catalog {
    sets: &[
        EntitySet {
            view: &PARTNERS,
            about: "the tenant's partner connections.",
            deprecated: None,
        },
        EntitySet {
            view: &SETTINGS,
            about: "the same records through the view Microsoft deprecated.",
            // Deprecated on 2025-02-18, removed on 2026-03-31.
            deprecated: Some(Deprecation {
                announced: "@1739836800",
                sunset: "Tue, 31 Mar 2026 00:00:00 GMT",
                successor: &PARTNERS,
            }),
        },
    ],
    bound_to: &PARTNERS,
    operations: &PARTNER_OPERATIONS,
    row_views: &[&ACTION_RESULTS, &ACTION_REPORTS],
    complex_types: &[&AGENT_SETTING],
    enums: &ENUMS,
};

pub static ENUMS: [&EnumType; 5] = [
    &STATUS,
    &ACTION_STATE,
    &ACTION_ERROR_CODE,
    &ACTION_TYPE,
    &AUTHENTICATED_METHOD,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edm::csdl;

    /// The generated type matches the shape of Microsoft's beta CSDL for
    /// cloudPcExternalPartner (with its 2026 agent member): the same properties,
    /// types and nullability, in its alphabetical order, keyed by graph.entity.
    #[test]
    fn csdl_matches_microsofts_beta_shape() {
        assert_eq!(
            csdl::entity_type(&PARTNERS),
            r#"      <EntityType Name="cloudPcExternalPartner" BaseType="graph.entity">
        <Property Name="agentSetting" Type="graph.cloudPcExternalPartnerAgentSetting" />
        <Property Name="connectionStatus" Type="graph.cloudPcExternalPartnerStatus" Nullable="false" />
        <Property Name="enableConnection" Type="Edm.Boolean" Nullable="false" />
        <Property Name="lastSyncDateTime" Type="Edm.DateTimeOffset" />
        <Property Name="partnerId" Type="Edm.String" Nullable="false" />
        <Property Name="statusDetails" Type="Edm.String" />
      </EntityType>
"#
        );
        let legacy = csdl::entity_type(&SETTINGS);
        assert!(legacy.contains(
            r#"<Property Name="status" Type="graph.cloudPcExternalPartnerStatus" Nullable="false" />"#
        ));
        assert!(!legacy.contains("agentSetting"));
        assert_eq!(
            csdl::complex_type(&AGENT_SETTING),
            r#"      <ComplexType Name="cloudPcExternalPartnerAgentSetting">
        <Property Name="agentUrl" Type="Edm.String" />
        <Property Name="agentSha256" Type="Edm.String" />
        <Property Name="installParameters" Type="Collection(Edm.String)" Nullable="false" />
        <Property Name="autoDeploymentEnabled" Type="Edm.Boolean" />
      </ComplexType>
"#
        );
        assert_eq!(
            csdl::enum_type(&STATUS),
            r#"      <EnumType Name="cloudPcExternalPartnerStatus">
        <Member Name="notAvailable" Value="0" />
        <Member Name="available" Value="1" />
        <Member Name="healthy" Value="2" />
        <Member Name="unhealthy" Value="3" />
        <Member Name="unknownFutureValue" Value="999" />
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
