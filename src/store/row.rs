//! The stored row, shared by both backends, and its conversion to the domain record.

use super::StoreError;
use crate::clock::from_millis;
use crate::model::PartnerRecord;
use uuid::Uuid;

/// Columns selected by every read; keep in step with [`PartnerRow`].
pub const COLUMNS: &str = "id, partner_id, enable_connection, enabled_at, last_heartbeat_at, last_sync_at, created_at, updated_at, version";

#[derive(Debug, sqlx::FromRow)]
pub struct PartnerRow {
    pub id: String,
    pub partner_id: String,
    pub enable_connection: bool,
    pub enabled_at: Option<i64>,
    pub last_heartbeat_at: Option<i64>,
    pub last_sync_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

impl TryFrom<PartnerRow> for PartnerRecord {
    type Error = StoreError;

    fn try_from(r: PartnerRow) -> Result<Self, StoreError> {
        let uuid = |s: &str| {
            Uuid::try_parse(s).map_err(|_| StoreError::Corrupt(format!("'{s}' is not a GUID")))
        };
        Ok(PartnerRecord {
            id: uuid(&r.id)?,
            partner_id: uuid(&r.partner_id)?,
            enable_connection: r.enable_connection,
            enabled_at: r.enabled_at.map(from_millis),
            last_heartbeat_at: r.last_heartbeat_at.map(from_millis),
            last_sync_at: r.last_sync_at.map(from_millis),
            created_at: from_millis(r.created_at),
            updated_at: from_millis(r.updated_at),
            version: r.version,
        })
    }
}
