//! The API benchmark: the service side by side with a bare axum "hello" anchor (a
//! static 265-byte JSON), both loaded by `wrk` with the same settings, rounds
//! interleaved so a noisy machine moves both alike.
//!
//!     cargo bench --bench api -- [--rounds 3] [--seconds 5] [--connections 32]
//!                                [--only get,list,count,post,patch,heartbeat]
//!                                [--postgres postgres://…] [--scale 1000000]
//!                                [--binary path/to/another/cloudpc-partners] [--throttling]
//!                                [--baseline path/to/an/earlier/cloudpc-partners]
//!                                [--pool-size 10] [--processes 2]
//!                                [--server-arg=--worker-threads=1 …]
//!     cargo bench --bench api -- --soak 600      (RSS over ten minutes of mixed load)
//!
//! Prints, per request kind and database: req/s, p50, p99, server CPU per request and
//! RSS, each with its ratio to the anchor measured in the same round (min / median /
//! max over the rounds). `--scale N` adds a run over N partners in one tenant: counts,
//! first and deep pages, and GET by id while other clients loop on `$count`.
//! `--throttling` adds each database again with throttling on (see [`THROTTLED`]), so
//! the table shows what counting requests costs, shared buckets on PostgreSQL included.
//! Installs Debian's `wrk` when it is missing (as root).

#[path = "api/pgbench.rs"]
mod pgbench;
#[path = "../tests/support/mod.rs"]
mod support;

use cloudpc_partners::odata::query::MAX_SKIP;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::{ServerProcess, Tokens, SET};
use uuid::Uuid;

const PARTNERS: usize = 1000;
/// The anchor's body: 265 bytes of static JSON.
const HELLO: &str = r#"{"@odata.context":"https://graph.microsoft.com/beta/$metadata#hello","id":"00000000-0000-4000-8000-000000000000","partnerId":"00000000-0000-4000-8000-000000000001","enableConnection":true,"lastSyncDateTime":null,"connectionStatus":"available","statusDetails":"hi"}"#;

