//! Builds the parameterised SQL both backends run. Values are always bound (`$1`,
//! `$2`, …; SQLite and PostgreSQL both number parameters this way), never formatted
//! into the text. `connectionStatus` becomes a `CASE` over the stored timestamps and
//! a bound "fresh since" instant, so filtering, sorting and paging on it happen in the
//! database and agree with `model::derive_status`.

use super::row::{cell_of, Cell, SELECT_LIST};
use super::{ListRequest, StatusClock};
use crate::clock::to_millis;
use crate::edm::{Derived, EdmType, Property, Scalar, Source, Values};
use crate::model::schema::{ENABLE_CONNECTION_COLUMN, LAST_SYNC_DATE_TIME, PARTNER, PARTNER_ID};
use crate::model::ConnectionStatus;
use crate::model::PartnerRecord;
use crate::odata::{CompareOp, Cursor, Direction, Filter, OrderBy, Value};

/// A value to bind.
pub type Bind = Cell;

/// SQL text and the values for its numbered parameters.
#[derive(Debug, Default, Clone, PartialEq, Eq, Hash)]
pub struct Statement {
    pub sql: String,
    pub binds: Vec<Bind>,
    /// The one row a write takes, as a key that orders rows: writes committed
    /// together take their rows in this order, so two transactions never wait for
    /// each other's rows in opposite orders.
    pub row: Option<String>,
}

impl Statement {
    /// The placeholder for `b`; a null is written as `NULL`, which both databases
    /// type from its context, where a bound null would need a type.
    pub fn bind(&mut self, b: Bind) -> String {
        if b == Cell::Null {
            return "NULL".into();
        }
        self.binds.push(b);
        format!("${}", self.binds.len())
    }
}

/// The column a named stored property lives in.
fn column_of(name: &str) -> &'static str {
    PARTNER
        .columns()
        .find(|(p, _)| p.name == name)
        .map_or("NULL", |(_, c)| c)
}

/// Whether comparisons on a property must handle SQL NULL.
fn stored_nullable(p: Property) -> bool {
    p.nullable && matches!(p.source, Source::Column(_))
}

/// Writes one query; remembers the parameter holding "fresh since" so it is bound once.
struct Builder {
    stmt: Statement,
    status: StatusClock,
    fresh_param: Option<String>,
}

impl Builder {
    fn new(status: StatusClock) -> Self {
        Self {
            stmt: Statement::default(),
            status,
            fresh_param: None,
        }
    }

    fn push(&mut self, s: &str) {
        self.stmt.sql.push_str(s);
    }

    fn bind(&mut self, b: Bind) -> String {
        self.stmt.bind(b)
    }

    /// The SQL for `connectionStatus`' underlying enum value; mirrors `model::status_as_of`.
    fn status_expr(&mut self) -> String {
        let fresh = match &self.fresh_param {
            Some(p) => p.clone(),
            None => {
                let p = self.bind(Bind::Int(to_millis(self.status.fresh_since)));
                self.fresh_param = Some(p.clone());
                p
            }
        };
        // BIGINT so both databases return the same integer type.
        format!(
            "CAST(CASE WHEN NOT enable_connection THEN {na} \
             WHEN last_heartbeat_at IS NULL OR last_heartbeat_at < enabled_at THEN {av} \
             WHEN last_heartbeat_at >= {fresh} THEN {he} ELSE {un} END AS BIGINT)",
            na = ConnectionStatus::NotAvailable.value(),
            av = ConnectionStatus::Available.value(),
            he = ConnectionStatus::Healthy.value(),
            un = ConnectionStatus::Unhealthy.value(),
        )
    }

    fn column(&mut self, p: Property) -> String {
        match p.source {
            Source::Key => "id".into(),
            Source::Column(c) => c.into(),
            Source::Derived(Derived::Status) => self.status_expr(),
            // The description makes it neither filterable nor sortable.
            Source::Derived(Derived::StatusDetails) => "NULL".into(),
        }
    }

    fn tenant_scope(&mut self, tenant: &str) {
        let p = self.bind(Bind::Text(tenant.to_owned()));
        self.push(&format!(" WHERE tenant_id = {p}"));
    }

