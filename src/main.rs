//! The command line: `serve` runs the service, `token` mints a local token, `env`
//! prints what an app sets to use the intercepting proxy, `migrate-data` copies an
//! embedded database into PostgreSQL.

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use cloudpc_partners::auth::{mint_local_token, MintRequest, SigningKeys, TokenKind};
use cloudpc_partners::clock::SystemClock;
use cloudpc_partners::config::{EnvConfig, MigrateConfig, ServeConfig, TokenConfig};
use std::io::Write;
use std::sync::Arc;

// Many small, short-lived allocations per request (JSON, SQL text, headers): a
// thread-caching allocator costs less per request than glibc's (see the api bench).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The version and the commit the binary was built from, as `--version` says it.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("CLOUDPC_PARTNERS_COMMIT"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "cloudpc-partners",
    version = VERSION,
    about = "Microsoft Graph Cloud PC externalPartners API, self-hosted"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service.
    Serve(Box<ServeConfig>),
    /// Print a bearer token signed with the local key in the data dir.
    Token(TokenConfig),
    /// Copy every record from an embedded database into PostgreSQL.
    MigrateData(MigrateConfig),
    /// Print what an unchanged app sets to reach the stand-in through its proxy:
    /// `eval "$(cloudpc-partners env)"`.
    Env(EnvConfig),
    /// Exit 0 if a URL answers 2xx within 3 seconds (a container's health check,
    /// where no curl is installed). A loopback https URL is checked without
    /// verifying its certificate: it is this machine's own service.
    Probe {
        #[arg(default_value = "http://127.0.0.1:8080/healthz")]
        url: String,
    },
    /// Print shell completions for bash, zsh, fish, elvish or powershell:
    /// `cloudpc-partners completions bash > ~/.local/share/bash-completion/completions/cloudpc-partners`.
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff): `cloudpc-partners man | man -l -`.
    Man,
}

fn main() -> std::process::ExitCode {
    cloudpc_partners::tls::install_crypto_provider();
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // `--in-memory` without `--data-dir` keeps its keys and certificates in a
    // throwaway directory too, so it leaves nothing behind.
    let data_dir_given = matches
        .subcommand_matches("serve")
        .and_then(|m| m.value_source("data_dir"))
        .is_some_and(|source| source != ValueSource::DefaultValue);
    let done = match cli.command {
        Command::Serve(config) => serve(*config, data_dir_given),
        Command::Token(config) => token(config),
        Command::MigrateData(config) => migrate_data(config),
        Command::Env(config) => env(config),
        Command::Probe { url } => probe(&url),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "cloudpc-partners", &mut out);
            print_all(&out)
        }
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut out)
                .map_err(anyhow::Error::from)
                .and_then(|()| print_all(&out))
        }
    };
    // Log lines still gathering go out before the process ends.
    cloudpc_partners::logging::flush();
    match done {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line a person can act on: the causes in order, each once, and no
            // backtrace whatever RUST_BACKTRACE says.
            let mut causes: Vec<String> = Vec::new();
            for cause in e.chain() {
                let text = cause.to_string();
                if !causes.iter().any(|c| c.contains(&text)) {
                    causes.push(text);
                }
            }
            let _ = writeln!(std::io::stderr(), "error: {}", causes.join(": "));
            std::process::ExitCode::FAILURE
        }
    }
}

/// Writes `bytes` to standard output; a reader that stops early (`| head`) is fine.
fn print_all(bytes: &[u8]) -> anyhow::Result<()> {
    match std::io::stdout().write_all(bytes) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        done => Ok(done?),
    }
}

fn migrate_data(config: MigrateConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(cloudpc_partners::migrate::migrate_data(
        &config.from,
        &config.to,
        &config.postgres.settings(),
    ))?;
    println!(
        "read {} records: copied {}, skipped {} already present",
        report.read, report.copied, report.skipped
    );
    Ok(())
}

