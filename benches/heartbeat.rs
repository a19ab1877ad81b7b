//! Heartbeat load benchmark: N partner connections beating over HTTP against the real
//! server binary (release build, default settings, throttling on).
//!
//!     cargo bench --bench heartbeat -- [--partners 10000] [--seconds 10] [--concurrency 64]
//!                                      [--postgres postgres://…] [--processes N]
//!
//! Prints heartbeats/s, latency percentiles and the server's memory for each backend.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{Api, ServerProcess, Tokens};
use uuid::Uuid;

/// Partners per tenant: keeps setup within one app's write budget per tenant.
const PER_TENANT: usize = 100;

/// The heartbeat bench's options (`cargo bench --bench heartbeat -- --help`).
#[derive(clap::Parser)]
#[command(
    name = "heartbeat bench",
    bin_name = "cargo bench --bench heartbeat --",
    about = "Sends heartbeats from many partners at once and prints the rate, latency, memory and health after"
)]
struct Options {
    /// Partner connections, spread over tenants.
    #[arg(long, default_value_t = 10_000)]
    partners: usize,
    /// Seconds measured, after a 2-second warm-up.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Also run on this PostgreSQL database (postgres://…).
    #[arg(long)]
    postgres: Option<String>,
    /// Also run this many server processes over one PostgreSQL database.
    #[arg(long, default_value_t = 1)]
    processes: usize,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

struct Report {
    backend: String,
    setup_secs: f64,
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    errors: u64,
    read_p50_ms: f64,
    read_p99_ms: f64,
    rss_mib: f64,
    peak_mib: f64,
    healthy_after: u64,
}

async fn run(backend: &str, database: Option<&str>, processes: usize, o: &Options) -> Report {
    let dir = tempfile::tempdir().expect("tempdir");
    let extra: Vec<&str> = database.map_or(vec![], |db| vec!["--database", db]);
    let servers: Vec<ServerProcess> = (0..processes)
        .map(|_| ServerProcess::spawn(dir.path(), &extra))
        .collect();
    let tokens = Tokens::for_data_dir(dir.path());
    let now = || chrono::Utc::now().timestamp();
    let client = support::http_client_builder()
        .pool_max_idle_per_host(o.concurrency * 2)
        .build()
        .expect("client");
    let api = |server: &ServerProcess, token: String| Api::new(client.clone(), &server.base, token);

    // Setup: PER_TENANT connections in each of partners/PER_TENANT tenants.
    let setup = Instant::now();
    let tenants: Vec<Uuid> = (0..o.partners.div_ceil(PER_TENANT))
        .map(|_| Uuid::new_v4())
        .collect();
    let mut plan = Vec::new();
    for (t, tenant) in tenants.iter().enumerate() {
        let admin = api(&servers[0], tokens.admin(*tenant, now()));
        for _ in 0..PER_TENANT.min(o.partners - t * PER_TENANT) {
            plan.push((*tenant, admin.clone(), Uuid::new_v4()));
        }
    }
    let plan = Arc::new(plan);
    let mut creators = Vec::new();
    for w in 0..32 {
        let plan = plan.clone();
        creators.push(tokio::spawn(async move {
            for (_, admin, partner) in plan.iter().skip(w).step_by(32) {
                admin.create(*partner, true).await;
            }
        }));
    }
    for c in creators {
        c.await.expect("creator");
    }
    let setup_secs = setup.elapsed().as_secs_f64();
    let credentials: Vec<(Uuid, Uuid)> = plan.iter().map(|(t, _, p)| (*t, *p)).collect();

    // Load: each worker beats for its share of partners, round robin, warm-up first.
    let warmup = Duration::from_secs(2);
    let measure = Duration::from_secs(o.seconds);
    let start = Instant::now();
    let mut workers = Vec::new();
    for w in 0..o.concurrency {
        // Clients spread over the processes, as behind a load balancer.
        let server = &servers[w % servers.len()];
        let mine: Vec<Api> = credentials
            .iter()
            .skip(w)
            .step_by(o.concurrency)
            .map(|(tenant, partner)| api(server, tokens.partner(*tenant, *partner, now())))
            .collect();
        workers.push(tokio::spawn(async move {
            let mut latencies_us: Vec<u32> = Vec::with_capacity(1 << 16);
            let mut errors = 0u64;
            let mut i = 0;
            loop {
                let now = start.elapsed();
                if now >= warmup + measure {
                    break;
                }
                let t = Instant::now();
                let ok = mine[i % mine.len()]
                    .heartbeat()
                    .await
                    .is_ok_and(|s| s == reqwest::StatusCode::NO_CONTENT);
                if now >= warmup {
                    latencies_us.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    errors += u64::from(!ok);
                }
                i += 1;
            }
            (latencies_us, errors)
        }));
    }
    // One admin reads alongside, as a dashboard would: a filtered $count per tenant in turn.
    let readers = {
        let admins: Vec<Api> = plan
            .iter()
            .step_by(PER_TENANT)
            .map(|(_, admin, _)| admin.clone())
            .collect();
        tokio::spawn(async move {
            let mut latencies_us: Vec<u32> = Vec::new();
            let mut i = 0;
            while start.elapsed() < warmup + measure {
                let t = Instant::now();
                let counted = admins[i % admins.len()]
                    .try_count(Some("connectionStatus eq 'healthy'"))
                    .await;
                if start.elapsed() >= warmup && counted.is_some() {
                    latencies_us.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            latencies_us
        })
    };
    let mut latencies = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await.expect("worker");
        latencies.extend(l);
        errors += e;
    }
    let (rss_mib, peak_mib) = servers
        .iter()
        .map(ServerProcess::memory_mib)
        .fold((0.0, 0.0), |(r, p), (r2, p2)| (r + r2, p + p2));
    // Read through the last process after every process has had time to flush.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let server = &servers[servers.len() - 1];
    latencies.sort_unstable();
    let mut reads = readers.await.expect("reader");
    reads.sort_unstable();
    let read_pct = |p: f64| {
        reads
            .get(((reads.len() as f64 * p) as usize).min(reads.len().saturating_sub(1)))
            .map_or(f64::NAN, |us| *us as f64 / 1000.0)
    };
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)] as f64 / 1000.0
    };

    // Sanity: the first tenant's partners all read healthy through Graph.
    let reader = api(server, tokens.reader(tenants[0], now()));
    let healthy_after = reader
        .try_count(Some("connectionStatus eq 'healthy'"))
        .await
        .unwrap_or(0);

    Report {
        backend: backend.into(),
        setup_secs,
        rate: latencies.len() as f64 / measure.as_secs_f64(),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: latencies.last().copied().unwrap_or(0) as f64 / 1000.0,
        errors,
        read_p50_ms: read_pct(0.50),
        read_p99_ms: read_pct(0.99),
        rss_mib,
        peak_mib,
        healthy_after,
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without
    // it, and a load run is no test.
    let o = <Options as clap::Parser>::parse();
    if !o.bench {
        println!("heartbeat bench: not run (use `cargo bench --bench heartbeat`)");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "heartbeat bench: {} partners in {} tenants, {} concurrent clients, {} s measured after 2 s warm-up",
        o.partners,
        o.partners.div_ceil(PER_TENANT),
        o.concurrency,
        o.seconds
    );
    let mut reports = vec![runtime.block_on(run("sqlite (embedded)", None, 1, &o))];
    if let Some(url) = o.postgres.clone() {
        // A throwaway schema, so the bench never touches the database's own tables.
        let schema = format!("cpb_{}", Uuid::new_v4().simple());
        let scoped = format!(
            "{url}{}options=-c%20search_path%3D{schema}",
            if url.contains('?') { '&' } else { '?' }
        );
        let admin = |sql: String| {
            let url = url.clone();
            runtime.block_on(async move {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .expect("connect to --postgres");
                tokio::spawn(connection);
                client.batch_execute(&sql).await.expect("schema");
            })
        };
        let mut counts = vec![1];
        if o.processes > 1 {
            counts.push(o.processes);
        }
        for n in counts {
            admin(format!("CREATE SCHEMA {schema}"));
            let label = if n == 1 {
                "postgres".to_owned()
            } else {
                format!("postgres x{n} procs")
            };
            reports.push(runtime.block_on(run(&label, Some(&scoped), n, &o)));
            admin(format!("DROP SCHEMA {schema} CASCADE"));
        }
    }
    println!(
        "{:<20} {:>10} {:>14} {:>9} {:>9} {:>9} {:>7} {:>12} {:>12} {:>9} {:>10} {:>9}",
        "backend",
        "setup s",
        "heartbeats/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "errors",
        "read p50 ms",
        "read p99 ms",
        "RSS MiB",
        "peak MiB",
        "healthy"
    );
    for r in &reports {
        println!(
            "{:<20} {:>10.1} {:>14.0} {:>9.2} {:>9.2} {:>9.1} {:>7} {:>12.2} {:>12.2} {:>9.1} {:>10.1} {:>9}",
            r.backend,
            r.setup_secs,
            r.rate,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.errors,
            r.read_p50_ms,
            r.read_p99_ms,
            r.rss_mib,
            r.peak_mib,
            format!("{}/{}", r.healthy_after, PER_TENANT.min(o.partners))
        );
    }
}