    fn filter(&mut self, f: &Filter) {
        match f {
            Filter::And(a, b) | Filter::Or(a, b) => {
                let op = if matches!(f, Filter::And(..)) {
                    " AND "
                } else {
                    " OR "
                };
                self.push("(");
                self.filter(a);
                self.push(op);
                self.filter(b);
                self.push(")");
            }
            Filter::Not(a) => {
                self.push("(NOT ");
                self.filter(a);
                self.push(")");
            }
            Filter::Compare {
                property,
                op,
                value,
            } => self.compare(property, *op, value),
            Filter::In { property, values } => self.in_list(property, values),
        }
    }

    /// `in (…)` as one SQL `IN`, so its cost grows with its length, not its nesting:
    /// the column (or status expression) is written once. `null` in the list matches
    /// a null value; the result is never SQL NULL.
    fn in_list(&mut self, p: Property, values: &[Value]) {
        let col = self.column(p);
        let params: Vec<String> = values
            .iter()
            .filter(|v| **v != Value::Null)
            .map(|v| self.bind(cell_of(v)))
            .collect();
        let with_null = values.contains(&Value::Null) && stored_nullable(p);
        let mut parts = Vec::new();
        if !params.is_empty() {
            let present = if stored_nullable(p) {
                format!("{col} IS NOT NULL AND ")
            } else {
                String::new()
            };
            parts.push(format!("({present}{col} IN ({}))", params.join(", ")));
        }
        if with_null {
            parts.push(format!("({col} IS NULL)"));
        }
        if parts.is_empty() {
            parts.push("(1 = 0)".into());
        }
        self.push(&format!("({})", parts.join(" OR ")));
    }

    /// Every comparison yields true or false, never SQL NULL, so `not` keeps OData's
    /// meaning on the nullable `lastSyncDateTime`.
    fn compare(&mut self, p: Property, op: CompareOp, v: &Value) {
        let col = self.column(p);
        let nullable = stored_nullable(p);
        let sql = match v {
            Value::Null => match (nullable, op) {
                (true, CompareOp::Eq) => format!("({col} IS NULL)"),
                (true, _) => format!("({col} IS NOT NULL)"),
                (false, CompareOp::Eq) => "(1 = 0)".into(),
                (false, _) => "(1 = 1)".into(),
            },
            _ => {
                let param = self.bind(cell_of(v));
                let sym = match op {
                    CompareOp::Eq => "=",
                    CompareOp::Ne => "<>",
                    CompareOp::Gt => ">",
                    CompareOp::Ge => ">=",
                    CompareOp::Lt => "<",
                    CompareOp::Le => "<=",
                };
                match (nullable, op) {
                    (true, CompareOp::Ne) => format!("({col} IS NULL OR {col} <> {param})"),
                    (true, _) => format!("({col} IS NOT NULL AND {col} {sym} {param})"),
                    (false, _) => format!("({col} {sym} {param})"),
                }
            }
        };
        self.push(&sql);
    }
}

/// A table a collection is read from.
pub struct Table<'a> {
    pub name: &'static str,
    /// The select list, in the order the rows are decoded.
    pub columns: &'a str,
    /// The final sort keys, unique per row, so pages never overlap or skip.
    pub tiebreak: &'static str,
    /// The tie-breakers as columns (all ascending) with their types, where the table
    /// pages by keys; `None` pages by offset.
    pub keyset: Option<&'static [(&'static str, EdmType)]>,
}

/// The table the partner connections are kept in.
pub const PARTNERS_TABLE: &str = "external_partners";

/// The partner connections: pages by `(created_at, id)` after the `$orderby` keys.
pub fn partners_table() -> Table<'static> {
    Table {
        name: PARTNERS_TABLE,
        columns: &SELECT_LIST,
        tiebreak: "created_at ASC, id ASC",
        keyset: Some(&PARTNER_KEYSET),
    }
}

static PARTNER_KEYSET: [(&str, EdmType); 2] = [
    ("created_at", EdmType::DateTimeOffset),
    ("id", EdmType::String),
];