/// The API bench's options (`cargo bench --bench api -- --help`).
#[derive(clap::Parser, Clone)]
#[command(
    name = "api bench",
    bin_name = "cargo bench --bench api --",
    about = "Loads the service with wrk side by side with a bare hello server, and prints each request's throughput and ratio to it"
)]
struct Options {
    /// Rounds per request kind (the ratio is the median over them).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds of load per round.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// wrk's open connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Only these request kinds, comma-separated (get,list,count,post,patch,heartbeat).
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Also run on this PostgreSQL database (postgres://…).
    #[arg(long)]
    postgres: Option<String>,
    /// Add a run over this many partners in one tenant (counts, pages, $skip).
    #[arg(long)]
    scale: Option<usize>,
    /// Another build of the service to load instead of this one (an earlier commit's).
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Load the service this many seconds with creates, reads and heartbeats, and
    /// print its RSS every tenth of it.
    #[arg(long)]
    soak: Option<u64>,
    /// Also load this build (an earlier commit's) on each database, in the same
    /// interleaved rounds, as rows named "… baseline": an A/B on one noisy machine.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Also load each database with throttling on, to show what counting costs.
    #[arg(long)]
    throttling: bool,
    /// The service's PostgreSQL connections, and pgbench's clients beside it.
    #[arg(long, default_value_t = 10)]
    pool_size: u32,
    /// Also load this many service processes over the one PostgreSQL database, wrk's
    /// connections split evenly among them, and print each process's CPU.
    #[arg(long, default_value_t = 1)]
    processes: usize,
    /// An argument for every service process, such as `--server-arg=--worker-threads=1`
    /// (repeat it for several; the hello anchor is not affected).
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
    /// Runs the hello anchor server (the bench starts itself with it).
    #[arg(long, hide = true)]
    serve_hello: bool,
}

fn main() {
    let o = <Options as clap::Parser>::parse();
    if o.serve_hello {
        return serve_hello();
    }
    ensure_wrk();
    let work = tempfile::tempdir().expect("tempdir");
    println!("{}", machine_note());
    if let Some(seconds) = o.soak {
        return soak(work.path(), seconds, &o);
    }
    let hello = Hello::start();
    let mut databases = vec![("sqlite", None)];
    if let Some(url) = &o.postgres {
        databases.push(("postgres", Some(url.as_str())));
    }
    let mut backends = Vec::new();
    for throttled in [false, true] {
        if throttled && !o.throttling {
            continue;
        }
        for (name, url) in &databases {
            backends.push(Backend::start(name, work.path(), *url, throttled, None, &o));
            if let Some(binary) = &o.baseline {
                let name = format!("{name} baseline");
                let b = Backend::start(&name, work.path(), *url, throttled, Some(binary), &o);
                backends.push(b);
            }
        }
    }
    if let Some(url) = o.postgres.as_deref().filter(|_| o.processes > 1) {
        let name = format!("postgres ×{}", o.processes);
        let mut b = Backend::start(&name, work.path(), Some(url), false, None, &o);
        b.add_processes(o.processes - 1, &o);
        backends.push(b);
    }
    let mut per_process: Vec<String> = Vec::new();
    let kinds: Vec<Kind> = Kind::ALL
        .iter()
        .copied()
        .filter(|k| {
            o.only
                .as_ref()
                .is_none_or(|only| only.iter().any(|n| n == k.name()))
        })
        .collect();
    let mut results: Vec<Series> = Vec::new();
    for b in &backends {
        for k in &kinds {
            results.push((b.name.clone(), *k, Vec::new()));
        }
    }
    for round in 1..=o.rounds {
        eprintln!("round {round} of {}", o.rounds);
        for k in &kinds {
            for (bi, b) in backends.iter().enumerate() {
                let script = b.script(*k, work.path());
                let anchor = wrk(hello.base(), &script, &o, hello.pid());
                let service = match b.others.is_empty() {
                    true => wrk(&b.server.base, &script, &o, b.server.child.id()),
                    false => {
                        let (total, each) = wrk_spread(b, &script, &o);
                        per_process.push(format!(
                            "| {} | {round} | {} | {} |",
                            k.label(),
                            each.iter()
                                .map(|r| format!("{:.0}", r.rps))
                                .collect::<Vec<_>>()
                                .join(" / "),
                            each.iter()
                                .map(|r| format!("{:.0}", r.cpu_us))
                                .collect::<Vec<_>>()
                                .join(" / "),
                        ));
                        total
                    }
                };
                let clients = o.pool_size * (1 + b.others.len() as u32);
                let database = b.pgbench.iter().find(|(kind, _)| kind == k).map(|(_, s)| {
                    let url = b.database.as_deref().unwrap_or_default();
                    pgbench::run(url, s, clients, o.seconds)
                });
                let slot = bi * kinds.len() + kinds.iter().position(|x| x == k).unwrap_or(0);
                results[slot].2.push((anchor, service, database));
            }
        }
    }
    println!("{}", table(&results, &o));
    if !per_process.is_empty() {
        println!(
            "each of the {} processes over one PostgreSQL database (wrk's connections split evenly):\n\n| request | round | req/s per process | CPU µs/req per process |\n|---|---|---|---|\n{}\n",
            o.processes,
            per_process.join("\n")
        );
    }
    if let Some(n) = o.scale {
        for b in backends.iter().filter(|b| !b.throttled) {
            println!(
                "{}",
                scale_run(&b.name, b.database.as_deref(), n, work.path(), &o)
            );
        }
    }
}

/// What else this machine was doing, so a reader can judge the figures.
fn machine_note() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    // top's second frame: CPU over the last second, not since each process began.
    let top = Command::new("top")
        .args(["-b", "-n", "2", "-d", "1", "-o", "%CPU", "-w", "200"])
        .output()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let frame = text
                .rsplit("PID USER")
                .next()
                .unwrap_or_default()
                .to_owned();
            frame
                .lines()
                .skip(1)
                .take(3)
                .filter_map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    Some(format!("{} {}%", f.get(11)?, f.get(8)?))
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    format!(
        "machine: {cpus} cores, load average {}; busiest processes over the last second: {top}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

fn ensure_wrk() {
    if Command::new("wrk").arg("--version").output().is_ok() {
        return;
    }
    eprintln!("installing Debian's wrk");
    let ok = Command::new("sh")
        .args(["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "wrk is missing and could not be installed: run 'apt-get install wrk' as root"
    );
}

/// The anchor: this bench binary again, serving HELLO for every request.
fn serve_hello() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let app = axum::Router::new().fallback(|| async {
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                HELLO,
            )
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!(
            "listening on http://{}",
            listener.local_addr().expect("addr")
        );
        axum::serve(listener, app).await.expect("serve");
    });
}

/// The anchor process; killed when dropped.
struct Hello(ServerProcess);

impl Hello {
    fn start() -> Self {
        let exe = std::env::current_exe().expect("bench path");
        let mut cmd = Command::new(exe);
        cmd.arg("--serve-hello");
        Hello(ServerProcess::start(cmd).expect("hello anchor starts"))
    }

