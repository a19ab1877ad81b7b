//! The properties of `cloudPcExternalPartner` (and its older `cloudPcExternalPartnerSetting`
//! view, which names the status property `status`), and what each supports.

use super::QueryError;

/// A property of the entity, independent of which view spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Property {
    Id,
    PartnerId,
    EnableConnection,
    LastSyncDateTime,
    ConnectionStatus,
    StatusDetails,
}

impl Property {
    /// All properties in the order the seed pages list them (and JSON renders them).
    pub const ALL: [Property; 6] = [
        Property::Id,
        Property::PartnerId,
        Property::EnableConnection,
        Property::LastSyncDateTime,
        Property::ConnectionStatus,
        Property::StatusDetails,
    ];
}

/// How one view of the records names its type and properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityShape {
    /// e.g. `microsoft.graph.cloudPcExternalPartner`
    pub type_name: &'static str,
    /// the entity-set segment, e.g. `externalPartners`
    pub set_name: &'static str,
    /// `connectionStatus` or `status`
    pub status_name: &'static str,
}

impl EntityShape {
    pub const PARTNERS: EntityShape = EntityShape {
        type_name: "microsoft.graph.cloudPcExternalPartner",
        set_name: "externalPartners",
        status_name: "connectionStatus",
    };
    pub const SETTINGS: EntityShape = EntityShape {
        type_name: "microsoft.graph.cloudPcExternalPartnerSetting",
        set_name: "externalPartnerSettings",
        status_name: "status",
    };

    /// The JSON name of a property in this view.
    pub fn name(&self, p: Property) -> &'static str {
        match p {
            Property::Id => "id",
            Property::PartnerId => "partnerId",
            Property::EnableConnection => "enableConnection",
            Property::LastSyncDateTime => "lastSyncDateTime",
            Property::ConnectionStatus => self.status_name,
            Property::StatusDetails => "statusDetails",
        }
    }

    /// Finds a property by name; case-insensitive, as Graph is.
    pub fn lookup(&self, name: &str) -> Option<Property> {
        Property::ALL
            .into_iter()
            .find(|p| self.name(*p).eq_ignore_ascii_case(name))
    }

    /// Like [`lookup`](Self::lookup), with Graph's wording when the property does not exist.
    pub fn resolve(&self, name: &str, context: &str) -> Result<Property, QueryError> {
        self.lookup(name).ok_or_else(|| {
            QueryError::new(format!(
                "{context}: Could not find a property named '{name}' on type '{}'.",
                self.type_name
            ))
        })
    }
}