fn serve(mut config: ServeConfig, data_dir_given: bool) -> anyhow::Result<()> {
    init_logging(&config.log_format);
    let in_memory = matches!(
        cloudpc_partners::app::database_url(&config),
        Ok(cloudpc_partners::store::DatabaseUrl::Memory)
    );
    let _throwaway = match in_memory && !data_dir_given {
        true => {
            let dir = cloudpc_partners::throwaway::Throwaway::create().map_err(|e| {
                anyhow::anyhow!(
                    "cannot make a throwaway data dir under {}: {e}",
                    std::env::temp_dir().display()
                )
            })?;
            config.data_dir = dir.path().to_owned();
            Some(dir)
        }
        false => None,
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = config.worker_threads {
        runtime.worker_threads(usize::from(n));
    }
    let runtime = runtime.enable_all().build()?;
    runtime.block_on(async {
        let server = cloudpc_partners::start(&config, Arc::new(SystemClock)).await?;
        let mut signals = Signals::install();
        // Tools read this line to learn the port; it must come first on stdout.
        // Not `println!`: a closed stdout must not stop the service.
        {
            let mut out = std::io::stdout();
            let _ = writeln!(out, "listening on {}", server.url()).and_then(|()| out.flush());
            if let Some(proxy) = server.proxy_addr {
                let _ = writeln!(out, "proxying on http://{proxy}").and_then(|()| out.flush());
            }
        }
        tracing::info!(
            version = VERSION,
            url = %server.url(),
            data_dir = %config.data_dir.display(),
            database = %database_summary(&config),
            dev = config.dev.enabled,
            proxy = %server.proxy_addr.map_or("off".to_owned(), |a| format!("http://{a}")),
            tokens = %tokens_summary(&config),
            "cloudpc-partners started"
        );
        signals.next().await;
        tracing::info!(
            "shutting down: answering what was received and draining in-flight requests (a second Ctrl-C stops at once)"
        );
        tokio::select! {
            done = server.shutdown() => done,
            () = signals.next() => {
                tracing::warn!("a second signal: stopping now, without waiting for the drain (heartbeats not yet written are lost)");
                Ok(())
            }
        }
    })
}

/// Which database serves, for the start-up line: the SQLite file, or PostgreSQL's
/// URL with its password hidden.
fn database_summary(config: &ServeConfig) -> String {
    use cloudpc_partners::store::{redact, DatabaseUrl};
    match cloudpc_partners::app::database_url(config) {
        Ok(DatabaseUrl::Sqlite(path)) => format!("SQLite {}", path.display()),
        Ok(DatabaseUrl::Postgres(url)) => format!("PostgreSQL {}", redact(&url)),
        Ok(DatabaseUrl::Memory) => "in memory (a throwaway SQLite file)".into(),
        Err(e) => format!("unreadable ({e})"),
    }
}

/// Whose tokens are taken, for the start-up line.
fn tokens_summary(config: &ServeConfig) -> String {
    let tokens = &config.tokens;
    match (&tokens.authority, &tokens.jwks_file) {
        (Some(authority), _) => format!("signed by the keys of {authority} (--authority)"),
        (None, Some(file)) => format!("signed by the keys in {} (--jwks-file)", file.display()),
        (None, None) => format!(
            "signed by this installation's own keys in {}",
            config.data_dir.join("signing-keys").display()
        ),
    }
}

/// SIGTERM and SIGINT (Ctrl-C): the first asks for a graceful stop, a second for
/// an immediate one. The handlers are installed when this is made, not when it is
/// first polled, so a signal sent as soon as the server announces itself is caught
/// rather than killing the process.
#[cfg(unix)]
struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

#[cfg(unix)]
impl Signals {
    fn install() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        Self {
            term: signal(SignalKind::terminate()).ok(),
            int: signal(SignalKind::interrupt()).ok(),
        }
    }

    /// The next signal of either kind.
    async fn next(&mut self) {
        tokio::select! { () = received(&mut self.term) => {}, () = received(&mut self.int) => {} }
    }
}

#[cfg(unix)]
async fn received(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> Self {
        Signals
    }

    async fn next(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn init_logging(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tokio_postgres=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(cloudpc_partners::logging::BufferedStderr);
    if format == "json" {
        builder.json().init();
    } else {
        // Span fields are formatted once, at the span's start, by the default field
        // format: colour off there too, or escapes would land in the line.
        builder
            .with_ansi(false)
            .event_format(cloudpc_partners::logging::LineFormat)
            .init();
    }
}

fn env(config: EnvConfig) -> anyhow::Result<()> {
    use cloudpc_partners::proxy::env;
    let (ca, bundle) = env::prepare(&config.data_dir)?;
    let mut out = std::io::stdout().lock();
    for (name, value) in env::variables(&config.proxy, &bundle, &ca) {
        writeln!(out, "{}", env::line(config.shell, name, &value))?;
    }
    Ok(())
}

fn probe(url: &str) -> anyhow::Result<()> {
    let parsed = url::Url::parse(url).map_err(|e| anyhow::anyhow!("'{url}' is not a URL: {e}"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .danger_accept_invalid_certs(loopback)
        .build()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let status = runtime.block_on(async { client.get(url).send().await.map(|r| r.status()) })?;
    anyhow::ensure!(status.is_success(), "{url} answered {status}");
    Ok(())
}

fn token(config: TokenConfig) -> anyhow::Result<()> {
    let keys = SigningKeys::load_or_create(&config.data_dir)?;
    let names: Vec<String> = config
        .scopes
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let known = [
        cloudpc_partners::auth::READ_ALL,
        cloudpc_partners::auth::READ_WRITE_ALL,
    ];
    if let Some(unknown) = names
        .iter()
        .find(|n| !config.any_scope && !known.contains(&n.as_str()))
    {
        anyhow::bail!(
            "--scopes names '{unknown}', a permission this service does not know; give {} (or add --any-scope to mint it anyway, to test a 403)",
            known.join(" or ")
        );
    }
    let kind = match (config.partner, config.app) {
        (Some(partner_id), _) => TokenKind::Partner { partner_id },
        (None, true) => TokenKind::Application { roles: names },
        (None, false) => TokenKind::Delegated { scopes: names },
    };
    let token = mint_local_token(
        &keys,
        &MintRequest {
            tenant: config.tenant,
            kind,
            app_id: config.app_id,
            lifetime: config.lifetime.get(),
            now: chrono::Utc::now().timestamp(),
        },
    )?;
    println!("{token}");
    Ok(())
}
