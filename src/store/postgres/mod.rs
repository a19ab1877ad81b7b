//! How PostgreSQL runs what the store asks, on `tokio-postgres` with the process's
//! own pool (`pool`). Chosen on the bench (issue 27): the same GET statement at 32
//! clients over 10 connections cost 28–30 µs of this process's CPU here, against
//! 70 µs through sqlx 0.9. Each statement is prepared once per connection and then
//! run in one round trip; values are bound and read by position.

pub mod buckets;
mod group;
mod pool;

use super::migrations::{self, Applied};
use super::row::{Cell, Kind};
use super::sql::{self, Statement};
use super::{Heartbeat, StoreError, Violation};
use crate::clock::to_millis;
use group::{Done, Writes};
use pool::Pool;
use std::error::Error as _;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::NoTls;

/// How a process connects to PostgreSQL (from `config::PostgresConfig`).
#[derive(Debug, Clone)]
pub struct PgSettings {
    /// Most connections this process holds.
    pub pool_size: u32,
    /// How long a request waits for a free connection before it gets a 503.
    pub acquire_timeout: Duration,
    /// The longest any one statement may run (server-side `statement_timeout`).
    pub statement_timeout: Duration,
}

/// A PostgreSQL database: a pool of connections, shared by clones.
#[derive(Clone)]
pub struct Postgres {
    pool: Pool,
    /// Single-statement writes, committed alone or in groups.
    writes: Writes,
    /// For direct connections: migrations, and telling why the pool cannot connect.
    config: Arc<tokio_postgres::Config>,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (open, shared, exclusive) = self.pool.status();
        f.debug_struct("Postgres")
            .field("open", &open)
            .field("shared", &shared)
            .field("exclusive", &exclusive)
            .finish()
    }
}

