//! Configuration: one struct per command, built from flattened sections. Each
//! section's `Default` is the only place its numbers live; clap shows and applies
//! them, and every flag has an environment-variable fallback.

use clap::Args;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// A positive duration as operators write it: `2s`, `90s`, `5m`, `1h 30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span(pub Duration);

impl Span {
    pub const fn secs(s: u64) -> Self {
        Span(Duration::from_secs(s))
    }

    pub fn get(self) -> Duration {
        self.0
    }
}

impl FromStr for Span {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        parse_duration(s).map(Span)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        humantime::format_duration(self.0).fmt(f)
    }
}

use crate::clock::parse_duration;

/// `--public-url`: an http(s) origin, without a path.
fn parse_public_url(s: &str) -> Result<String, String> {
    let u = url::Url::parse(s).map_err(|e| format!("'{s}' is not a URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() || u.path() != "/" {
        return Err(format!(
            "'{s}' must be an origin such as https://graph.example.com"
        ));
    }
    Ok(s.trim_end_matches('/').to_owned())
}

/// Where the service listens and keeps its data.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on; port 0 picks a free port.
    #[arg(
        long,
        env = "CLOUDPC_PARTNERS_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: String,

    /// Folder for the embedded database and the local signing key; created if missing.
    #[arg(long, env = "CLOUDPC_PARTNERS_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,

    /// Database URL: `postgres://…` for PostgreSQL, `sqlite:PATH` for a specific SQLite
    /// file, `sqlite::memory:` for one in memory; default is the embedded database in
    /// the data dir.
    #[arg(long, env = "DATABASE_URL")]
    pub database: Option<String>,

    /// Keep everything in memory (gone when the process stops): `--database sqlite::memory:`.
    #[arg(long, env = "CLOUDPC_PARTNERS_IN_MEMORY", value_parser = clap::builder::BoolishValueParser::new(), conflicts_with = "database")]
    pub in_memory: bool,

    #[command(flatten)]
    pub postgres: PostgresConfig,

    #[command(flatten)]
    pub heartbeats: HeartbeatConfig,

    #[command(flatten)]
    pub throttling: ThrottleConfig,

    #[command(flatten)]
    pub tokens: TokenValidation,

    #[command(flatten)]
    pub tls: TlsConfig,

    #[command(flatten)]
    pub connections: ConnectionConfig,

    /// The origin clients reach this service at (`https://graph.example.com`): links
    /// (`@odata.nextLink`, `Location`, `@odata.context`) use it instead of the
    /// request's Host, which a client (or a shared cache) could set to anything.
    #[arg(long, env = "CLOUDPC_PARTNERS_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,

    /// Believe `X-Forwarded-Proto` for the links' scheme: only behind a proxy that
    /// sets it (and strips clients' own).
    #[arg(long, env = "CLOUDPC_PARTNERS_TRUST_FORWARDED_PROTO", value_parser = clap::builder::BoolishValueParser::new())]
    pub trust_forwarded_proto: bool,

    #[command(flatten)]
    pub dev: DevConfig,

    /// Turn off the deprecated externalPartnerSettings view (404, as Microsoft does now).
    #[arg(long, env = "CLOUDPC_PARTNERS_NO_LEGACY_SETTINGS", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_legacy_settings: bool,

    /// Log format: `text` for people, `json` for log pipelines.
    #[arg(long, env = "CLOUDPC_PARTNERS_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    /// Threads that serve requests; default one per core. On a machine shared with
    /// PostgreSQL, fewer than the cores cut wake-ups between threads (see the README).
    #[arg(long, env = "CLOUDPC_PARTNERS_WORKER_THREADS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub worker_threads: Option<u16>,
}

/// The data dir every command defaults to.
const DEFAULT_DATA_DIR: &str = "./cloudpc-partners-data";