    fn base(&self) -> &str {
        &self.0.base
    }

    fn pid(&self) -> u32 {
        self.0.child.id()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Get,
    List,
    Count,
    Post,
    Patch,
    Heartbeat,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Get,
        Kind::List,
        Kind::Count,
        Kind::Post,
        Kind::Patch,
        Kind::Heartbeat,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Get => "get",
            Kind::List => "list",
            Kind::Count => "count",
            Kind::Post => "post",
            Kind::Patch => "patch",
            Kind::Heartbeat => "heartbeat",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Get => "GET by id",
            Kind::List => "list $filter+$top=10",
            Kind::Count => "/$count",
            Kind::Post => "POST create",
            Kind::Patch => "PATCH",
            Kind::Heartbeat => "heartbeat",
        }
    }
}

/// Budgets for a throttled run: wide enough that the load is never refused, narrow
/// enough that heartbeats lease from the shared bucket about every 2 s per partner
/// (a lease is 1/60 of a budget), several hundred leases a second in all.
const THROTTLED: [&str; 6] = [
    "--throttle-requests",
    "2000000",
    "--throttle-writes",
    "2000000",
    "--throttle-partner-requests",
    "6000",
];

/// The service with 1,000 partners in one tenant, throttling off unless asked.
struct Backend {
    name: String,
    throttled: bool,
    database: Option<String>,
    server: ServerProcess,
    admin: String,
    /// Creates go to a tenant of their own, so the measured one keeps its 1,000 rows.
    creator: String,
    ids: Vec<String>,
    partner_tokens: Vec<String>,
    /// On PostgreSQL, pgbench running the service's statement for each request kind.
    pgbench: Vec<(Kind, pgbench::Script)>,
    /// More processes serving the same database and data dir (`--processes`).
    others: Vec<ServerProcess>,
    /// The build it runs, when not this one (`--baseline`).
    binary: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

impl Backend {
    fn start(
        name: &str,
        work: &Path,
        postgres: Option<&str>,
        throttled: bool,
        binary: Option<&Path>,
        o: &Options,
    ) -> Self {
        let dir = tempfile::tempdir_in(work).expect("tempdir");
        let name = if throttled {
            format!("{name} throttled")
        } else {
            name.to_owned()
        };
        let database = postgres.map(|url| throwaway_schema(url, &name.replace(' ', "_")));
        let mut extra = if throttled {
            THROTTLED.to_vec()
        } else {
            vec!["--no-throttling"]
        };
        let pool_size = o.pool_size.to_string();
        if let Some(db) = &database {
            extra.extend(["--database", db.as_str(), "--db-pool-size", &pool_size]);
        }
        let server = spawn(dir.path(), &extra, binary, o);
        let tokens = Tokens::for_data_dir(dir.path());
        let now = chrono::Utc::now().timestamp();
        let tenant = Uuid::new_v4();
        let creator = Uuid::new_v4();
        let admin = tokens.admin(tenant, now);
        let tag = name.replace(' ', "_");
        let (partners, ids, pgbench) = match database.as_deref().filter(|_| !throttled) {
            Some(db) => {
                // Written straight into the database, with ids pgbench can compute.
                fill(dir.path(), Some(db), tenant, PARTNERS);
                let partners: Vec<Uuid> = (0..PARTNERS).map(filled_id).collect();
                let ids = partners.iter().map(Uuid::to_string).collect();
                let pgbench = Kind::ALL
                    .iter()
                    .filter_map(|k| {
                        pgbench::script(*k, tenant, creator, work, &tag).map(|s| (*k, s))
                    })
                    .collect();
                (partners, ids, pgbench)
            }
            None => {
                let partners: Vec<Uuid> = (0..PARTNERS).map(|_| Uuid::new_v4()).collect();
                let ids = create(&server.base, &admin, &partners);
                (partners, ids, Vec::new())
            }
        };
        Backend {
            partner_tokens: partners
                .iter()
                .map(|p| tokens.partner(tenant, *p, now))
                .collect(),
            name,
            throttled,
            database,
            server,
            admin,
            creator: tokens.admin(creator, now),
            ids,
            pgbench,
            others: Vec::new(),
            binary: binary.map(Path::to_owned),
            _dir: dir,
        }
    }