/// The keys a cursor over `orderby` then `keyset` holds for `record`.
///
/// `connectionStatus` is computed, from the stored times and an instant: ordered by
/// it, the cursor starts with that instant, so every page of one walk computes the
/// order against the same instant (see [`ListRequest::page_of`]), and holds the
/// status the record had then.
pub fn partner_cursor(
    orderby: &[OrderBy],
    record: &PartnerRecord,
    status: StatusClock,
) -> Option<Cursor> {
    let mut keys = Vec::with_capacity(orderby.len() + PARTNER_KEYSET.len() + 1);
    if orderby
        .iter()
        .any(|o| matches!(o.property.source, Source::Derived(_)))
    {
        keys.push(Scalar::Time(status.fresh_since));
    }
    for o in orderby {
        keys.push(match o.property.source {
            Source::Key => Scalar::Text(record.id.to_string()),
            Source::Column(_) => record.values.get(o.property.name).clone(),
            Source::Derived(Derived::Status) => {
                Scalar::Enum(crate::model::status_as_of(record, status.fresh_since).value())
            }
            Source::Derived(Derived::StatusDetails) => return None,
        });
    }
    keys.push(Scalar::Time(record.created_at));
    keys.push(Scalar::Text(record.id.to_string()));
    Some(keys)
}

/// Whether a key value can be one of a column's values.
fn fits(edm: &EdmType, nullable: bool, v: &Scalar) -> bool {
    match (edm, v) {
        (_, Scalar::Null) => nullable,
        (EdmType::String | EdmType::GuidString, Scalar::Text(_))
        | (EdmType::Boolean, Scalar::Bool(_))
        | (EdmType::DateTimeOffset, Scalar::Time(_))
        | (EdmType::Enum(_), Scalar::Enum(_)) => true,
        _ => false,
    }
}