impl ServeConfig {
    /// The defaults, on a free port and rooted in a given data dir; what tests start from.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            worker_threads: None,
            data_dir: data_dir.into(),
            database: None,
            in_memory: false,
            postgres: PostgresConfig::default(),
            heartbeats: HeartbeatConfig::default(),
            throttling: ThrottleConfig::default(),
            tokens: TokenValidation::default(),
            tls: TlsConfig::default(),
            connections: ConnectionConfig::default(),
            public_url: None,
            trust_forwarded_proto: false,
            dev: DevConfig::default(),
            no_legacy_settings: false,
            log_format: "text".into(),
        }
    }
}

/// Development mode: the stand-in controls.
#[derive(Debug, Clone, Args)]
pub struct DevConfig {
    /// Development mode: the stand-in controls under /dev/v1 (the clock, resets,
    /// faults, the journal, simulated partners) and a token endpoint.
    /// Refused together with production token validation (--jwks-file).
    #[arg(long = "dev", env = "CLOUDPC_PARTNERS_DEV", value_parser = clap::builder::BoolishValueParser::new(), conflicts_with_all = ["jwks_file", "authority"])]
    pub enabled: bool,

    /// With --dev: load tenants and connections in chosen states from this JSON file
    /// at start (see the README's Development mode).
    #[arg(long, env = "CLOUDPC_PARTNERS_SEED", requires = "enabled")]
    pub seed: Option<PathBuf>,

    /// With --dev: fault settings to start with, as JSON (as POST /dev/v1/faults takes).
    #[arg(long, env = "CLOUDPC_PARTNERS_FAULTS", requires = "enabled")]
    pub faults: Option<String>,

    /// With --dev: how many recent requests the request journal keeps (0: none).
    #[arg(long, env = "CLOUDPC_PARTNERS_JOURNAL_CAPACITY", default_value_t = DevConfig::default().journal_capacity, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub journal_capacity: u32,

    /// Let --dev listen on a non-loopback address (a container's 0.0.0.0): whoever
    /// reaches it controls the stand-in (clock, faults, journal, tokens).
    #[arg(long, env = "CLOUDPC_PARTNERS_DEV_ALLOW_REMOTE", value_parser = clap::builder::BoolishValueParser::new(), requires = "enabled")]
    pub dev_allow_remote: bool,

    /// With --dev: the stand-in belongs to one tester, so the dev controls may reach
    /// past a token's tenant (POST /dev/v1/reset?scope=all, another tenant's or
    /// every tenant's journal). Without it each tenant sees and controls only its own.
    #[arg(long, env = "CLOUDPC_PARTNERS_DEV_SHARED", value_parser = clap::builder::BoolishValueParser::new(), requires = "enabled")]
    pub dev_shared: bool,

    #[command(flatten)]
    pub proxy: ProxyConfig,
}

/// With --dev: the intercepting proxy, so an unchanged app reaches the stand-in
/// through its proxy setting (`eval "$(cloudpc-partners env)"`).
#[derive(Debug, Clone, Default, Args)]
pub struct ProxyConfig {
    /// With --dev: also listen as an HTTP proxy on this address (port 0 picks one)
    /// that answers for graph.microsoft.com and login.microsoftonline.com (and the
    /// national clouds' hosts). Loopback addresses only, unless --proxy-allow-remote.
    #[arg(long, env = "CLOUDPC_PARTNERS_PROXY_LISTEN", requires = "enabled")]
    pub proxy_listen: Option<String>,

    /// Another host name the proxy answers for (repeatable, or comma-separated).
    #[arg(long = "proxy-host", env = "CLOUDPC_PARTNERS_PROXY_HOSTS", value_delimiter = ',', value_parser = parse_host_name, requires = "proxy_listen")]
    pub hosts: Vec<String>,

    /// Pass requests for other hosts through to them (true), or refuse them with a
    /// 502 that names the host (false), so nothing leaves the machine.
    #[arg(long, env = "CLOUDPC_PARTNERS_PROXY_PASSTHROUGH", default_value = "true", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub proxy_passthrough: bool,