    /// Starts `n` more processes on this backend's database and data dir.
    fn add_processes(&mut self, n: usize, o: &Options) {
        let pool_size = o.pool_size.to_string();
        let db = self.database.clone().unwrap_or_default();
        let extra = [
            "--no-throttling",
            "--database",
            db.as_str(),
            "--db-pool-size",
            &pool_size,
        ];
        for _ in 0..n {
            let process = spawn(self._dir.path(), &extra, self.binary.as_deref(), o);
            self.others.push(process);
        }
    }

    /// The wrk script for one kind of request; the anchor runs the same one.
    fn script(&self, kind: Kind, work: &Path) -> PathBuf {
        let path = work.join(format!(
            "{}-{}.lua",
            self.name.replace(' ', "_"),
            kind.name()
        ));
        let list = |items: &[String]| {
            items
                .iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(",")
        };
        let auth = format!(
            "wrk.headers[\"Authorization\"] = \"Bearer {}\"\n",
            self.admin
        );
        let body = match kind {
            Kind::Get => format!(
                "{auth}local ids = {{{}}}\nrequest = function()\n  return wrk.format(\"GET\", \"{SET}/\" .. ids[math.random(#ids)])\nend\n",
                list(&self.ids)
            ),
            Kind::List => format!(
                "{auth}wrk.path = \"{SET}?$filter=enableConnection%20eq%20true&$top=10\"\n"
            ),
            Kind::Count => format!("{auth}wrk.path = \"{SET}/$count\"\n"),
            Kind::Post => format!(
                "wrk.headers[\"Authorization\"] = \"Bearer {}\"\nwrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
                 local n = 0\nsetup = function(t) end\n\
                 request = function()\n  n = n + 1\n\
                 local g = string.format(\"%08x-%04x-4000-8000-%012x\", math.random(0, 0x7fffffff), math.random(0, 0xffff), n)\n\
                 return wrk.format(\"POST\", \"{SET}\", nil, '{{\"partnerId\":\"' .. g .. '\",\"enableConnection\":true}}')\nend\n",
                self.creator
            ),
            Kind::Patch => format!(
                "{auth}wrk.headers[\"Content-Type\"] = \"application/json\"\nlocal ids = {{{}}}\n\
                 request = function()\n\
                 return wrk.format(\"PATCH\", \"{SET}/\" .. ids[math.random(#ids)], nil, '{{\"enableConnection\":true}}')\nend\n",
                list(&self.ids)
            ),
            Kind::Heartbeat => format!(
                "local tokens = {{{}}}\nrequest = function()\n\
                 return wrk.format(\"POST\", \"/partner/v1/heartbeat\", {{[\"Authorization\"] = \"Bearer \" .. tokens[math.random(#tokens)]}})\nend\n",
                list(&self.partner_tokens)
            ),
        };
        // Each thread draws its own sequence.
        let seeded = format!("math.randomseed(os.time())\n{body}");
        std::fs::write(&path, seeded).expect("write script");
        path
    }
}

fn throwaway_schema(url: &str, name: &str) -> String {
    let schema = format!("bench_{}_{}", name, Uuid::new_v4().simple());
    let ok = Command::new("psql")
        .args(["-q", url, "-c", &format!("CREATE SCHEMA {schema}")])
        .env("PGOPTIONS", "--client-min-messages=warning")
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "cannot create a schema in {url} (psql)");
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

/// One wrk run against one server.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Server CPU (user + system) per request, in microseconds.
    cpu_us: f64,
    /// CPU of every PostgreSQL process per request, in microseconds.
    db_cpu_us: f64,
    rss_mib: f64,
    errors: u64,
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after ") ".
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
}

/// CPU ticks of each process named `postgres` (the server and its backends).
fn database_cpu() -> std::collections::HashMap<u32, u64> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Default::default();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .map(|pid| (pid, cpu_ticks(pid)))
        .collect()
}