/// ` AND <row after the cursor>` in the order `orderby` then `keyset`; false (and
/// nothing written) when the cursor does not fit that order, which only an edited
/// token can cause: the page then starts at the token's offset.
fn after_cursor(
    b: &mut Builder,
    orderby: &[OrderBy],
    keyset: &[(&'static str, EdmType)],
    cursor: &[Scalar],
) -> bool {
    let mut keys: Vec<(String, Direction, bool)> = Vec::with_capacity(cursor.len());
    for o in orderby {
        if matches!(o.property.source, Source::Derived(Derived::StatusDetails)) {
            return false;
        }
        keys.push((
            b.column(o.property),
            o.direction,
            stored_nullable(o.property),
        ));
    }
    keys.extend(
        keyset
            .iter()
            .map(|(c, _)| ((*c).to_owned(), Direction::Asc, false)),
    );
    let types = orderby
        .iter()
        .map(|o| (&o.property.edm, stored_nullable(o.property)))
        .chain(keyset.iter().map(|(_, t)| (t, false)));
    if keys.len() != cursor.len() || !types.zip(cursor).all(|((t, n), v)| fits(t, n, v)) {
        return false;
    }
    let simple = keys.iter().all(|(_, d, _)| *d == Direction::Asc)
        && cursor.iter().all(|v| *v != Scalar::Null)
        && keys.iter().all(|(_, _, n)| !n);
    if simple {
        // A row value compares in one index seek on both databases.
        let cols: Vec<&str> = keys.iter().map(|(c, _, _)| c.as_str()).collect();
        let vals: Vec<String> = cursor.iter().map(|v| b.bind(cell_of(v))).collect();
        b.push(&format!(
            " AND ({}) > ({})",
            cols.join(", "),
            vals.join(", ")
        ));
        return true;
    }
    // (k1 after v1) OR (k1 = v1 AND k2 after v2) OR …
    let mut alternatives = Vec::with_capacity(keys.len());
    let mut equal_so_far: Vec<String> = Vec::new();
    for ((col, dir, nullable), v) in keys.iter().zip(cursor) {
        let after = match (v, dir, nullable) {
            // Nulls sort first ascending, last descending (OData's order).
            (Scalar::Null, Direction::Asc, _) => format!("{col} IS NOT NULL"),
            (Scalar::Null, Direction::Desc, _) => "1 = 0".to_owned(),
            (v, Direction::Asc, _) => format!("{col} > {}", b.bind(cell_of(v))),
            (v, Direction::Desc, true) => {
                format!("({col} < {} OR {col} IS NULL)", b.bind(cell_of(v)))
            }
            (v, Direction::Desc, false) => format!("{col} < {}", b.bind(cell_of(v))),
        };
        let mut term = equal_so_far.clone();
        term.push(after);
        alternatives.push(format!("({})", term.join(" AND ")));
        equal_so_far.push(match v {
            Scalar::Null => format!("{col} IS NULL"),
            v => format!("{col} = {}", b.bind(cell_of(v))),
        });
    }
    b.push(&format!(" AND ({})", alternatives.join(" OR ")));
    true
}

/// `WHERE tenant_id = … AND <scope> AND <filter>` for a collection read.
fn scoped_filter(b: &mut Builder, tenant: &str, scope: &[(&str, Bind)], filter: Option<&Filter>) {
    b.tenant_scope(tenant);
    for (column, value) in scope {
        let p = b.bind(value.clone());
        b.push(&format!(" AND {column} = {p}"));
    }
    if let Some(f) = filter {
        b.push(" AND ");
        b.filter(f);
    }
}

/// `SELECT` of one page of `table`, one row more than the page to tell whether more
/// follow, within the tenant and the `scope` columns' values.
pub fn list_page(
    table: &Table<'_>,
    tenant: &str,
    scope: &[(&str, Bind)],
    req: &ListRequest<'_>,
) -> Statement {
    let mut b = Builder::new(req.status);
    b.push(&format!("SELECT {} FROM {}", table.columns, table.name));
    scoped_filter(&mut b, tenant, scope, req.filter);
    let by_keys = match (table.keyset, req.after) {
        (Some(keyset), Some(cursor)) => after_cursor(&mut b, req.orderby, keyset, cursor),
        _ => false,
    };
    b.push(" ORDER BY ");
    for o in req.orderby {
        let col = b.column(o.property);
        // OData sorts null before any value.
        let dir = match (o.direction, stored_nullable(o.property)) {
            (Direction::Asc, true) => "ASC NULLS FIRST",
            (Direction::Desc, true) => "DESC NULLS LAST",
            (Direction::Asc, false) => "ASC",
            (Direction::Desc, false) => "DESC",
        };
        b.push(&format!("{col} {dir}, "));
    }
    b.push(table.tiebreak);
    let limit = b.bind(Bind::Int(
        i64::try_from(req.limit.saturating_add(1)).unwrap_or(i64::MAX),
    ));
    if by_keys {
        b.push(&format!(" LIMIT {limit}"));
    } else {
        let offset = b.bind(Bind::Int(i64::try_from(req.offset).unwrap_or(i64::MAX)));
        b.push(&format!(" LIMIT {limit} OFFSET {offset}"));
    }
    b.stmt
}

/// `SELECT COUNT(*)` of the rows of `table` matching a filter.
pub fn count_rows(
    table: &Table<'_>,
    tenant: &str,
    scope: &[(&str, Bind)],
    filter: Option<&Filter>,
    status: StatusClock,
) -> Statement {
    let mut b = Builder::new(status);
    b.push(&format!("SELECT COUNT(*) FROM {}", table.name));
    scoped_filter(&mut b, tenant, scope, filter);
    b.stmt
}

/// One page of the tenant's partner connections.
pub fn list(tenant: &str, req: &ListRequest<'_>) -> Statement {
    list_page(&partners_table(), tenant, &[], req)
}

/// How many of the tenant's partner connections match a filter.
pub fn count(tenant: &str, filter: Option<&Filter>, status: StatusClock) -> Statement {
    count_rows(&partners_table(), tenant, &[], filter, status)
}

/// The order-key of a tenant's row (see [`Statement::row`]).
fn row_key(tenant: &str, key: &str) -> String {
    format!("{tenant}/{key}")
}

/// Reads one record.
pub fn get(tenant: &str, id: &str) -> Statement {
    let mut s = Statement::default();
    let t = s.bind(Bind::Text(tenant.into()));
    let i = s.bind(Bind::Text(id.into()));
    s.sql = format!(
        "SELECT {} FROM external_partners WHERE tenant_id = {t} AND id = {i}",
        *SELECT_LIST
    );
    s
}

/// Inserts one record: its key, every stored property, and the system columns.
pub fn insert(tenant: &str, rec: &PartnerRecord) -> Statement {
    let mut s = Statement {
        row: Some(row_key(tenant, &rec.id.to_string())),
        ..Statement::default()
    };
    let mut columns = vec!["tenant_id", "id"];
    let mut params = vec![
        s.bind(Bind::Text(tenant.into())),
        s.bind(Bind::Text(rec.id.to_string())),
    ];
    for (p, c) in PARTNER.columns() {
        columns.push(c);
        params.push(s.bind(cell_of(rec.values.get(p.name))));
    }
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or(Cell::Null, |t| Cell::Int(to_millis(t)))
    };
    for (c, v) in [
        ("enabled_at", time(rec.enabled_at)),
        ("last_heartbeat_at", time(rec.last_heartbeat_at)),
        ("created_at", time(Some(rec.created_at))),
        ("updated_at", time(Some(rec.updated_at))),
        ("version", Cell::Int(rec.version)),
    ] {
        columns.push(c);
        params.push(s.bind(v));
    }
    s.sql = format!(
        "INSERT INTO external_partners ({}) VALUES ({})",
        columns.join(", "),
        params.join(", ")
    );
    s
}

/// Applies an update in one statement, returning the new row; a switch from disabled
/// to enabled restarts the health clock (`enabled_at`).
pub fn update(
    tenant: &str,
    id: &str,
    changes: &Values,
    expected_version: Option<i64>,
    now_ms: i64,
) -> Statement {
    let mut s = Statement {
        row: Some(row_key(tenant, id)),
        ..Statement::default()
    };
    let now = s.bind(Bind::Int(now_ms));
    let mut set = format!("updated_at = {now}, version = version + 1");
    for (p, c) in PARTNER.columns() {
        if !changes.contains(p.name) {
            continue;
        }
        let v = s.bind(cell_of(changes.get(p.name)));
        if c == ENABLE_CONNECTION_COLUMN {
            set.push_str(&format!(
                ", enabled_at = CASE WHEN {v} AND NOT {c} THEN {now} ELSE enabled_at END"
            ));
        }
        set.push_str(&format!(", {c} = {v}"));
    }
    let t = s.bind(Bind::Text(tenant.into()));
    let i = s.bind(Bind::Text(id.into()));
    let mut sql = format!("UPDATE external_partners SET {set} WHERE tenant_id = {t} AND id = {i}");
    if let Some(v) = expected_version {
        let v = s.bind(Bind::Int(v));
        sql.push_str(&format!(" AND version = {v}"));
    }
    sql.push_str(&format!(" RETURNING {}", *SELECT_LIST));
    s.sql = sql;
    s
}

/// Deletes one record, if at the expected version.
pub fn delete(tenant: &str, id: &str, expected_version: Option<i64>) -> Statement {
    let mut s = Statement {
        row: Some(row_key(tenant, id)),
        ..Statement::default()
    };
    let t = s.bind(Bind::Text(tenant.into()));
    let i = s.bind(Bind::Text(id.into()));
    s.sql = format!("DELETE FROM external_partners WHERE tenant_id = {t} AND id = {i}");
    if let Some(v) = expected_version {
        let v = s.bind(Bind::Int(v));
        s.sql.push_str(&format!(" AND version = {v}"));
    }
    s
}

/// Reads the tenant's connection for a partner.
pub fn find_by_partner(tenant: &str, partner_id: &str) -> Statement {
    let mut s = Statement::default();
    let t = s.bind(Bind::Text(tenant.into()));
    let p = s.bind(Bind::Text(partner_id.into()));
    s.sql = format!(
        "SELECT {} FROM external_partners WHERE tenant_id = {t} AND {} = {p}",
        *SELECT_LIST,
        column_of(PARTNER_ID)
    );
    s
}

/// The guards every heartbeat batch applies, per row `b`: the heartbeat only moves
/// `last_heartbeat_at` forward (the newest wins, across processes too), and only on a
/// connection that is enabled and was not re-enabled after the heartbeat.
macro_rules! heartbeat_guards {
    () => {
        "p.tenant_id = b.tenant_id AND p.id = b.id AND p.enable_connection \
         AND (p.enabled_at IS NULL OR p.enabled_at <= b.at) \
         AND (p.last_heartbeat_at IS NULL OR p.last_heartbeat_at < b.at)"
    };
}

/// A heartbeat batch on SQLite: `$1` is a JSON array of `[time, tenant, id]`.
pub const HEARTBEATS_SQLITE: &str = concat!(
    "UPDATE external_partners AS p SET last_heartbeat_at = b.at \
     FROM (SELECT json_extract(value, '$[0]') AS at, json_extract(value, '$[1]') AS tenant_id, \
                  json_extract(value, '$[2]') AS id FROM json_each($1)) AS b WHERE ",
    heartbeat_guards!()
);

/// A heartbeat batch on PostgreSQL: arrays of times, tenants and ids, sorted by key
/// so concurrent flushes from several processes lock rows in the same order.
pub const HEARTBEATS_POSTGRES: &str = concat!(
    "UPDATE external_partners AS p SET last_heartbeat_at = b.at \
     FROM (SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[]) AS t(at, tenant_id, id) \
           ORDER BY tenant_id, id) AS b WHERE ",
    heartbeat_guards!()
);

/// Moves `last_sync_at` forward on an enabled connection; returns the id if it did.
pub fn sync(tenant: &str, partner_id: &str, at_ms: i64) -> Statement {
    // Keyed by partner, not by id: the row's id is not known here. A group holding
    // a sync and a PATCH of the same row in the other order is possible; the
    // database then breaks the deadlock and the group runs again one by one.
    let mut s = Statement {
        row: Some(row_key(tenant, partner_id)),
        ..Statement::default()
    };
    let at = s.bind(Bind::Int(at_ms));
    let t = s.bind(Bind::Text(tenant.into()));
    let p = s.bind(Bind::Text(partner_id.into()));
    let (sync, partner, enabled) = (
        column_of(LAST_SYNC_DATE_TIME),
        column_of(PARTNER_ID),
        ENABLE_CONNECTION_COLUMN,
    );
    s.sql = format!(
        "UPDATE external_partners SET {sync} = CASE WHEN {sync} IS NULL OR {sync} < {at} THEN {at} ELSE {sync} END \
         WHERE tenant_id = {t} AND {partner} = {p} AND {enabled} RETURNING id"
    );
    s
}

/// Connections per status value, across tenants.
pub fn status_counts(status: StatusClock) -> Statement {
    let mut b = Builder::new(status);
    let expr = b.status_expr();
    b.push(&format!(
        "SELECT {expr} AS status, COUNT(*) FROM external_partners GROUP BY 1"
    ));
    b.stmt
}

/// The running totals' row for the rows of the second the freshness cut falls in.
const EDGE_ROW: i64 = 4;

/// Each health class's running total (rows of `kind`, total), for one tenant or all:
/// kinds 0–2 as stored, kind 3 summed over the seconds wholly at or after the cut,
/// and [`EDGE_ROW`] counting the fresh rows of the second the cut falls in. `None`
/// when the cut is before 1970, where the stored seconds round the other way.
pub fn status_totals(tenant: Option<&str>, status: StatusClock) -> Option<Statement> {
    let cut = to_millis(status.fresh_since);
    if cut < 0 {
        return None;
    }
    let first_second = cut.div_euclid(1000) + i64::from(cut.rem_euclid(1000) != 0);
    let mut s = Statement::default();
    let scope = match tenant {
        Some(t) => format!("= {}", s.bind(Bind::Text(t.into()))),
        None => String::new(),
    };
    let first = s.bind(Bind::Int(first_second));
    let edge_second = s.bind(Bind::Int(first_second - 1));
    let from = s.bind(Bind::Int(cut));
    let to = s.bind(Bind::Int(first_second * 1000));
    let (totals_scope, edge_tenants) = if tenant.is_some() {
        (format!("WHERE tenant_id {scope}"), scope.clone())
    } else {
        (
            String::new(),
            format!(
                "IN (SELECT tenant_id FROM partner_counts WHERE kind = 3 AND second = {edge_second} \
                 UNION SELECT tenant_id FROM partner_count_changes WHERE kind = 3 AND second = {edge_second})"
            ),
        )
    };
    s.sql = format!(
        "SELECT kind, CAST(SUM(n) AS BIGINT) FROM \
         (SELECT kind, second, n FROM partner_counts {totals_scope} \
          UNION ALL SELECT kind, second, n FROM partner_count_changes {totals_scope}) AS c \
         WHERE kind < 3 OR second >= {first} GROUP BY kind \
         UNION ALL \
         SELECT CAST({EDGE_ROW} AS BIGINT), COUNT(*) FROM external_partners \
         WHERE tenant_id {edge_tenants} AND last_heartbeat_at >= {from} AND last_heartbeat_at < {to} \
         AND enable_connection AND (enabled_at IS NULL OR last_heartbeat_at >= enabled_at)"
    );
    Some(s)
}

/// Folds PostgreSQL's appended count changes into the running totals, in one
/// statement, by one process at a time (the others skip their turn).
pub const FOLD_COUNTS_POSTGRES: &str =
    "WITH turn AS (SELECT pg_try_advisory_xact_lock(7291846150) AS mine), \
     moved AS (DELETE FROM partner_count_changes WHERE (SELECT mine FROM turn) \
               RETURNING tenant_id, kind, second, n) \
     INSERT INTO partner_counts (tenant_id, kind, second, n) \
     SELECT tenant_id, kind, second, SUM(n) FROM moved GROUP BY tenant_id, kind, second \
     ON CONFLICT (tenant_id, kind, second) DO UPDATE SET n = partner_counts.n + EXCLUDED.n";

/// Drops totals that reached zero (seconds every connection has moved on from).
pub const DROP_EMPTY_COUNTS: &str = "DELETE FROM partner_counts WHERE n = 0";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schema::PARTNERS;
    use crate::odata::{filter::parse_filter, OrderBy};
    use chrono::{TimeZone, Utc};

    fn clock() -> StatusClock {
        StatusClock {
            fresh_since: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        }
    }

    #[test]
    fn totals_split_at_the_first_whole_second_after_the_cut() {
        let at = |ms| StatusClock {
            fresh_since: chrono::DateTime::from_timestamp_millis(ms).unwrap(),
        };
        // Cut at 1.5 s: whole seconds from 2, the edge is [1.5 s, 2 s) of second 1.
        let s = status_totals(Some("t"), at(1_500)).unwrap();
        assert_eq!(
            s.binds,
            [
                Bind::Text("t".into()),
                Bind::Int(2),
                Bind::Int(1),
                Bind::Int(1_500),
                Bind::Int(2_000)
            ]
        );
        // On a second: the edge is empty.
        let s = status_totals(None, at(3_000)).unwrap();
        assert_eq!(
            s.binds,
            [
                Bind::Int(3),
                Bind::Int(2),
                Bind::Int(3_000),
                Bind::Int(3_000)
            ]
        );
        assert!(status_totals(None, at(-1)).is_none());
    }

    #[test]
    fn values_are_bound_never_inlined() {
        let f = parse_filter(
            "partnerId eq 'x''; DROP TABLE external_partners; --'",
            &PARTNERS,
        )
        .unwrap();
        let s = count("t", Some(&f), clock());
        assert!(!s.sql.contains("DROP"));
        assert_eq!(
            s.binds[1],
            Bind::Text("x'; drop table external_partners; --".into())
        );
    }

    #[test]
    fn status_parameter_is_bound_once_and_reused() {
        let f = parse_filter(
            "connectionStatus eq 'healthy' or connectionStatus eq 'unhealthy'",
            &PARTNERS,
        )
        .unwrap();
        let order = [OrderBy {
            property: PARTNERS.lookup("connectionStatus").unwrap(),
            direction: Direction::Desc,
        }];
        let req = ListRequest {
            filter: Some(&f),
            orderby: &order,
            offset: 0,
            after: None,
            limit: 10,
            status: clock(),
        };
        let s = list("t", &req);
        let fresh = Bind::Int(to_millis(clock().fresh_since));
        assert_eq!(s.binds.iter().filter(|b| **b == fresh).count(), 1);
        assert_eq!(s.sql.matches("$2").count(), 3, "{}", s.sql);
        assert!(s.sql.ends_with("LIMIT $5 OFFSET $6"));
    }

    fn page_after(orderby: &[OrderBy], after: &Cursor) -> Statement {
        list(
            "t",
            &ListRequest {
                filter: None,
                orderby,
                offset: 500,
                after: Some(after),
                limit: 10,
                status: clock(),
            },
        )
    }

    #[test]
    fn a_cursor_starts_the_page_by_keys_not_by_offset() {
        let at = Scalar::Time(crate::clock::from_millis(1_000));
        let id = Scalar::Text("b".into());
        // Default order: one row-value seek over the (tenant, created_at, id) index.
        let s = page_after(&[], &vec![at.clone(), id.clone()]);
        assert!(
            s.sql.contains(" AND (created_at, id) > ($2, $3)"),
            "{}",
            s.sql
        );
        assert!(!s.sql.contains("OFFSET"), "{}", s.sql);

        // A descending, nullable key: nulls come last, so rows after a value are
        // smaller values and nulls.
        let order = [OrderBy {
            property: PARTNERS.lookup("lastSyncDateTime").unwrap(),
            direction: Direction::Desc,
        }];
        let s = page_after(&order, &vec![at.clone(), at.clone(), id.clone()]);
        assert!(
            s.sql.contains("((last_sync_at < $2 OR last_sync_at IS NULL)) OR (last_sync_at = $3 AND created_at > $4)"),
            "{}",
            s.sql
        );
        // After a null in that order only other nulls remain.
        let s = page_after(&order, &vec![Scalar::Null, at.clone(), id.clone()]);
        assert!(
            s.sql
                .contains("(1 = 0) OR (last_sync_at IS NULL AND created_at > $2)"),
            "{}",
            s.sql
        );
    }

    #[test]
    fn a_cursor_that_does_not_fit_the_order_falls_back_to_the_offset() {
        let at = Scalar::Time(crate::clock::from_millis(1_000));
        for bad in [
            vec![at.clone()],
            vec![Scalar::Bool(true), Scalar::Text("x".into())],
            vec![at.clone(), Scalar::Null],
        ] {
            let s = page_after(&[], &bad);
            assert!(s.sql.ends_with("OFFSET $3"), "{bad:?}: {}", s.sql);
        }
        // The computed key (connectionStatus) pages by keys too, its CASE compared.
        let order = [OrderBy {
            property: PARTNERS.lookup("connectionStatus").unwrap(),
            direction: Direction::Asc,
        }];
        let s = page_after(&order, &vec![Scalar::Enum(1), at, Scalar::Text("x".into())]);
        assert!(!s.sql.contains("OFFSET"), "{}", s.sql);
        assert!(
            s.sql.contains("AS BIGINT), created_at, id) > ("),
            "{}",
            s.sql
        );
    }

    #[test]
    fn in_lists_are_one_sql_in() {
        let f = parse_filter(
            "connectionStatus in ('healthy', 'unhealthy', 'available')",
            &PARTNERS,
        )
        .unwrap();
        let s = count("t", Some(&f), clock());
        assert_eq!(s.sql.matches("CASE").count(), 1, "{}", s.sql);
        assert!(s.sql.contains(" IN ($3, $4, $5)"), "{}", s.sql);
        let f = parse_filter(
            "lastSyncDateTime in (null, 2020-01-01T00:00:00Z)",
            &PARTNERS,
        )
        .unwrap();
        let s = count("t", Some(&f), clock());
        assert!(
            s.sql.contains(
                "(last_sync_at IS NOT NULL AND last_sync_at IN ($2)) OR (last_sync_at IS NULL)"
            ),
            "{}",
            s.sql
        );
    }

    #[test]
    fn nullable_comparisons_never_yield_null() {
        let f = parse_filter("not (lastSyncDateTime gt 2020-01-01T00:00:00Z)", &PARTNERS).unwrap();
        let s = count("t", Some(&f), clock());
        assert!(
            s.sql
                .contains("(NOT (last_sync_at IS NOT NULL AND last_sync_at > $2))"),
            "{}",
            s.sql
        );
    }
}