    /// Let the proxy listen on a non-loopback address: whoever reaches it reaches the
    /// stand-in's dev controls and, through pass-through, anything this machine can.
    #[arg(long, env = "CLOUDPC_PARTNERS_PROXY_ALLOW_REMOTE", value_parser = clap::builder::BoolishValueParser::new())]
    pub proxy_allow_remote: bool,
}

/// `--proxy-host`: a DNS name, in lower case.
fn parse_host_name(s: &str) -> Result<String, String> {
    let name = s.trim().to_ascii_lowercase();
    if crate::proxy::is_host_name(&name) {
        Ok(name)
    } else {
        Err(format!(
            "'{s}' is not a host name such as graph.contoso.test"
        ))
    }
}

impl Default for DevConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            seed: None,
            faults: None,
            journal_capacity: 1000,
            dev_allow_remote: false,
            dev_shared: false,
            proxy: ProxyConfig {
                proxy_passthrough: true,
                ..ProxyConfig::default()
            },
        }
    }
}

/// PostgreSQL connection settings.
#[derive(Debug, Clone, Args)]
pub struct PostgresConfig {
    /// PostgreSQL: most connections this process holds.
    #[arg(long = "db-pool-size", env = "CLOUDPC_PARTNERS_DB_POOL_SIZE", default_value_t = PostgresConfig::default().pool_size, value_parser = clap::value_parser!(u32).range(1..))]
    pub pool_size: u32,

    /// PostgreSQL: how long a request waits for a free connection before a 503.
    #[arg(long = "db-acquire-timeout", env = "CLOUDPC_PARTNERS_DB_ACQUIRE_TIMEOUT", default_value_t = PostgresConfig::default().acquire_timeout)]
    pub acquire_timeout: Span,

    /// PostgreSQL: the longest one statement may run.
    #[arg(long = "db-statement-timeout", env = "CLOUDPC_PARTNERS_DB_STATEMENT_TIMEOUT", default_value_t = PostgresConfig::default().statement_timeout)]
    pub statement_timeout: Span,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            pool_size: 10,
            acquire_timeout: Span::secs(5),
            statement_timeout: Span::secs(30),
        }
    }
}

impl PostgresConfig {
    /// The settings the store connects with.
    pub fn settings(&self) -> crate::store::PgSettings {
        crate::store::PgSettings {
            pool_size: self.pool_size,
            acquire_timeout: self.acquire_timeout.get(),
            statement_timeout: self.statement_timeout.get(),
        }
    }
}

/// Connection health and the heartbeat path.
#[derive(Debug, Clone, Args)]
pub struct HeartbeatConfig {
    /// How long a heartbeat keeps a connection `healthy`.
    #[arg(long = "heartbeat-timeout", env = "CLOUDPC_PARTNERS_HEARTBEAT_TIMEOUT", default_value_t = HeartbeatConfig::default().timeout)]
    pub timeout: Span,

    /// How often coalesced heartbeats are written to the database; also the most a
    /// crash can lose, and how soon other processes see a heartbeat.
    #[arg(long = "heartbeat-flush-interval", env = "CLOUDPC_PARTNERS_HEARTBEAT_FLUSH_INTERVAL", default_value_t = HeartbeatConfig::default().flush_interval)]
    pub flush_interval: Span,

    /// How long a partner connection's existence and enabled flag are cached for
    /// partner calls; changes made through other processes are seen within this.
    #[arg(long = "partner-cache-ttl", env = "CLOUDPC_PARTNERS_PARTNER_CACHE_TTL", default_value_t = HeartbeatConfig::default().partner_cache_ttl)]
    pub partner_cache_ttl: Span,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        Self {
            timeout: Span::secs(300),
            flush_interval: Span::secs(1),
            partner_cache_ttl: Span::secs(5),
        }
    }
}

/// Throttling budgets, modelled on the Intune limits.
#[derive(Debug, Clone, Args)]
pub struct ThrottleConfig {
    /// Switch throttling off.
    #[arg(long = "no-throttling", env = "CLOUDPC_PARTNERS_NO_THROTTLING", value_parser = clap::builder::BoolishValueParser::new())]
    pub off: bool,