impl Postgres {
    /// Connects and applies pending migrations. Safe when several processes start at
    /// once: migrations run under an advisory lock.
    pub async fn connect(url: &str, settings: &PgSettings) -> Result<Self, StoreError> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|e| StoreError::CannotOpen(format!("the database URL is not valid: {e}")))?;
        // Named for `pg_stat_activity`, unless the URL names it (one name per
        // process, say, to tell several apart).
        if config.get_application_name().is_none() {
            config.application_name("cloudpc-partners");
        }
        let timeout = format!(
            "-c statement_timeout={}",
            settings.statement_timeout.as_millis()
        );
        let options = match config.get_options() {
            Some(given) => format!("{given} {timeout}"),
            None => timeout,
        };
        config.options(&options);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        // A direct connection first: it migrates, and a server that cannot be
        // reached says why ("connection refused", a bad password) right here.
        migrate(&config).await?;
        let config = Arc::new(config);
        let pool = Pool::new(config.clone(), settings.pool_size, settings.acquire_timeout);
        let writes = Writes::new(
            pool.clone(),
            committers(settings.pool_size),
            settings.acquire_timeout,
        );
        Ok(Self {
            pool,
            writes,
            config,
        })
    }

    /// Runs a write to completion; returns the rows it affected. Writes take a
    /// connection of their own (a commit waits for its flush to disk, and every
    /// statement pipelined behind it on a shared connection would wait with it) and
    /// are committed in groups under load (`group`).
    pub async fn execute(&self, s: &Statement) -> Result<u64, StoreError> {
        match self.writes.run(s, None).await? {
            Done::Affected(n) => Ok(n),
            Done::Rows(rows) => Ok(rows.len() as u64),
        }
    }

    /// Runs a write with `RETURNING` and reads every row it returns, each column as
    /// `kinds` says (see [`Postgres::execute`]).
    pub async fn write_rows(
        &self,
        s: &Statement,
        kinds: &[Kind],
    ) -> Result<Vec<Vec<Cell>>, StoreError> {
        match self.writes.run(s, Some(kinds)).await? {
            Done::Rows(rows) => Ok(rows),
            Done::Affected(_) => Ok(Vec::new()),
        }
    }

    /// Runs a read and reads every row it returns, each column as `kinds` says.
    /// Short reads share a connection; a scan has one to itself (it would hold up
    /// every statement behind it).
    pub async fn rows(
        &self,
        s: &Statement,
        kinds: &[Kind],
        short_read: bool,
    ) -> Result<Vec<Vec<Cell>>, StoreError> {
        let lease = match short_read {
            true => self.pool.shared().await?,
            false => self.pool.exclusive().await?,
        };
        let prepared = lease.prepare(&s.sql, &types(&s.binds)).await?;
        let rows = lease
            .client
            .query(&prepared, &params(&s.binds))
            .await
            .map_err(store_error)?;
        decode_all(&rows, kinds)
    }

    /// Statements in one transaction (see `Pools::transaction`).
    pub async fn transaction(
        &self,
        steps: &[(Statement, Option<u64>)],
    ) -> Result<Result<(), usize>, StoreError> {
        let mut lease = self.pool.exclusive().await?;
        lease.begin().await?;
        for (i, (s, expect)) in steps.iter().enumerate() {
            let prepared = lease.prepare(&s.sql, &types(&s.binds)).await?;
            let n = lease
                .client
                .execute(&prepared, &params(&s.binds))
                .await
                .map_err(store_error)?;
            if expect.is_some_and(|e| e != n) {
                lease.end("ROLLBACK").await?;
                return Ok(Err(i));
            }
        }
        lease.end("COMMIT").await?;
        Ok(Ok(()))
    }

    /// Writes a batch of heartbeats in one statement, rows locked in key order so
    /// concurrent flushes from several processes never deadlock.
    pub async fn record_heartbeats(&self, beats: &[Heartbeat]) -> Result<(), StoreError> {
        let mut sorted: Vec<&Heartbeat> = beats.iter().collect();
        sorted.sort_by_key(|b| (b.tenant.0, b.id));
        let at: Vec<i64> = sorted.iter().map(|b| to_millis(b.at)).collect();
        let tenants: Vec<String> = sorted.iter().map(|b| b.tenant.to_string()).collect();
        let ids: Vec<String> = sorted.iter().map(|b| b.id.to_string()).collect();
        let lease = self.pool.exclusive().await?;
        let prepared = lease.prepare(sql::HEARTBEATS_POSTGRES, &[]).await?;
        lease
            .client
            .execute(&prepared, &[&at, &tenants, &ids])
            .await
            .map_err(store_error)?;
        Ok(())
    }

    /// Folds appended count changes into the running totals and drops the totals
    /// that reached zero.
    pub async fn fold_counts(&self) -> Result<(), StoreError> {
        let lease = self.pool.exclusive().await?;
        for text in [sql::FOLD_COUNTS_POSTGRES, sql::DROP_EMPTY_COUNTS] {
            let prepared = lease.prepare(text, &[]).await?;
            lease
                .client
                .execute(&prepared, &[])
                .await
                .map_err(store_error)?;
        }
        Ok(())
    }

    /// Opens a write transaction and rolls it back: fails when writes would.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        let mut lease = self.pool.exclusive().await?;
        lease.begin().await?;
        lease
            .client
            .batch_execute("LOCK TABLE external_partners IN ROW EXCLUSIVE MODE")
            .await
            .map_err(store_error)?;
        lease.end("ROLLBACK").await
    }

    /// Closes the pool; connections in use close when they come back.
    pub fn close(&self) {
        self.pool.close();
    }

    /// Succeeds when the database answers, within a second in all: a readiness
    /// probe must not hang on an outage.
    pub async fn ping(&self) -> Result<(), StoreError> {
        const PROBE: Duration = Duration::from_millis(450);
        let pooled = async {
            let lease = self.pool.shared().await?;
            lease
                .client
                .simple_query("SELECT 1")
                .await
                .map_err(store_error)
        };
        match tokio::time::timeout(PROBE, pooled).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) if !matches!(e, StoreError::Busy(_)) => return Err(e),
            _ => {}
        }
        // Every pooled connection busy, or none can be made: a direct connection
        // tells which, and why (the pool says only "timed out").
        match tokio::time::timeout(PROBE, self.config.connect(NoTls)).await {
            Ok(Ok((client, connection))) => {
                drop(client);
                let _ = connection.await;
                Err(StoreError::Busy(
                    "the database answers, but every pooled connection stayed in use".into(),
                ))
            }
            Ok(Err(e)) => Err(StoreError::Unreachable(describe(&e))),
            Err(_) => Err(StoreError::Unreachable(format!(
                "no answer from PostgreSQL within {} ms",
                PROBE.as_millis()
            ))),
        }
    }
}

