//! The schema's migrations, as data: each database's list, compiled in, and what is
//! recorded of each once applied.
//!
//! Applied migrations are recorded in `_sqlx_migrations`, the table (and checksum)
//! this service's earlier versions kept through sqlx: a database they made opens
//! unchanged, and one this version made opens in them.

use super::StoreError;
use sha2::{Digest, Sha384};

/// One schema change.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    /// The file name's words after the version ("external partners").
    pub description: &'static str,
    pub sql: &'static str,
}

impl Migration {
    /// SHA-384 of the SQL text, as recorded beside the version.
    pub fn checksum(&self) -> Vec<u8> {
        Sha384::digest(self.sql.as_bytes()).to_vec()
    }
}

macro_rules! migration {
    ($version:literal, $description:literal, $file:literal) => {
        Migration {
            version: $version,
            description: $description,
            sql: include_str!(concat!("../../migrations/", $file)),
        }
    };
}

pub const SQLITE: &[Migration] = &[
    migration!(1, "external partners", "sqlite/0001_external_partners.sql"),
    migration!(2, "agent", "sqlite/0002_agent.sql"),
    migration!(3, "partner counts", "sqlite/0003_partner_counts.sql"),
];

pub const POSTGRES: &[Migration] = &[
    migration!(
        1,
        "external partners",
        "postgres/0001_external_partners.sql"
    ),
    migration!(2, "agent", "postgres/0002_agent.sql"),
    migration!(3, "throttle buckets", "postgres/0003_throttle_buckets.sql"),
    migration!(4, "partner counts", "postgres/0004_partner_counts.sql"),
    migration!(
        5,
        "partner counts empty",
        "postgres/0005_partner_counts_empty.sql"
    ),
];

/// The record table; `{checksum}` and `{time}` are the database's own type names.
pub fn ledger_ddl(binary: &str, time: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (\
         version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
         installed_on {time} NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, \
         checksum {binary} NOT NULL, execution_time BIGINT NOT NULL)"
    )
}

/// One row of the record table.
#[derive(Debug)]
pub struct Applied {
    pub version: i64,
    pub success: bool,
    pub checksum: Vec<u8>,
}

/// Which of `all` still need to run, given what the database records; refuses a
/// database a newer version migrated, one whose migration failed halfway, or one
/// whose applied migration differs from this build's.
pub fn pending<'a>(
    all: &'a [Migration],
    applied: &[Applied],
) -> Result<Vec<&'a Migration>, StoreError> {
    for a in applied {
        let Some(m) = all.iter().find(|m| m.version == a.version) else {
            return Err(StoreError::Migrate(format!(
                "the database has migration {} applied, which this build does not know: a newer version of cloudpc-partners made it; run that version (or newer)",
                a.version
            )));
        };
        if !a.success {
            return Err(StoreError::Migrate(format!(
                "migration {} ({}) failed partway on this database; restore it from a backup",
                m.version, m.description
            )));
        }
        if a.checksum != m.checksum() {
            return Err(StoreError::Migrate(format!(
                "migration {} ({}) was applied from different SQL than this build carries; the database was made by an incompatible build",
                m.version, m.description
            )));
        }
    }
    Ok(all
        .iter()
        .filter(|m| !applied.iter().any(|a| a.version == m.version))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_rise_and_files_are_not_empty() {
        for list in [SQLITE, POSTGRES] {
            for pair in list.windows(2) {
                assert!(pair[0].version < pair[1].version);
            }
            assert!(list.iter().all(|m| !m.sql.trim().is_empty()));
        }
    }

    #[test]
    fn what_is_applied_is_checked_before_anything_runs() {
        let applied = |version, success, checksum: Vec<u8>| Applied {
            version,
            success,
            checksum,
        };
        let first = SQLITE[0];
        let left = pending(SQLITE, &[applied(1, true, first.checksum())]).unwrap();
        assert_eq!(
            left.iter().map(|m| m.version).collect::<Vec<_>>(),
            vec![2, 3]
        );
        let e = pending(SQLITE, &[applied(1, true, vec![0; 48])]).unwrap_err();
        assert!(e.to_string().contains("different SQL"), "{e}");
        let e = pending(SQLITE, &[applied(1, false, first.checksum())]).unwrap_err();
        assert!(e.to_string().contains("failed partway"), "{e}");
        let e = pending(SQLITE, &[applied(99, true, vec![])]).unwrap_err();
        assert!(e.to_string().contains("newer version"), "{e}");
    }
}
