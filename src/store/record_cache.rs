//! Connections read by id on the embedded database, kept in memory between writes.
//!
//! A GET by id spent a fifth of its instructions, and two lock system calls, reading
//! one row from SQLite. The embedded database has one writer, in this process (the
//! file is locked against a second one), so this process knows every moment the data
//! can change: the writer counts each batch it starts and ends ([`WriteEpoch`]). A
//! record read while no batch ran, and no batch began or ended before the read was
//! done, is the stored row for as long as the count stays where it was. Any write at
//! all moves the count, and every kept record is dropped: the rule is coarse, so it
//! is plainly right. Between a heartbeat flush and the next, reads by id stay here.

use crate::model::{PartnerRecord, TenantId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Most records kept; past it, the cache starts over (a few MB at most).
const MAX_RECORDS: usize = 4096;

/// Counts the batches the one SQLite writer starts and ends.
#[derive(Debug, Default)]
pub struct WriteEpoch {
    /// Moves when a batch starts and again when it has ended.
    epoch: AtomicU64,
    /// Batches under way (the writer runs one at a time).
    writing: AtomicU64,
}

impl WriteEpoch {
    /// Before a batch touches the database.
    pub fn begin(&self) {
        self.writing.fetch_add(1, Ordering::SeqCst);
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// After a batch has committed or failed (before anything may read what it did
    /// from here, since its answers are sent before this: `begin` already made every
    /// kept record stale, and nothing is kept while it runs).
    pub fn end(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.writing.fetch_sub(1, Ordering::SeqCst);
    }

    /// The epoch, when no batch is under way.
    fn quiet(&self) -> Option<u64> {
        let epoch = self.epoch.load(Ordering::SeqCst);
        (self.writing.load(Ordering::SeqCst) == 0).then_some(epoch)
    }
}

/// Records read by id, valid for one write epoch.
#[derive(Debug)]
pub struct RecordCache {
    writes: Arc<WriteEpoch>,
    kept: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    epoch: u64,
    records: HashMap<(TenantId, Uuid), PartnerRecord, foldhash::fast::RandomState>,
}

/// Where a read started: the epoch to keep its record under, if it may be kept.
#[derive(Debug, Clone, Copy)]
pub struct ReadStart(Option<u64>);

impl RecordCache {
    pub fn new(writes: Arc<WriteEpoch>) -> Self {
        Self {
            writes,
            kept: Mutex::default(),
        }
    }

    /// The record, if it is kept and still the stored one; otherwise where a read
    /// from the database starts, for [`RecordCache::keep`].
    pub fn get(&self, tenant: TenantId, id: Uuid) -> Result<PartnerRecord, ReadStart> {
        let Some(epoch) = self.writes.quiet() else {
            return Err(ReadStart(None));
        };
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.epoch != epoch {
            kept.records.clear();
            kept.epoch = epoch;
        }
        match kept.records.get(&(tenant, id)) {
            Some(record) => Ok(record.clone()),
            None => Err(ReadStart(Some(epoch))),
        }
    }

    /// Keeps a record read from the database after `start`, unless a write began
    /// or ended since (then the row may already differ).
    pub fn keep(&self, start: ReadStart, tenant: TenantId, record: &PartnerRecord) {
        let Some(started) = start.0 else { return };
        if self.writes.quiet() != Some(started) {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.epoch != started {
            return;
        }
        if kept.records.len() >= MAX_RECORDS {
            kept.records.clear();
        }
        kept.records.insert((tenant, record.id), record.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edm::Values;

    fn record(version: i64) -> PartnerRecord {
        PartnerRecord {
            id: Uuid::from_u128(7),
            values: Values::new(),
            enabled_at: None,
            last_heartbeat_at: None,
            created_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
            version,
        }
    }

    #[test]
    fn a_record_is_kept_until_any_write_begins() {
        let writes = Arc::new(WriteEpoch::default());
        let cache = RecordCache::new(writes.clone());
        let t = TenantId(Uuid::from_u128(1));
        let start = cache.get(t, Uuid::from_u128(7)).unwrap_err();
        cache.keep(start, t, &record(1));
        assert_eq!(cache.get(t, Uuid::from_u128(7)).unwrap().version, 1);
        writes.begin();
        assert!(
            cache.get(t, Uuid::from_u128(7)).is_err(),
            "kept during a write"
        );
        writes.end();
        assert!(
            cache.get(t, Uuid::from_u128(7)).is_err(),
            "kept after a write"
        );
    }

    #[test]
    fn a_read_that_overlapped_a_write_is_not_kept() {
        let writes = Arc::new(WriteEpoch::default());
        let cache = RecordCache::new(writes.clone());
        let t = TenantId(Uuid::from_u128(1));
        // Read started, then a whole write ran before the row came back.
        let start = cache.get(t, Uuid::from_u128(7)).unwrap_err();
        writes.begin();
        writes.end();
        cache.keep(start, t, &record(1));
        assert!(cache.get(t, Uuid::from_u128(7)).is_err());
        // Read started during a write: never kept.
        writes.begin();
        let start = cache.get(t, Uuid::from_u128(7)).unwrap_err();
        cache.keep(start, t, &record(1));
        writes.end();
        assert!(cache.get(t, Uuid::from_u128(7)).is_err());
    }

    #[test]
    fn tenants_are_kept_apart() {
        let cache = RecordCache::new(Arc::default());
        let (a, b) = (TenantId(Uuid::from_u128(1)), TenantId(Uuid::from_u128(2)));
        let start = cache.get(a, Uuid::from_u128(7)).unwrap_err();
        cache.keep(start, a, &record(1));
        assert!(cache.get(b, Uuid::from_u128(7)).is_err());
        assert!(cache.get(a, Uuid::from_u128(7)).is_ok());
    }
}