/// How many writes of a process commit at once, alone or in groups, over `pool_size`
/// connections: a quarter of them (2 of 10), so that under load writes queue and
/// share commits, and connections stay free for reads. Against `pgbench` (issue 27,
/// 32 clients, 10 connections; neighbours measured side by side), POST and PATCH: every
/// connection 1.13× and 0.88×; half 1.05× and 1.01×; a quarter 1.20× and 1.08×;
/// one 1.49× and 1.47×. One is not the default: a single write waiting on a row
/// another session holds would then hold up every write of the process. (`Writes`
/// keeps at least one.)
fn committers(pool_size: u32) -> usize {
    pool_size as usize / 4
}

/// The parameter types of a statement's values.
fn types(binds: &[Cell]) -> Vec<Type> {
    binds
        .iter()
        .map(|b| match b {
            Cell::Bool(_) => Type::BOOL,
            Cell::Int(_) => Type::INT8,
            // `Statement::bind` writes nulls inline; text is the SQL default.
            Cell::Text(_) | Cell::Null => Type::TEXT,
        })
        .collect()
}

fn params(binds: &[Cell]) -> Vec<&(dyn ToSql + Sync)> {
    binds.iter().map(|b| b as &(dyn ToSql + Sync)).collect()
}

/// A cell bound to whatever type the server gave its parameter: integers narrow
/// or widen to the column's integer or float type, text goes to any text type.
impl ToSql for Cell {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match (self, ty) {
            (Cell::Null, _) => Ok(IsNull::Yes),
            (Cell::Bool(b), &Type::BOOL) => b.to_sql(ty, out),
            (Cell::Int(v), &Type::INT8) => v.to_sql(ty, out),
            (Cell::Int(v), &Type::INT4) => i32::try_from(*v)?.to_sql(ty, out),
            (Cell::Int(v), &Type::INT2) => i16::try_from(*v)?.to_sql(ty, out),
            (Cell::Int(v), &Type::FLOAT8) => (*v as f64).to_sql(ty, out),
            (Cell::Text(t), _) if <&str as ToSql>::accepts(ty) => t.as_str().to_sql(ty, out),
            (cell, ty) => {
                Err(format!("a {cell:?} cannot be bound to a parameter of type {ty}").into())
            }
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::BOOL | Type::INT8 | Type::INT4 | Type::INT2 | Type::FLOAT8
        ) || <&str as ToSql>::accepts(ty)
    }

    tokio_postgres::types::to_sql_checked!();
}

/// One row's columns as cells.
fn decode_all(rows: &[tokio_postgres::Row], kinds: &[Kind]) -> Result<Vec<Vec<Cell>>, StoreError> {
    rows.iter().map(|r| decode(r, kinds)).collect()
}

fn decode(row: &tokio_postgres::Row, kinds: &[Kind]) -> Result<Vec<Cell>, StoreError> {
    let wrong = |i: usize, e: tokio_postgres::Error| {
        StoreError::Corrupt(format!("column {i} cannot be read as wanted: {e}"))
    };
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let ty = row.columns().get(i).map(|c| c.type_().clone());
            let cell = match (kind, ty) {
                (Kind::Bool, _) => row.try_get::<_, Option<bool>>(i).map(|v| v.map(Cell::Bool)),
                (Kind::Int, Some(Type::INT4)) => row
                    .try_get::<_, Option<i32>>(i)
                    .map(|v| v.map(|n| Cell::Int(n.into()))),
                (Kind::Int, Some(Type::INT2)) => row
                    .try_get::<_, Option<i16>>(i)
                    .map(|v| v.map(|n| Cell::Int(n.into()))),
                (Kind::Int, _) => row.try_get::<_, Option<i64>>(i).map(|v| v.map(Cell::Int)),
                (Kind::Text, _) => row
                    .try_get::<_, Option<&str>>(i)
                    .map(|v| v.map(|s| Cell::Text(s.to_owned()))),
            };
            cell.map(|c| c.unwrap_or(Cell::Null))
                .map_err(|e| wrong(i, e))
        })
        .collect()
}