/// The database's CPU ticks between two readings, counting processes that started
/// in between from zero (a backend lives only as long as its connection).
fn database_cpu_since(before: &std::collections::HashMap<u32, u64>) -> u64 {
    database_cpu()
        .into_iter()
        .map(|(pid, now)| now.saturating_sub(before.get(&pid).copied().unwrap_or(0)))
        .sum()
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn wrk(base: &str, script: &Path, o: &Options, pid: u32) -> Run {
    let before = cpu_ticks(pid);
    let db_before = database_cpu();
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{}", o.connections),
            &format!("-d{}s", o.seconds),
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(base)
        .output()
        .expect("run wrk");
    let after = cpu_ticks(pid);
    let db_ticks = database_cpu_since(&db_before);
    let text = String::from_utf8_lossy(&out.stdout);
    let requests = field_after(&text, "requests in").unwrap_or(0.0);
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    let cpu_s = (after.saturating_sub(before)) as f64 / ticks_per_sec;
    let non2xx = text
        .lines()
        .find(|l| l.contains("Non-2xx"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    Run {
        rps: text
            .lines()
            .find(|l| l.starts_with("Requests/sec:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0),
        p50_ms: percentile(&text, "50%"),
        p99_ms: percentile(&text, "99%"),
        cpu_us: if requests > 0.0 {
            cpu_s * 1e6 / requests
        } else {
            f64::NAN
        },
        db_cpu_us: pgbench::per_request(db_ticks, requests),
        rss_mib: rss_mib(pid),
        errors: non2xx,
    }
}

/// Creates one enabled connection per partner through the API; their ids.
fn create(base: &str, admin: &str, partners: &[Uuid]) -> Vec<String> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = support::http_client();
        let mut ids = Vec::with_capacity(partners.len());
        for p in partners {
            let res = client
                .post(format!("{base}{SET}"))
                .bearer_auth(admin)
                .json(&serde_json::json!({"partnerId": p, "enableConnection": true}))
                .send()
                .await
                .expect("create");
            let v: serde_json::Value = res.json().await.expect("created");
            ids.push(v["id"].as_str().expect("id").to_owned());
        }
        ids
    })
}

/// One wrk per process of `b`, side by side, the connections split evenly: the
/// total, and each process's run.
fn wrk_spread(b: &Backend, script: &Path, o: &Options) -> (Run, Vec<Run>) {
    let servers: Vec<&ServerProcess> = std::iter::once(&b.server).chain(&b.others).collect();
    let mut each_o = o.clone();
    each_o.connections = (o.connections / servers.len()).max(1);
    // Each wrk its own random sequence: seeded alike, two would create the same
    // partnerIds and meet 409s.
    let text = std::fs::read_to_string(script).expect("read script");
    let scripts: Vec<PathBuf> = (0..servers.len())
        .map(|i| {
            let path = script.with_extension(format!("{i}.lua"));
            let seeded = text.replacen(
                "math.randomseed(os.time())",
                &format!("math.randomseed(os.time() * {} + {i})", servers.len()),
                1,
            );
            std::fs::write(&path, seeded).expect("write script");
            path
        })
        .collect();
    let each: Vec<Run> = std::thread::scope(|scope| {
        let handles: Vec<_> = servers
            .iter()
            .zip(&scripts)
            .map(|(s, script)| {
                let each_o = &each_o;
                scope.spawn(move || wrk(&s.base, script, each_o, s.child.id()))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("wrk thread"))
            .collect()
    });
    let rps: f64 = each.iter().map(|r| r.rps).sum();
    let weighted = |f: fn(&Run) -> f64| each.iter().map(|r| f(r) * r.rps).sum::<f64>() / rps;
    let total = Run {
        rps,
        p50_ms: weighted(|r| r.p50_ms),
        p99_ms: each.iter().map(|r| r.p99_ms).fold(f64::NAN, f64::max),
        cpu_us: weighted(|r| r.cpu_us),
        // Each run read the whole database's CPU over the same seconds.
        db_cpu_us: each.first().map_or(f64::NAN, |r| r.db_cpu_us * r.rps / rps),
        rss_mib: each.iter().map(|r| r.rss_mib).sum(),
        errors: each.iter().map(|r| r.errors).sum(),
    };
    (total, each)
}

/// "  123456 requests in 5.00s" → 123456
fn field_after(text: &str, marker: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.contains(marker))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// "     99%    2.31ms" → 2.31
fn percentile(text: &str, which: &str) -> f64 {
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with(which))
        .and_then(|l| l.split_whitespace().nth(1))
        .map_or(f64::NAN, duration_ms)
}

fn duration_ms(s: &str) -> f64 {
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => f64::NAN,
    }
}

fn stats(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.retain(|x| x.is_finite());
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => (f64::NAN, f64::NAN, f64::NAN),
        n => (v[0], v[n / 2], v[n - 1]),
    }
}

/// One database and request kind: (hello anchor, service, pgbench on the service's
/// statement where the database is PostgreSQL) per round.
type Series = (String, Kind, Vec<(Run, Run, Option<Run>)>);

