//! Configuration: one struct per command, each flag with an environment-variable
//! fallback, and defaults that work with no flags at all.

use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// Parses durations as operators write them: `2s`, `90s`, `5m`, `1h 30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("'{s}' is not a duration like 90s, 5m or 1h: {e}"))?;
    if d.is_zero() {
        return Err(format!("'{s}' is zero; give a positive duration"));
    }
    Ok(d)
}

/// `cloudpc-partners serve`.
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
    #[arg(
        long,
        env = "CLOUDPC_PARTNERS_DATA_DIR",
        default_value = "./cloudpc-partners-data"
    )]
    pub data_dir: PathBuf,

    /// Database URL: `postgres://…` for PostgreSQL, `sqlite:PATH` for a specific SQLite
    /// file; default is the embedded database in the data dir.
    #[arg(long, env = "DATABASE_URL")]
    pub database: Option<String>,

    /// PostgreSQL: most connections this process holds.
    #[arg(long, env = "CLOUDPC_PARTNERS_DB_POOL_SIZE", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub db_pool_size: u32,

    /// PostgreSQL: how long a request waits for a free connection before a 503.
    #[arg(long, env = "CLOUDPC_PARTNERS_DB_ACQUIRE_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub db_acquire_timeout: Duration,

    /// PostgreSQL: the longest one statement may run.
    #[arg(long, env = "CLOUDPC_PARTNERS_DB_STATEMENT_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub db_statement_timeout: Duration,

    /// How long a heartbeat keeps a connection `healthy`.
    #[arg(long, env = "CLOUDPC_PARTNERS_HEARTBEAT_TIMEOUT", default_value = "5m", value_parser = parse_duration)]
    pub heartbeat_timeout: Duration,

    /// How often coalesced heartbeats are written to the database; also the most a
    /// crash can lose, and how soon other processes see a heartbeat.
    #[arg(long, env = "CLOUDPC_PARTNERS_HEARTBEAT_FLUSH_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub heartbeat_flush_interval: Duration,

    /// How long a partner connection's existence and enabled flag are cached for
    /// partner calls; changes made through other processes are seen within this.
    #[arg(long, env = "CLOUDPC_PARTNERS_PARTNER_CACHE_TTL", default_value = "5s", value_parser = parse_duration)]
    pub partner_cache_ttl: Duration,

    /// Switch throttling off.
    #[arg(long, env = "CLOUDPC_PARTNERS_NO_THROTTLING")]
    pub no_throttling: bool,

    /// The throttling window the budgets below refill over.
    #[arg(long, env = "CLOUDPC_PARTNERS_THROTTLE_WINDOW", default_value = "20s", value_parser = parse_duration)]
    pub throttle_window: Duration,

    /// Graph requests per app per tenant per window.
    #[arg(long, env = "CLOUDPC_PARTNERS_THROTTLE_REQUESTS", default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..))]
    pub throttle_requests: u32,

    /// Graph writes (POST, PATCH, DELETE) per app per tenant per window.
    #[arg(long, env = "CLOUDPC_PARTNERS_THROTTLE_WRITES", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub throttle_writes: u32,

    /// Partner API calls per partner connection per window.
    #[arg(long, env = "CLOUDPC_PARTNERS_THROTTLE_PARTNER_REQUESTS", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub throttle_partner_requests: u32,

    /// JWKS file of RS256 public keys; switches from local tokens to production validation.
    #[arg(long, env = "CLOUDPC_PARTNERS_JWKS_FILE", requires_all = ["issuer", "audience"])]
    pub jwks_file: Option<PathBuf>,

    /// Expected `iss` with --jwks-file; `{tenantid}` is replaced by the token's `tid`.
    #[arg(long, env = "CLOUDPC_PARTNERS_ISSUER", requires = "jwks_file")]
    pub issuer: Option<String>,

    /// Expected `aud` with --jwks-file.
    #[arg(long, env = "CLOUDPC_PARTNERS_AUDIENCE", requires = "jwks_file")]
    pub audience: Option<String>,

    /// Turn off the deprecated externalPartnerSettings view (404, as Microsoft does now).
    #[arg(long, env = "CLOUDPC_PARTNERS_NO_LEGACY_SETTINGS")]
    pub no_legacy_settings: bool,

    /// Log format: `text` for people, `json` for log pipelines.
    #[arg(long, env = "CLOUDPC_PARTNERS_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

impl ServeConfig {
    /// The defaults, rooted in a given data dir; what tests start from.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            data_dir: data_dir.into(),
            database: None,
            db_pool_size: 10,
            db_acquire_timeout: Duration::from_secs(5),
            db_statement_timeout: Duration::from_secs(30),
            heartbeat_timeout: Duration::from_secs(300),
            heartbeat_flush_interval: Duration::from_secs(1),
            partner_cache_ttl: Duration::from_secs(5),
            no_throttling: false,
            throttle_window: Duration::from_secs(20),
            throttle_requests: 2000,
            throttle_writes: 200,
            throttle_partner_requests: 100,
            jwks_file: None,
            issuer: None,
            audience: None,
            no_legacy_settings: false,
            log_format: "text".into(),
        }
    }
}

impl ServeConfig {
    /// PostgreSQL connection settings.
    pub fn pg_settings(&self) -> crate::store::PgSettings {
        crate::store::PgSettings {
            pool_size: self.db_pool_size,
            acquire_timeout: self.db_acquire_timeout,
            statement_timeout: self.db_statement_timeout,
        }
    }

    /// The throttling budgets, or `None` when throttling is off.
    pub fn throttle_limits(&self) -> Option<crate::throttle::ThrottleLimits> {
        (!self.no_throttling).then_some(crate::throttle::ThrottleLimits {
            window: self.throttle_window,
            requests: self.throttle_requests,
            writes: self.throttle_writes,
            partner_requests: self.throttle_partner_requests,
        })
    }
}

/// `cloudpc-partners token`.
#[derive(Debug, Clone, Args)]
pub struct TokenConfig {
    /// Folder holding the local signing key (the server's --data-dir).
    #[arg(
        long,
        env = "CLOUDPC_PARTNERS_DATA_DIR",
        default_value = "./cloudpc-partners-data"
    )]
    pub data_dir: PathBuf,

    /// Tenant (GUID) the token acts for.
    #[arg(long)]
    pub tenant: uuid::Uuid,

    /// Permissions, separated by spaces or commas.
    #[arg(long, default_value = "CloudPC.ReadWrite.All")]
    pub scopes: String,

    /// Mint an application token (`roles`) instead of a delegated one (`scp`).
    #[arg(long, conflicts_with = "partner")]
    pub app: bool,

    /// Mint a partner credential for this partner id (GUID) instead.
    #[arg(long)]
    pub partner: Option<uuid::Uuid>,

    /// Client application id (`appid`) the token names; throttling counts per app.
    #[arg(long)]
    pub app_id: Option<String>,

    /// How long the token is valid.
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub lifetime: Duration,
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
}
