//! Opening the store a database URL names, and showing such URLs safely.

use super::{PgSettings, SqlStore};
use anyhow::Context;
use std::path::Path;

/// The embedded database's file name inside the data dir.
pub const SQLITE_FILE: &str = "cloudpc-partners.db";

/// Where the records live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An SQLite file.
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
    /// An SQLite database in memory: gone when the process stops (`sqlite::memory:`).
    Memory,
}

impl DatabaseUrl {
    /// Parses `--database`: none means the embedded database in `data_dir`.
    pub fn parse(url: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        match url {
            None => Ok(DatabaseUrl::Sqlite(data_dir.join(SQLITE_FILE))),
            Some("sqlite::memory:" | "sqlite://:memory:" | "sqlite:memory") => Ok(DatabaseUrl::Memory),
            Some(u) if u.starts_with("sqlite:") => Ok(DatabaseUrl::Sqlite(
                u.trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:")
                    .into(),
            )),
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                Ok(DatabaseUrl::Postgres(u.to_owned()))
            }
            Some(u) => anyhow::bail!(
                "unsupported database URL '{}': use postgres://…, sqlite:PATH, or leave --database out for the embedded database",
                redact(u)
            ),
        }
    }
}

/// Opens (creating and migrating as needed) the store `url` names.
pub async fn open(url: &DatabaseUrl, pg: &PgSettings) -> anyhow::Result<SqlStore> {
    match url {
        DatabaseUrl::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create data dir {}", dir.display()))?;
            }
            SqlStore::sqlite(path)
                .await
                .with_context(|| format!("cannot open SQLite database {}", path.display()))
        }
        DatabaseUrl::Memory => SqlStore::memory()
            .await
            .context("cannot create the in-memory database"),
        DatabaseUrl::Postgres(url) => SqlStore::postgres(url, pg)
            .await
            .with_context(|| format!("cannot connect to PostgreSQL at {}", redact(url))),
    }
}

/// A database URL with any password replaced, for messages and logs.
/// Whatever sits between `://` and the last `@` before the path is credentials, so it
/// is hidden whether or not the URL parses.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***{}", &rest[at..])
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_backend() {
        let dir = Path::new("/data");
        assert_eq!(
            DatabaseUrl::parse(None, dir).unwrap(),
            DatabaseUrl::Sqlite(dir.join(SQLITE_FILE))
        );
        assert_eq!(
            DatabaseUrl::parse(Some("sqlite:/x/y.db"), dir).unwrap(),
            DatabaseUrl::Sqlite("/x/y.db".into())
        );
        assert!(matches!(
            DatabaseUrl::parse(Some("postgresql://h/db"), dir).unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        assert_eq!(
            DatabaseUrl::parse(Some("sqlite::memory:"), dir).unwrap(),
            DatabaseUrl::Memory
        );
        let e = DatabaseUrl::parse(Some("mysql://u:secret@h/db"), dir).unwrap_err();
        assert!(!e.to_string().contains("secret"));
    }

    #[test]
    fn passwords_are_hidden_even_in_urls_that_do_not_parse() {
        assert_eq!(
            redact("postgres://u:p@127.0.0.1:notaport/x"),
            "postgres://u:***@127.0.0.1:notaport/x"
        );
        assert_eq!(redact("postgres://u:p@ss@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://h/db?user=x"), "postgres://h/db?user=x");
        assert_eq!(redact("sqlite:/data/x.db"), "sqlite:/data/x.db");
    }
}