fn table(results: &[Series], o: &Options) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nwrk -t1 -c{} -d{}s, {} interleaved rounds; ratio = service / anchor in the same round (min / median / max); on PostgreSQL the second anchor is pgbench -M prepared -c{} on the service's own statement, and DB CPU is every postgres process's{}\n",
        o.connections,
        o.seconds,
        o.rounds,
        o.pool_size,
        match o.server_args.is_empty() {
            true => String::new(),
            false => format!("; the service ran with {}", o.server_args.join(" ")),
        }
    );
    let _ = writeln!(
        s,
        "| db | request | req/s | × hello req/s | × pgbench | pgbench tps | p50 ms | p99 ms | CPU µs/req | × hello CPU | DB CPU µs/req (service / pgbench) | RSS MiB | non-2xx |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut anchors: Vec<Run> = Vec::new();
    for (db, kind, runs) in results {
        let med = |f: fn(&Run) -> f64| stats(runs.iter().map(|(_, s, _)| f(s)).collect()).1;
        let ratio = stats(runs.iter().map(|(a, s, _)| s.rps / a.rps).collect());
        let cpu_ratio = stats(runs.iter().map(|(a, s, _)| s.cpu_us / a.cpu_us).collect());
        let pg: Vec<(&Run, &Run)> = runs
            .iter()
            .filter_map(|(_, s, p)| p.as_ref().map(|p| (s, p)))
            .collect();
        let (pg_ratio, pg_tps, pg_cpu) = match pg.is_empty() {
            true => ("–".to_owned(), "–".to_owned(), "–".to_owned()),
            false => {
                let r = stats(pg.iter().map(|(s, p)| s.rps / p.rps).collect());
                (
                    format!("{:.2} / {:.2} / {:.2}", r.0, r.1, r.2),
                    format!("{:.0}", stats(pg.iter().map(|(_, p)| p.rps).collect()).1),
                    format!(
                        "{:.0} / {:.0}",
                        med(|r| r.db_cpu_us),
                        stats(pg.iter().map(|(_, p)| p.db_cpu_us).collect()).1
                    ),
                )
            }
        };
        let errors: u64 = runs
            .iter()
            .map(|(_, s, p)| s.errors + p.map_or(0, |p| p.errors))
            .sum();
        let _ = writeln!(
            s,
            "| {db} | {} | {:.0} | {:.2} / {:.2} / {:.2} | {pg_ratio} | {pg_tps} | {:.2} | {:.2} | {:.0} | {:.1} | {pg_cpu} | {:.0} | {errors} |",
            kind.label(),
            med(|r| r.rps),
            ratio.0,
            ratio.1,
            ratio.2,
            med(|r| r.p50_ms),
            med(|r| r.p99_ms),
            med(|r| r.cpu_us),
            cpu_ratio.1,
            med(|r| r.rss_mib),
        );
        anchors.extend(runs.iter().map(|(a, _, _)| *a));
    }
    let (lo, mid, hi) = stats(anchors.iter().map(|a| a.rps).collect());
    let cpu = stats(anchors.iter().map(|a| a.cpu_us).collect()).1;
    let _ = writeln!(
        s,
        "\nhello anchor: {mid:.0} req/s (min {lo:.0}, max {hi:.0}), {cpu:.0} µs CPU per request"
    );
    s
}

