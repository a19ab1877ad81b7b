//! Connections read on the embedded database (by id, and the pages of a list), kept
//! in memory between writes.
//!
//! A GET by id spent a fifth of its instructions, and two lock system calls, reading
//! one row from SQLite; a list page a third. The embedded database has one writer, in this process (the
//! file is locked against a second one), so this process knows every moment the data
//! can change: the writer counts each batch it starts and ends ([`WriteEpoch`]). A
//! record read while no batch ran, and no batch began or ended before the read was
//! done, is the stored row for as long as the count stays where it was. Any write at
//! all moves the count, and every kept record is dropped: the rule is coarse, so it
//! is plainly right. Between a heartbeat flush and the next, reads stay here.
//!
//! What is kept is the stored rows, never a response: `connectionStatus` is still
//! derived from them and the clock on every read. A page is kept under its whole
//! statement (text and values); one whose statement holds the time (a status
//! filter) is, in effect, never asked for twice.

use super::sql::Statement;
use crate::model::{PartnerRecord, TenantId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Most records kept, by id and in pages together; past it, the cache starts over
/// (a few MB at most).
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

/// Records read by id and pages of lists, valid for one write epoch.
#[derive(Debug)]
pub struct RecordCache {
    writes: Arc<WriteEpoch>,
    kept: Mutex<Kept>,
}

type Hasher = foldhash::fast::RandomState;

#[derive(Debug, Default)]
struct Kept {
    epoch: u64,
    records: HashMap<(TenantId, Uuid), PartnerRecord, Hasher>,
    /// A page's statement names its tenant, so pages of two tenants never meet.
    pages: HashMap<Statement, Vec<PartnerRecord>, Hasher>,
    /// Records in `pages`, all pages together.
    in_pages: usize,
}

impl Kept {
    /// Forgets everything when the epoch has moved on.
    fn at(&mut self, epoch: u64) {
        if self.epoch != epoch {
            self.clear();
            self.epoch = epoch;
        }
    }

    fn clear(&mut self) {
        self.records.clear();
        self.pages.clear();
        self.in_pages = 0;
    }

    /// Makes room for `n` more records.
    fn room_for(&mut self, n: usize) {
        if self.records.len() + self.in_pages + n > MAX_RECORDS {
            self.clear();
        }
    }
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
        self.find(|kept| kept.records.get(&(tenant, id)).cloned())
    }

    /// Keeps a record read from the database after `start`, unless a write began
    /// or ended since (then the row may already differ).
    pub fn keep(&self, start: ReadStart, tenant: TenantId, record: &PartnerRecord) {
        if let Some(mut kept) = self.still(start) {
            kept.room_for(1);
            kept.records.insert((tenant, record.id), record.clone());
        }
    }

    /// The rows `page` read, if they are kept and still the stored ones; otherwise
    /// where a read from the database starts, for [`RecordCache::keep_page`].
    pub fn page(&self, page: &Statement) -> Result<Vec<PartnerRecord>, ReadStart> {
        self.find(|kept| kept.pages.get(page).cloned())
    }

    /// What `look` finds among the reads kept for the current epoch; otherwise where
    /// a read from the database starts (one that may not be kept, during a write).
    fn find<T>(&self, look: impl FnOnce(&Kept) -> Option<T>) -> Result<T, ReadStart> {
        let Some(epoch) = self.writes.quiet() else {
            return Err(ReadStart(None));
        };
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.at(epoch);
        look(&kept).ok_or(ReadStart(Some(epoch)))
    }

    /// Keeps the rows `page` read after `start`, as [`RecordCache::keep`] does.
    pub fn keep_page(&self, start: ReadStart, page: &Statement, rows: &[PartnerRecord]) {
        if rows.len() > MAX_RECORDS / 4 {
            return;
        }
        if let Some(mut kept) = self.still(start) {
            kept.room_for(rows.len());
            kept.in_pages += rows.len();
            if let Some(old) = kept.pages.insert(page.clone(), rows.to_vec()) {
                kept.in_pages -= old.len();
            }
        }
    }

    /// The kept reads, when nothing was written since `start`.
    fn still(&self, start: ReadStart) -> Option<std::sync::MutexGuard<'_, Kept>> {
        let started = start.0?;
        if self.writes.quiet() != Some(started) {
            return None;
        }
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        (kept.epoch == started).then_some(kept)
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
    fn pages_are_kept_by_their_whole_statement_until_a_write() {
        let writes = Arc::new(WriteEpoch::default());
        let cache = RecordCache::new(writes.clone());
        let page = |tenant: &str| Statement {
            sql: "SELECT … WHERE tenant_id = $1".into(),
            binds: vec![crate::store::row::Cell::Text(tenant.into())],
            row: None,
        };
        let start = cache.page(&page("a")).unwrap_err();
        cache.keep_page(start, &page("a"), &[record(1), record(2)]);
        assert_eq!(cache.page(&page("a")).unwrap().len(), 2);
        assert!(cache.page(&page("b")).is_err(), "another tenant's page");
        writes.begin();
        writes.end();
        assert!(cache.page(&page("a")).is_err(), "kept after a write");
    }

    #[test]
    fn what_is_kept_is_bounded() {
        let cache = RecordCache::new(Arc::default());
        let t = TenantId(Uuid::from_u128(1));
        for i in 0..(MAX_RECORDS as u128 + 10) {
            let start = cache.get(t, Uuid::from_u128(i)).unwrap_err();
            cache.keep(
                start,
                t,
                &PartnerRecord {
                    id: Uuid::from_u128(i),
                    ..record(1)
                },
            );
        }
        let kept = cache.kept.lock().unwrap();
        assert!(kept.records.len() + kept.in_pages <= MAX_RECORDS);
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