/// Applies pending migrations on a connection of its own, under an advisory lock
/// held for the whole run, each in a transaction with its record.
async fn migrate(config: &tokio_postgres::Config) -> Result<(), StoreError> {
    let (mut client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| StoreError::Unreachable(describe(&e)))?;
    let driver = tokio::spawn(connection);
    let outcome = async {
        // Any fixed key: every process of this service takes the same one.
        client
            .batch_execute("SELECT pg_advisory_lock(7291846151)")
            .await
            .map_err(store_error)?;
        client
            .batch_execute(&migrations::ledger_ddl("BYTEA", "TIMESTAMPTZ"))
            .await
            .map_err(store_error)?;
        let applied: Vec<Applied> = client
            .query(
                "SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version",
                &[],
            )
            .await
            .map_err(store_error)?
            .iter()
            .map(|r| Applied {
                version: r.get(0),
                success: r.get(1),
                checksum: r.get(2),
            })
            .collect();
        for m in migrations::pending(migrations::POSTGRES, &applied)? {
            let started = std::time::Instant::now();
            let tx = client.transaction().await.map_err(store_error)?;
            tx.batch_execute(m.sql).await.map_err(|e| {
                StoreError::Migrate(format!(
                    "migration {} ({}): {}",
                    m.version,
                    m.description,
                    describe(&e)
                ))
            })?;
            let nanos = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
            tx.execute(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES ($1, $2, TRUE, $3, $4)",
                &[&m.version, &m.description, &m.checksum(), &nanos],
            )
            .await
            .map_err(store_error)?;
            tx.commit().await.map_err(store_error)?;
        }
        Ok::<_, StoreError>(())
    }
    .await;
    // Ending the session releases the lock.
    drop(client);
    let _ = driver.await;
    outcome
}

/// A driver error as a person reads it: the server's message with its detail, or
/// the cause behind "error connecting to server".
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        };
    }
    match e.source() {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// PostgreSQL's refusal in the store's terms: a broken constraint by kind; a full
/// disk or an I/O error as storage failing; a server that cannot be reached (or
/// refuses this login) as unreachable; anything else as a database error.
fn store_error(e: tokio_postgres::Error) -> StoreError {
    let text = describe(&e);
    let Some(db) = e.as_db_error() else {
        return StoreError::Unreachable(text);
    };
    let code = db.code().code();
    let violation = match code {
        "23505" => Some(Violation::Unique),
        "23503" => Some(Violation::ForeignKey),
        "23502" => Some(Violation::NotNull),
        "23514" => Some(Violation::Check),
        _ => None,
    };
    if let Some(v) = violation {
        return StoreError::Violation(v, text);
    }
    // Class 53: insufficient resources; 58030: io_error; class 08: connection
    // exception; 28: bad login; 3D000: no such database; 57P0x: the server is
    // shutting down or restarting.
    if code.starts_with("53") || code == "58030" {
        StoreError::Storage(text)
    } else if code.starts_with("08")
        || code.starts_with("28")
        || code == "3D000"
        || code.starts_with("57P0")
    {
        StoreError::Unreachable(text)
    } else {
        StoreError::Database(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_bind_to_the_types_the_server_asks_for() {
        let mut out = bytes::BytesMut::new();
        assert!(Cell::Int(7).to_sql_checked(&Type::INT4, &mut out).is_ok());
        assert!(Cell::Int(i64::MAX)
            .to_sql_checked(&Type::INT4, &mut out)
            .is_err());
        assert!(Cell::Bool(true)
            .to_sql_checked(&Type::INT8, &mut out)
            .is_err());
        assert!(Cell::Text("x".into())
            .to_sql_checked(&Type::VARCHAR, &mut out)
            .is_ok());
        assert!(!<Cell as ToSql>::accepts(&Type::BYTEA));
    }
}
