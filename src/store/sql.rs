//! Builds the parameterised SQL both backends run. Values are always bound (`$1`,
//! `$2`, …; SQLite and PostgreSQL both number parameters this way), never formatted
//! into the text. `connectionStatus` becomes a `CASE` over the stored timestamps and
//! a bound "fresh since" instant, so filtering, sorting and paging on it happen in the
//! database and agree with `model::derive_status`.

use super::row::COLUMNS;
use super::{ListRequest, StatusClock};
use crate::clock::to_millis;
use crate::model::ConnectionStatus;
use crate::odata::{CompareOp, Direction, Filter, Property, Value};

/// A value to bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    Bool(bool),
    Int(i64),
    Text(String),
}

/// SQL text and the values for its numbered parameters.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    pub binds: Vec<Bind>,
}

impl Statement {
    fn bind(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.binds.len())
    }
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

    /// The SQL for `connectionStatus`' underlying enum value; mirrors `derive_status`.
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
        match p {
            Property::Id => "id".into(),
            Property::PartnerId => "partner_id".into(),
            Property::EnableConnection => "enable_connection".into(),
            Property::LastSyncDateTime => "last_sync_at".into(),
            Property::ConnectionStatus => self.status_expr(),
            // The parser refuses it; sorting or filtering on it is never asked for.
            Property::StatusDetails => "NULL".into(),
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
            } => self.compare(*property, *op, value),
            Filter::In { property, values } => {
                self.push("(");
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        self.push(" OR ");
                    }
                    self.compare(*property, CompareOp::Eq, v);
                }
                self.push(")");
            }
        }
    }

    /// Every comparison yields true or false, never SQL NULL, so `not` keeps OData's
    /// meaning on the nullable `lastSyncDateTime`.
    fn compare(&mut self, p: Property, op: CompareOp, v: &Value) {
        let col = self.column(p);
        let nullable = p == Property::LastSyncDateTime;
        let sql = match v {
            Value::Null => match (nullable, op) {
                (true, CompareOp::Eq) => format!("({col} IS NULL)"),
                (true, _) => format!("({col} IS NOT NULL)"),
                (false, CompareOp::Eq) => "(1 = 0)".into(),
                (false, _) => "(1 = 1)".into(),
            },
            _ => {
                let param = self.bind(match v {
                    Value::Bool(b) => Bind::Bool(*b),
                    Value::Text(s) => Bind::Text(s.clone()),
                    Value::Time(t) => Bind::Int(to_millis(*t)),
                    Value::Status(s) => Bind::Int(s.value()),
                    Value::Null => Bind::Int(0),
                });
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

/// `SELECT` of one page, one row more than the page to tell whether more follow.
pub fn list(tenant: &str, req: &ListRequest<'_>) -> Statement {
    let mut b = Builder::new(req.status);
    b.push(&format!("SELECT {COLUMNS} FROM external_partners"));
    b.tenant_scope(tenant);
    if let Some(f) = req.filter {
        b.push(" AND ");
        b.filter(f);
    }
    b.push(" ORDER BY ");
    for o in req.orderby {
        let col = b.column(o.property);
        // OData sorts null before any value.
        let dir = match (o.direction, o.property == Property::LastSyncDateTime) {
            (Direction::Asc, true) => "ASC NULLS FIRST",
            (Direction::Desc, true) => "DESC NULLS LAST",
            (Direction::Asc, false) => "ASC",
            (Direction::Desc, false) => "DESC",
        };
        b.push(&format!("{col} {dir}, "));
    }
    // Ties break on creation order, then id, so pages never overlap or skip.
    b.push("created_at ASC, id ASC");
    let limit = b.bind(Bind::Int(
        i64::try_from(req.limit.saturating_add(1)).unwrap_or(i64::MAX),
    ));
    let offset = b.bind(Bind::Int(i64::try_from(req.offset).unwrap_or(i64::MAX)));
    b.push(&format!(" LIMIT {limit} OFFSET {offset}"));
    b.stmt
}

/// `SELECT COUNT(*)` of the records matching a filter.
pub fn count(tenant: &str, filter: Option<&Filter>, status: StatusClock) -> Statement {
    let mut b = Builder::new(status);
    b.push("SELECT COUNT(*) FROM external_partners");
    b.tenant_scope(tenant);
    if let Some(f) = filter {
        b.push(" AND ");
        b.filter(f);
    }
    b.stmt
}

/// Reads one record.
pub fn get(tenant: &str, id: &str) -> Statement {
    let mut s = Statement::default();
    let t = s.bind(Bind::Text(tenant.into()));
    let i = s.bind(Bind::Text(id.into()));
    s.sql = format!("SELECT {COLUMNS} FROM external_partners WHERE tenant_id = {t} AND id = {i}");
    s
}

/// Inserts one record.
pub fn insert(tenant: &str, rec: &crate::model::PartnerRecord) -> Statement {
    let mut s = Statement::default();
    let p: Vec<String> = [
        Bind::Text(tenant.into()),
        Bind::Text(rec.id.to_string()),
        Bind::Text(rec.partner_id.to_string()),
        Bind::Bool(rec.enable_connection),
    ]
    .into_iter()
    .map(|b| s.bind(b))
    .collect();
    let enabled_at = match rec.enabled_at {
        Some(t) => s.bind(Bind::Int(to_millis(t))),
        None => "NULL".into(),
    };
    let created = s.bind(Bind::Int(to_millis(rec.created_at)));
    let version = s.bind(Bind::Int(rec.version));
    s.sql = format!(
        "INSERT INTO external_partners (tenant_id, id, partner_id, enable_connection, enabled_at, created_at, updated_at, version) \
         VALUES ({}, {}, {}, {}, {enabled_at}, {created}, {created}, {version})",
        p[0], p[1], p[2], p[3]
    );
    s
}

/// Applies an update in one statement, returning the new row; a switch from disabled
/// to enabled restarts the health clock (`enabled_at`).
pub fn update(
    tenant: &str,
    id: &str,
    enable: Option<bool>,
    expected_version: Option<i64>,
    now_ms: i64,
) -> Statement {
    let mut s = Statement::default();
    let now = s.bind(Bind::Int(now_ms));
    let mut set = format!("updated_at = {now}, version = version + 1");
    if let Some(e) = enable {
        let e = s.bind(Bind::Bool(e));
        set.push_str(&format!(
            ", enabled_at = CASE WHEN {e} AND NOT enable_connection THEN {now} ELSE enabled_at END, enable_connection = {e}"
        ));
    }
    let t = s.bind(Bind::Text(tenant.into()));
    let i = s.bind(Bind::Text(id.into()));
    let mut sql = format!("UPDATE external_partners SET {set} WHERE tenant_id = {t} AND id = {i}");
    if let Some(v) = expected_version {
        let v = s.bind(Bind::Int(v));
        sql.push_str(&format!(" AND version = {v}"));
    }
    sql.push_str(&format!(" RETURNING {COLUMNS}"));
    s.sql = sql;
    s
}

/// Deletes one record, if at the expected version.
pub fn delete(tenant: &str, id: &str, expected_version: Option<i64>) -> Statement {
    let mut s = Statement::default();
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
        "SELECT {COLUMNS} FROM external_partners WHERE tenant_id = {t} AND partner_id = {p}"
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
    let mut s = Statement::default();
    let at = s.bind(Bind::Int(at_ms));
    let t = s.bind(Bind::Text(tenant.into()));
    let p = s.bind(Bind::Text(partner_id.into()));
    s.sql = format!(
        "UPDATE external_partners SET last_sync_at = CASE WHEN last_sync_at IS NULL OR last_sync_at < {at} THEN {at} ELSE last_sync_at END \
         WHERE tenant_id = {t} AND partner_id = {p} AND enable_connection RETURNING id"
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::{filter::parse_filter, EntityShape, OrderBy};
    use chrono::{TimeZone, Utc};

    fn clock() -> StatusClock {
        StatusClock {
            fresh_since: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        }
    }

    #[test]
    fn values_are_bound_never_inlined() {
        let f = parse_filter(
            "partnerId eq 'x''; DROP TABLE external_partners; --'",
            &EntityShape::PARTNERS,
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
            &EntityShape::PARTNERS,
        )
        .unwrap();
        let order = [OrderBy {
            property: Property::ConnectionStatus,
            direction: Direction::Desc,
        }];
        let req = ListRequest {
            filter: Some(&f),
            orderby: &order,
            offset: 0,
            limit: 10,
            status: clock(),
        };
        let s = list("t", &req);
        let fresh = Bind::Int(to_millis(clock().fresh_since));
        assert_eq!(s.binds.iter().filter(|b| **b == fresh).count(), 1);
        assert_eq!(s.sql.matches("$2").count(), 3, "{}", s.sql);
        assert!(s.sql.ends_with("LIMIT $5 OFFSET $6"));
    }

    #[test]
    fn nullable_comparisons_never_yield_null() {
        let f = parse_filter(
            "not (lastSyncDateTime gt 2020-01-01T00:00:00Z)",
            &EntityShape::PARTNERS,
        )
        .unwrap();
        let s = count("t", Some(&f), clock());
        assert!(
            s.sql
                .contains("(NOT (last_sync_at IS NOT NULL AND last_sync_at > $2))"),
            "{}",
            s.sql
        );
    }
}