/// N partners in one tenant, written straight into the database, then the requests
/// whose cost could grow with the table.
fn scale_run(name: &str, postgres: Option<&str>, n: usize, work: &Path, o: &Options) -> String {
    let dir = tempfile::tempdir_in(work).expect("tempdir");
    let database = postgres.map(|url| throwaway_schema(url, &format!("{name}_scale")));
    let mut extra = vec!["--no-throttling"];
    if let Some(db) = &database {
        extra.extend(["--database", db.as_str()]);
    }
    let tenant = Uuid::new_v4();
    // Start once to create the schema, stop, fill, start again.
    let mut first = spawn(dir.path(), &extra, None, o);
    first.terminate();
    let started = std::time::Instant::now();
    fill(dir.path(), database.as_deref(), tenant, n);
    let fill_secs = started.elapsed().as_secs_f64();
    let server = spawn(dir.path(), &extra, None, o);
    let tokens = Tokens::for_data_dir(dir.path());
    let admin = tokens.admin(tenant, chrono::Utc::now().timestamp());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = support::http_client();
    let base = server.base.clone();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n{name}: {n} partners in one tenant (filled in {fill_secs:.1} s)\n"
    );
    let _ = writeln!(s, "| request | p50 ms | max ms | rows |");
    let _ = writeln!(s, "|---|---|---|---|");
    let time = |path: String| {
        rt.block_on(async {
            let mut times = Vec::new();
            let mut rows = String::new();
            for _ in 0..7 {
                let t = std::time::Instant::now();
                let res = client
                    .get(format!("{base}{path}"))
                    .bearer_auth(&admin)
                    .send()
                    .await
                    .expect("request");
                let status = res.status();
                let text = res.text().await.unwrap_or_default();
                times.push(t.elapsed().as_secs_f64() * 1000.0);
                rows = if status.is_success() {
                    serde_json::from_str::<serde_json::Value>(&text)
                        .ok()
                        .and_then(|v| {
                            v.get("@odata.count")
                                .cloned()
                                .or(v
                                    .get("value")
                                    .map(|a| a.as_array().map_or(0, Vec::len).into()))
                                .or(v.get("id").map(|_| 1.into()))
                        })
                        .map_or(text.trim().chars().take(12).collect(), |v| v.to_string())
                } else {
                    format!("status {status}")
                };
            }
            let (_, p50, max) = stats(times);
            (p50, max, rows)
        })
    };
    let deep_link = rt.block_on(async {
        // Page 900 of a chain of 1,000-row pages: follow the links' token forward.
        let mut url = format!("{base}{SET}?$top=999&$select=id");
        for _ in 0..(n / 999).saturating_sub(1).min(900) {
            let v: serde_json::Value = client
                .get(&url)
                .bearer_auth(&admin)
                .send()
                .await
                .expect("page")
                .json()
                .await
                .expect("json");
            match v.get("@odata.nextLink").and_then(|l| l.as_str()) {
                Some(next) => url = next.to_owned(),
                None => break,
            }
        }
        url.strip_prefix(&base).unwrap_or(&url).to_owned()
    });
    let id = format!("{:08x}-0000-4000-8000-{:012x}", n / 2, n / 2);
    for (label, path) in [
        ("GET by id".to_owned(), format!("{SET}/{id}")),
        ("/$count".to_owned(), format!("{SET}/$count")),
        (
            "/$count?$filter=enableConnection eq true".to_owned(),
            format!("{SET}/$count?$filter=enableConnection%20eq%20true"),
        ),
        (
            "$count=true&$filter=connectionStatus eq 'healthy'&$top=1".to_owned(),
            format!("{SET}?$count=true&$filter=connectionStatus%20eq%20'healthy'&$top=1"),
        ),
        ("first page $top=100".to_owned(), format!("{SET}?$top=100")),
        (
            format!("$skip={MAX_SKIP} (the largest accepted)"),
            format!("{SET}?$skip={MAX_SKIP}&$top=100"),
        ),
        ("deep nextLink (last page followed)".to_owned(), deep_link),
    ] {
        let (p50, max, rows) = time(path);
        let _ = writeln!(s, "| {label} | {p50:.2} | {max:.2} | {rows} |");
    }
    // Light reads while four clients loop on $count.
    let (alone, loaded) = rt.block_on(async {
        let get = format!("{base}{SET}/{id}");
        let sample = |client: reqwest::Client, admin: String, get: String| async move {
            let mut t = Vec::new();
            for _ in 0..50 {
                let s = std::time::Instant::now();
                let _ = client
                    .get(&get)
                    .bearer_auth(&admin)
                    .send()
                    .await
                    .map(|r| r.status());
                t.push(s.elapsed().as_secs_f64() * 1000.0);
            }
            stats(t).1
        };
        let alone = sample(client.clone(), admin.clone(), get.clone()).await;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut loops = Vec::new();
        for _ in 0..4 {
            let (client, admin, stop) = (client.clone(), admin.clone(), stop.clone());
            let url = format!("{base}{SET}/$count");
            loops.push(tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = client
                        .get(&url)
                        .bearer_auth(&admin)
                        .send()
                        .await
                        .map(|r| r.status());
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let loaded = sample(client.clone(), admin.clone(), get).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for l in loops {
            let _ = l.await;
        }
        (alone, loaded)
    });
    let _ = writeln!(
        s,
        "\nGET by id p50: {alone:.2} ms alone, {loaded:.2} ms while 4 clients loop on /$count ({:.1}×); RSS {:.0} MiB",
        loaded / alone,
        rss_mib(server.child.id())
    );
    s
}

/// A service process: `binary` if given, else `--binary`, else this build.
fn spawn(dir: &Path, extra: &[&str], binary: Option<&Path>, o: &Options) -> ServerProcess {
    let mut extra = extra.to_vec();
    extra.extend(o.server_args.iter().map(String::as_str));
    match binary.or(o.binary.as_deref()) {
        Some(b) => ServerProcess::spawn_binary(b, dir, &extra),
        None => ServerProcess::spawn(dir, &extra),
    }
}

/// The id (and partner id) of the `i`th partner `fill` writes.
fn filled_id(i: usize) -> Uuid {
    Uuid::parse_str(&format!("{i:08x}-0000-4000-8000-{i:012x}")).expect("a GUID")
}

/// Writes `n` partners into the database (an embedded one only while its server is
/// stopped, since the server holds its lock): ids and partner ids are
/// `{i:08x}-0000-4000-8000-{i:012x}`; two in three enabled (two days ago); of all, a
/// ninth beat within the last four minutes (spread over its seconds), a ninth a day
/// ago, the rest never.
fn fill(data_dir: &Path, postgres: Option<&str>, tenant: Uuid, n: usize) {
    let now = chrono::Utc::now().timestamp_millis();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        match postgres {
            Some(url) => {
                let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .expect("connect");
                tokio::spawn(connection);
                client.execute(
                    "INSERT INTO external_partners (tenant_id, id, partner_id, enable_connection, enabled_at, last_heartbeat_at, last_sync_at, created_at, updated_at)
                     SELECT $1, lpad(to_hex(i), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(i), 12, '0'),
                            lpad(to_hex(i), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(i), 12, '0'),
                            i % 3 <> 0, $2::bigint - 172800000,
                            CASE i % 9 WHEN 1 THEN $2 - (i % 240000) WHEN 2 THEN $2 - 86400000 ELSE NULL END,
                            NULL, $2 - ($3 - i), $2
                     FROM generate_series(0, $3::bigint - 1) AS i",
                    &[&tenant.to_string(), &now, &(n as i64)],
                )
                .await
                .expect("fill");
                client.batch_execute("ANALYZE external_partners").await.expect("analyze");
            }
            None => {
                let path = data_dir.join("cloudpc-partners.db");
                let conn = rusqlite::Connection::open(&path).expect("open");
                conn.execute(
                    "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?3 - 1)
                     INSERT INTO external_partners (tenant_id, id, partner_id, enable_connection, enabled_at, last_heartbeat_at, last_sync_at, created_at, updated_at)
                     SELECT ?1, printf('%08x-0000-4000-8000-%012x', i, i), printf('%08x-0000-4000-8000-%012x', i, i),
                            i % 3 <> 0, ?2 - 172800000,
                            CASE i % 9 WHEN 1 THEN ?2 - (i % 240000) WHEN 2 THEN ?2 - 86400000 ELSE NULL END,
                            NULL, ?2 - (?3 - i), ?2
                     FROM n",
                    rusqlite::params![tenant.to_string(), now, n as i64],
                )
                .expect("fill");
                conn.execute_batch("ANALYZE").expect("analyze");
            }
        }
    });
}