    /// The throttling window the budgets below refill over.
    #[arg(long = "throttle-window", env = "CLOUDPC_PARTNERS_THROTTLE_WINDOW", default_value_t = ThrottleConfig::default().window)]
    pub window: Span,

    /// Graph requests per app per tenant per window.
    #[arg(long = "throttle-requests", env = "CLOUDPC_PARTNERS_THROTTLE_REQUESTS", default_value_t = ThrottleConfig::default().requests, value_parser = clap::value_parser!(u32).range(1..))]
    pub requests: u32,

    /// Graph writes (POST, PATCH, DELETE) per app per tenant per window.
    #[arg(long = "throttle-writes", env = "CLOUDPC_PARTNERS_THROTTLE_WRITES", default_value_t = ThrottleConfig::default().writes, value_parser = clap::value_parser!(u32).range(1..))]
    pub writes: u32,

    /// Partner API calls per partner connection per window.
    #[arg(long = "throttle-partner-requests", env = "CLOUDPC_PARTNERS_THROTTLE_PARTNER_REQUESTS", default_value_t = ThrottleConfig::default().partner_requests, value_parser = clap::value_parser!(u32).range(1..))]
    pub partner_requests: u32,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            off: false,
            window: Span::secs(20),
            requests: 2000,
            writes: 200,
            partner_requests: 100,
        }
    }
}

impl ThrottleConfig {
    /// The budgets, or `None` when throttling is off.
    pub fn limits(&self) -> Option<crate::throttle::ThrottleLimits> {
        (!self.off).then_some(crate::throttle::ThrottleLimits {
            window: self.window.get(),
            requests: self.requests,
            writes: self.writes,
            partner_requests: self.partner_requests,
        })
    }
}

/// Production token validation; without it the server signs and checks local tokens.
#[derive(Debug, Clone, Default, Args)]
pub struct TokenValidation {
    /// Follow an OpenID provider's keys: URL/.well-known/openid-configuration, then its
    /// jwks_uri, over HTTPS (e.g. https://login.microsoftonline.com/common/v2.0).
    /// Keys are refreshed hourly, and at most every 5 minutes for an unknown kid.
    #[arg(
        long,
        env = "CLOUDPC_PARTNERS_AUTHORITY",
        conflicts_with = "jwks_file",
        requires = "audience"
    )]
    pub authority: Option<String>,

    /// PEM roots trusted for --authority besides the system's (private CAs, tests).
    #[arg(long, env = "CLOUDPC_PARTNERS_AUTHORITY_CA", requires = "authority")]
    pub authority_ca: Option<PathBuf>,

    /// JWKS file of RS256 public keys, for air-gapped deployments; switches from
    /// local tokens to production validation.
    #[arg(long, env = "CLOUDPC_PARTNERS_JWKS_FILE", requires_all = ["issuer", "audience"])]
    pub jwks_file: Option<PathBuf>,

    /// Expected `iss` with --jwks-file; `{tenantid}` is replaced by the token's `tid`.
    #[arg(long, env = "CLOUDPC_PARTNERS_ISSUER", requires = "jwks_file")]
    pub issuer: Option<String>,

    /// An accepted `aud` (repeatable, or comma-separated), e.g.
    /// https://graph.microsoft.com and 00000003-0000-0000-c000-000000000000.
    #[arg(long, env = "CLOUDPC_PARTNERS_AUDIENCE", value_delimiter = ',')]
    pub audience: Vec<String>,

    /// Accept tokens of this tenant only (repeatable, or comma-separated); others
    /// get 401. Default: any tenant the issuer signs for.
    #[arg(
        long = "allowed-tenant",
        env = "CLOUDPC_PARTNERS_ALLOWED_TENANTS",
        value_delimiter = ','
    )]
    pub allowed_tenants: Vec<uuid::Uuid>,
}

