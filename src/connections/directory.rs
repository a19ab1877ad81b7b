//! A short-lived cache of which partner connections exist and are enabled, so a
//! heartbeat does not cost a database read.
//!
//! This process's own PATCH and DELETE invalidate it at once; changes made through
//! another process over a shared database are seen within the TTL. A heartbeat
//! accepted during that window on a connection another process just disabled is not
//! persisted: the flush itself only touches enabled connections.

use crate::model::{PartnerRecord, TenantId};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// What a heartbeat needs to know about a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartnerEntry {
    pub id: Uuid,
    pub enabled: bool,
    /// When the connection was (last) enabled.
    pub enabled_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Connections by tenant and `partnerId`, each remembered for `ttl`.
pub struct PartnerDirectory {
    entries: Mutex<HashMap<(TenantId, Uuid), (PartnerEntry, Instant)>>,
    ttl: Duration,
}

/// Most entries kept; past this, expired ones are dropped.
const SOFT_LIMIT: usize = 200_000;

impl PartnerDirectory {
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(TenantId, Uuid), (PartnerEntry, Instant)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, tenant: TenantId, partner_id: Uuid) -> Option<PartnerEntry> {
        let entries = self.lock();
        let (entry, at) = entries.get(&(tenant, partner_id))?;
        (at.elapsed() < self.ttl).then_some(*entry)
    }

    /// Caches what a heartbeat needs of `rec`, and returns it.
    pub fn remember(&self, tenant: TenantId, rec: &PartnerRecord) -> PartnerEntry {
        let mut entries = self.lock();
        if entries.len() >= SOFT_LIMIT {
            let ttl = self.ttl;
            entries.retain(|_, (_, at)| at.elapsed() < ttl);
        }
        let entry = PartnerEntry {
            id: rec.id,
            enabled: rec.enable_connection(),
            enabled_at: rec.enabled_at,
        };
        entries.insert((tenant, rec.partner_id()), (entry, Instant::now()));
        entry
    }

    /// Forgets a tenant's connections (`None`: everyone's), after a reset.
    pub fn forget_tenant(&self, tenant: Option<TenantId>) {
        self.lock()
            .retain(|(t, _), _| tenant.is_some_and(|only| *t != only));
    }

    /// Forgets a connection by its record id, after it was changed or deleted here.
    pub fn forget(&self, tenant: TenantId, id: Uuid) {
        self.lock()
            .retain(|(t, _), (e, _)| !(*t == tenant && e.id == id));
    }
}
