//! The stored state of a partner connection and the inputs that change it.

use chrono::{DateTime, Utc};
use std::fmt;
use uuid::Uuid;

/// The Entra tenant a caller acts for; every read and write is scoped to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TenantId(pub Uuid);

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One partner connection as stored. `connectionStatus` is not here: it is derived
/// from these timestamps and the clock at read time (see `health`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerRecord {
    pub id: Uuid,
    pub partner_id: Uuid,
    pub enable_connection: bool,
    /// When the connection was last switched on (or created enabled); heartbeats
    /// older than this belong to an earlier enablement and do not count.
    pub enabled_at: Option<DateTime<Utc>>,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped on every change a client makes; the basis of the ETag.
    pub version: i64,
}

impl PartnerRecord {
    /// The entity tag clients send back in `If-Match`.
    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }
}

/// A validated create request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPartner {
    pub partner_id: Uuid,
    pub enable_connection: bool,
}

/// A validated update request: only `enableConnection` can change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerUpdate {
    pub enable_connection: Option<bool>,
}