/// HTTPS, which Graph clients expect (some send tokens only to https hosts).
#[derive(Debug, Clone, Default, Args)]
pub struct TlsConfig {
    /// PEM certificate chain to serve HTTPS with (with --tls-key).
    #[arg(
        long,
        env = "CLOUDPC_PARTNERS_TLS_CERT",
        requires = "tls_key",
        conflicts_with = "tls_dev"
    )]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, env = "CLOUDPC_PARTNERS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve HTTPS with a development certificate for localhost, signed by a local
    /// CA; both are created in the data dir (tls/) on first use.
    #[arg(long, env = "CLOUDPC_PARTNERS_TLS_DEV", value_parser = clap::builder::BoolishValueParser::new())]
    pub tls_dev: bool,
}

impl TlsConfig {
    /// The certificate files to serve, or `None` for plain HTTP.
    pub fn files(
        &self,
        data_dir: &std::path::Path,
    ) -> anyhow::Result<Option<crate::tls::TlsFiles>> {
        match (&self.tls_cert, &self.tls_key, self.tls_dev) {
            (Some(cert), Some(key), _) => Ok(Some(crate::tls::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                ca: None,
            })),
            (_, _, true) => crate::tls::development_certificate(data_dir).map(Some),
            _ => Ok(None),
        }
    }
}

/// How the server treats client connections.
#[derive(Debug, Clone, Args)]
pub struct ConnectionConfig {
    /// On SIGTERM, how long in-flight requests may take to finish before the
    /// remaining connections are closed (idle keep-alive connections close at once).
    #[arg(long = "shutdown-grace", env = "CLOUDPC_PARTNERS_SHUTDOWN_GRACE", default_value_t = ConnectionConfig::default().shutdown_grace)]
    pub shutdown_grace: Span,

    /// A separate plain-HTTP listener for /healthz, /readyz and /metrics (firewall it
    /// to your monitoring). Without it, /metrics on the main listener answers only
    /// clients on this machine.
    #[arg(long = "ops-listen", env = "CLOUDPC_PARTNERS_OPS_LISTEN")]
    pub ops_listen: Option<String>,

    /// Most connections open at once; one more is closed at once.
    #[arg(long = "max-connections", env = "CLOUDPC_PARTNERS_MAX_CONNECTIONS", default_value_t = ConnectionConfig::default().max_connections, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// How long a client may take to send a request's headers (and how long a
    /// kept-alive connection may sit idle).
    #[arg(long = "header-timeout", env = "CLOUDPC_PARTNERS_HEADER_TIMEOUT", default_value_t = ConnectionConfig::default().header_timeout)]
    pub header_timeout: Span,

    /// How long a whole request, body included, may take: 408 after that.
    #[arg(long = "request-timeout", env = "CLOUDPC_PARTNERS_REQUEST_TIMEOUT", default_value_t = ConnectionConfig::default().request_timeout)]
    pub request_timeout: Span,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            shutdown_grace: Span::secs(10),
            ops_listen: None,
            max_connections: 1024,
            header_timeout: Span::secs(10),
            request_timeout: Span::secs(60),
        }
    }
}

/// `cloudpc-partners token`.
#[derive(Debug, Clone, Args)]
pub struct TokenConfig {
    /// Folder holding the local signing key (the server's --data-dir).
    #[arg(long, env = "CLOUDPC_PARTNERS_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,

    /// Tenant the token acts for: a GUID, or a domain such as contoso.onmicrosoft.com
    /// (which stands for the same GUID the token endpoint gives that name).
    #[arg(long, env = "CLOUDPC_PARTNERS_TENANT", value_parser = crate::auth::parse_tenant_flag)]
    pub tenant: uuid::Uuid,

    /// Permissions, separated by spaces or commas: CloudPC.Read.All or
    /// CloudPC.ReadWrite.All (others only with --any-scope).
    #[arg(long, env = "CLOUDPC_PARTNERS_SCOPES", default_value = crate::auth::READ_WRITE_ALL)]
    pub scopes: String,