/// RSS over a long run of mixed load: creates, reads by id, list pages and heartbeats
/// from four wrk processes at once, sampled ten times.
fn soak(work: &Path, seconds: u64, o: &Options) {
    let b = Backend::start("sqlite", work, None, false, None, o);
    let pid = b.server.child.id();
    let kinds = [Kind::Post, Kind::Get, Kind::List, Kind::Heartbeat];
    let loads: Vec<std::process::Child> = kinds
        .iter()
        .map(|k| {
            Command::new("wrk")
                .args(["-t1", "-c8", &format!("-d{seconds}s"), "-s"])
                .arg(b.script(*k, work))
                .arg(&b.server.base)
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("wrk")
        })
        .collect();
    println!("\nsoak: {seconds} s of creates, reads, list pages and heartbeats (4 × wrk -c8) on the embedded database\n");
    println!("| after s | RSS MiB |");
    println!("|---|---|");
    println!("| 0 | {:.1} |", rss_mib(pid));
    let step = (seconds / 10).max(1);
    let mut elapsed = 0;
    while elapsed < seconds {
        std::thread::sleep(Duration::from_secs(step));
        elapsed += step;
        println!("| {elapsed} | {:.1} |", rss_mib(pid));
    }
    for mut l in loads {
        let _ = l.wait();
    }
    let count = rt_count(&b);
    println!(
        "\nthe measured tenant still holds {count} partners (creates went to their own tenant)"
    );
}

fn rt_count(b: &Backend) -> String {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        support::http_client()
            .get(format!("{}{SET}/$count", b.server.base))
            .bearer_auth(&b.admin)
            .send()
            .await
            .expect("count")
            .text()
            .await
            .unwrap_or_default()
    })
}
