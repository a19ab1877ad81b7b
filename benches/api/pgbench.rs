//! The PostgreSQL anchor: `pgbench` running the statement the service runs for each
//! request, built by the service's own SQL builder, at the service's pool size, so
//! "service ÷ pgbench" says how much of what the database can do the service gets.

use cloudpc_partners::edm::{Scalar, Values};
use cloudpc_partners::model::schema::{ENABLE_CONNECTION, PARTNERS, PARTNER_ID};
use cloudpc_partners::model::PartnerRecord;
use cloudpc_partners::odata::query::parse_collection;
use cloudpc_partners::store::row::Cell;
use cloudpc_partners::store::sql::{self, Statement};
use cloudpc_partners::store::{ListRequest, StatusClock};
use std::path::{Path, PathBuf};
use std::process::Command;
use uuid::Uuid;

use super::{database_cpu, database_cpu_since, Kind, Run, PARTNERS as COUNT};

/// Stands for "a random one of the tenant's partners" while a statement is built.
const SOME_ID: &str = "00000000-0000-4000-8000-00000000beef";
/// Stands for "a new GUID" in a create.
const NEW_ID: &str = "00000000-0000-4000-8000-00000000cafe";

/// The id of partner `i` as `fill` writes it, computed by the server from `:i`.
const ID_OF_I: &str =
    "(lpad(to_hex(:i::bigint), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(:i::bigint), 12, '0'))";

/// A pgbench script for one request kind, with the values its variables take.
pub struct Script {
    path: PathBuf,
    defines: Vec<String>,
}

/// The service's statement for `kind` against the measured tenant (creates go to
/// `creator`), as a pgbench script; `None` for kinds with no single statement
/// (a heartbeat is buffered and written in batches).
pub fn script(kind: Kind, tenant: Uuid, creator: Uuid, work: &Path, tag: &str) -> Option<Script> {
    let now = chrono::Utc::now();
    let status = StatusClock {
        fresh_since: now - chrono::Duration::minutes(5),
    };
    let t = tenant.to_string();
    let statement = match kind {
        Kind::Get => sql::get(&t, SOME_ID),
        Kind::List => {
            let q = parse_collection(
                Some("$filter=enableConnection%20eq%20true&$top=10"),
                &PARTNERS,
                None,
            )
            .expect("the bench's query parses");
            sql::list(&t, &ListRequest::page_of(&q, status))
        }
        Kind::Count => sql::status_totals(Some(&t), status)?,
        Kind::Post => {
            let mut values = Values::new();
            values.set(PARTNER_ID, Scalar::Text(NEW_ID.into()));
            values.set(ENABLE_CONNECTION, Scalar::Bool(true));
            let record = PartnerRecord {
                id: Uuid::parse_str(NEW_ID).expect("uuid"),
                values,
                enabled_at: Some(now),
                last_heartbeat_at: None,
                created_at: now,
                updated_at: now,
                version: 1,
            };
            sql::insert(&creator.to_string(), &record)
        }
        Kind::Patch => {
            let mut changes = Values::new();
            changes.set(ENABLE_CONNECTION, Scalar::Bool(true));
            sql::update(&t, SOME_ID, &changes, None, now.timestamp_millis())
        }
        Kind::Heartbeat => return None,
    };
    let (text, defines) = as_pgbench(&statement);
    let path = work.join(format!("pgbench-{tag}-{}.sql", kind.name()));
    std::fs::write(
        &path,
        format!("\\set i random(0, {})\n{text};\n", COUNT - 1),
    )
    .expect("write pgbench script");
    Some(Script { path, defines })
}

/// The statement with `$N` as pgbench variables (`:pN`, defined with `-D`), except
/// the stand-ins: a random partner of the tenant, or a new GUID.
fn as_pgbench(s: &Statement) -> (String, Vec<String>) {
    let mut text = s.sql.clone();
    let mut defines = Vec::new();
    // From the highest number down, so `$1` never eats the front of `$10`.
    for (i, bind) in s.binds.iter().enumerate().rev() {
        let n = i + 1;
        let value = match bind {
            Cell::Null => "NULL".to_owned(),
            Cell::Bool(b) => b.to_string(),
            Cell::Int(v) => v.to_string(),
            Cell::Text(t) => t.clone(),
        };
        let with = match value.as_str() {
            SOME_ID => ID_OF_I.to_owned(),
            NEW_ID => "gen_random_uuid()::text".to_owned(),
            _ => {
                defines.push(format!("p{n}={value}"));
                format!(":p{n}")
            }
        };
        text = text.replace(&format!("${n}"), &with);
    }
    (text, defines)
}

/// pgbench's throughput on a script, with its clients and the database's CPU.
pub fn run(url: &str, script: &Script, clients: u32, seconds: u64) -> Run {
    let db_before = database_cpu();
    let started = std::time::Instant::now();
    let mut cmd = Command::new("pgbench");
    cmd.args([
        "-n",
        "-M",
        "prepared",
        "-c",
        &clients.to_string(),
        "-j",
        "1",
        "-T",
        &seconds.to_string(),
        "-f",
    ])
    .arg(&script.path);
    for d in &script.defines {
        cmd.args(["-D", d]);
    }
    let child = cmd
        .arg(url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run pgbench");
    // pgbench's backends end with it, taking their CPU counts along: read them
    // just before the end, and spread them over the transactions up to then.
    std::thread::sleep(std::time::Duration::from_secs_f64(seconds as f64 - 0.25));
    let db_ticks = database_cpu_since(&db_before);
    let measured_s = started.elapsed().as_secs_f64();
    let out = child.wait_with_output().expect("pgbench ends");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = |marker: &str| {
        text.lines()
            .find(|l| l.contains(marker))
            .and_then(|l| l.split('=').nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    let failed = text
        .lines()
        .find(|l| l.starts_with("number of failed transactions"))
        .and_then(|l| l.rsplit(':').next())
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    if !out.status.success() {
        eprintln!(
            "pgbench failed on {}: {}",
            script.path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let tps = line("tps =").unwrap_or(0.0);
    Run {
        rps: tps,
        p50_ms: line("latency average").unwrap_or(f64::NAN),
        p99_ms: f64::NAN,
        cpu_us: f64::NAN,
        db_cpu_us: per_request(db_ticks, tps * measured_s),
        rss_mib: f64::NAN,
        errors: failed + u64::from(!out.status.success()),
    }
}

/// CPU ticks (1/100 s) spread over `requests`, in microseconds each.
pub fn per_request(ticks: u64, requests: f64) -> f64 {
    if requests > 0.0 {
        ticks as f64 / 100.0 * 1e6 / requests
    } else {
        f64::NAN
    }
}