    /// Mint the scopes as given, even ones this service does not know (to test how
    /// a client meets a 403).
    #[arg(long, env = "CLOUDPC_PARTNERS_ANY_SCOPE", value_parser = clap::builder::BoolishValueParser::new())]
    pub any_scope: bool,

    /// Mint an application token (`roles`) instead of a delegated one (`scp`).
    #[arg(long, env = "CLOUDPC_PARTNERS_TOKEN_APP", value_parser = clap::builder::BoolishValueParser::new(), conflicts_with = "partner")]
    pub app: bool,

    /// Mint a partner credential for this partner id (GUID) instead.
    #[arg(long, env = "CLOUDPC_PARTNERS_PARTNER")]
    pub partner: Option<uuid::Uuid>,

    /// Client application id (`appid`) the token names; throttling counts per app.
    #[arg(long, env = "CLOUDPC_PARTNERS_APP_ID")]
    pub app_id: Option<String>,

    /// How long the token is valid.
    #[arg(long, env = "CLOUDPC_PARTNERS_TOKEN_LIFETIME", default_value_t = Span::secs(24 * 3600))]
    pub lifetime: Span,
}

/// `cloudpc-partners env`.
#[derive(Debug, Clone, Args)]
pub struct EnvConfig {
    /// The stand-in's data dir (its --data-dir), which holds the development CA.
    #[arg(long, env = "CLOUDPC_PARTNERS_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,

    /// The intercepting proxy's address (the stand-in's --proxy-listen).
    #[arg(long, env = "CLOUDPC_PARTNERS_PROXY", default_value = "127.0.0.1:8000")]
    pub proxy: String,

    /// The shell the lines are written for.
    #[arg(long, value_enum, default_value = "sh")]
    pub shell: crate::proxy::env::Shell,
}

/// `cloudpc-partners migrate-data`.
#[derive(Debug, Clone, Args)]
pub struct MigrateConfig {
    /// The embedded database to copy from: `sqlite:PATH` (stop the server using it first).
    #[arg(long)]
    pub from: String,

    /// The PostgreSQL database to copy into: `postgres://…`; migrated on connect.
    #[arg(long, env = "DATABASE_URL")]
    pub to: String,

    #[command(flatten)]
    pub postgres: PostgresConfig,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeConfig,
    }

    /// The flags' defaults are the sections' defaults.
    #[test]
    fn no_flags_means_the_section_defaults() {
        let c = Cli::try_parse_from(["x"]).unwrap().serve;
        assert_eq!(c.heartbeats.timeout, HeartbeatConfig::default().timeout);
        assert_eq!(c.throttling.writes, ThrottleConfig::default().writes);
        assert_eq!(c.postgres.acquire_timeout, Span::secs(5));
        let c = Cli::try_parse_from(["x", "--heartbeat-timeout", "90s", "--no-throttling"])
            .unwrap()
            .serve;
        assert_eq!(c.heartbeats.timeout, Span::secs(90));
        assert!(c.throttling.off);
        assert!(Cli::try_parse_from(["x", "--heartbeat-timeout", "0s"]).is_err());
        // Switches read from the environment take 1/0 and yes/no too.
        std::env::set_var("CLOUDPC_PARTNERS_TRUST_FORWARDED_PROTO", "yes");
        assert!(
            Cli::try_parse_from(["x"])
                .unwrap()
                .serve
                .trust_forwarded_proto
        );
        std::env::set_var("CLOUDPC_PARTNERS_TRUST_FORWARDED_PROTO", "0");
        assert!(
            !Cli::try_parse_from(["x"])
                .unwrap()
                .serve
                .trust_forwarded_proto
        );
        std::env::remove_var("CLOUDPC_PARTNERS_TRUST_FORWARDED_PROTO");
        // Dev mode never runs with production token validation.
        assert!(Cli::try_parse_from([
            "x",
            "--dev",
            "--jwks-file",
            "k.json",
            "--issuer",
            "i",
            "--audience",
            "a"
        ])
        .is_err());
    }
}
