//! The TOML configuration: schema, defaults, validation. Unknown keys are errors that name the
//! key; bad values are errors that name the key and the value; both say `FILE:LINE:COLUMN`
//! (`locate`). See docs/OPERATIONS.md.

mod locate;

use serde::{Deserialize, Deserializer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The whole file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default, rename = "listener")]
    pub listeners: Vec<ListenerSection>,
    #[serde(default)]
    pub uring: UringSection,
    #[serde(default)]
    pub cache: CacheSection,
    #[serde(default)]
    pub ledger: LedgerSection,
    #[serde(default)]
    pub limits: LimitsSection,
    #[serde(default)]
    pub security: SecuritySection,
    #[serde(default)]
    pub metrics: MetricsSection,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Worker threads; default: the number of CPUs.
    pub workers: Option<usize>,
    /// Pin worker i to CPU i (mod the CPU count).
    #[serde(default = "yes")]
    pub pin_cores: bool,
    /// Logical databases for SELECT.
    #[serde(default = "default_databases")]
    pub databases: usize,
    /// Seconds a graceful shutdown waits for replies still unsent (clients not reading) before
    /// the process exits without them (Redis's `shutdown-timeout` default, 10).
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout: u64,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            workers: None,
            pin_cores: true,
            databases: default_databases(),
            shutdown_timeout: default_shutdown_timeout(),
        }
    }
}

fn default_shutdown_timeout() -> u64 {
    10
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ListenerProtocol {
    Resp,
    Binary,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerSection {
    pub protocol: ListenerProtocol,
    pub address: SocketAddr,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EngineChoice {
    Auto,
    Uring,
    Epoll,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UringSection {
    #[serde(default = "default_engine")]
    pub engine: EngineChoice,
    /// Submission queue entries per worker.
    #[serde(default = "default_entries")]
    pub entries: u32,
    /// Provided receive buffers per worker (power of two, <= 32768).
    #[serde(default = "default_buffer_count")]
    pub buffer_count: u16,
    /// Bytes per receive buffer.
    #[serde(default = "default_buffer_size", deserialize_with = "size")]
    pub buffer_size: u64,
    /// IORING_SETUP_DEFER_TASKRUN.
    #[serde(default = "yes")]
    pub defer_taskrun: bool,
    /// Longest a wait may hold a completion for others to join it, when several connections
    /// are active (wake-up coalescing; 0 = off).
    #[serde(default = "default_min_wait_us")]
    pub min_wait_us: u32,
}

impl Default for UringSection {
    fn default() -> Self {
        UringSection {
            engine: default_engine(),
            entries: default_entries(),
            buffer_count: default_buffer_count(),
            buffer_size: default_buffer_size(),
            defer_taskrun: true,
            min_wait_us: default_min_wait_us(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSection {
    /// 0 = no limit.
    #[serde(default, deserialize_with = "size")]
    pub max_memory: u64,
    #[serde(default = "default_eviction")]
    pub eviction: String,
}

impl Default for CacheSection {
    fn default() -> Self {
        CacheSection {
            max_memory: 0,
            eviction: default_eviction(),
        }
    }
}

/// When the ledger's write-ahead log is synced: "always", before any reply that reveals a
/// write (the only mode: an acknowledged write is never lost).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicy {
    Always,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerSection {
    /// Default: the number of workers.
    pub partitions: Option<usize>,
    #[serde(default = "default_max_accounts")]
    pub max_accounts: u64,
    #[serde(default = "default_max_transfers")]
    pub max_transfers: u64,
    /// Allocate and touch the tables' memory at start-up (as huge pages) instead of on first
    /// use: steadier latency and throughput, at the price of start-up time and resident memory.
    #[serde(default)]
    pub prefault: bool,
    /// Messages one worker may have queued to another (ledger requests forwarded to their
    /// owner, answers coming back); more wait in the sender's outbox.
    #[serde(default = "default_forward_queue_depth")]
    pub forward_queue_depth: usize,
    /// Directory of the ledger's write-ahead logs; unset = volatile ledger. A relative path is
    /// relative to the config file's directory.
    pub data_dir: Option<PathBuf>,
    /// "always" (the default, and the only mode).
    pub fsync: Option<FsyncPolicy>,
}

impl Default for LedgerSection {
    fn default() -> Self {
        LedgerSection {
            partitions: None,
            max_accounts: default_max_accounts(),
            max_transfers: default_max_transfers(),
            prefault: false,
            forward_queue_depth: default_forward_queue_depth(),
            data_dir: None,
            fsync: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    #[serde(default = "default_max_clients")]
    pub max_clients: usize,
    /// Largest request: a RESP bulk argument, or a binary frame.
    #[serde(default = "default_max_request_bytes", deserialize_with = "size")]
    pub max_request_bytes: u64,
    /// Seconds a client may stay idle before it is closed; 0 = never.
    #[serde(default)]
    pub idle_timeout: u64,
    /// Unsent reply bytes after which a connection stops being read.
    #[serde(default = "default_max_output_bytes", deserialize_with = "size")]
    pub max_output_bytes: u64,
    /// Redis's `maxmemory-clients`: the buffer memory all connections together may hold; over
    /// it the largest are closed. 0 = no limit.
    #[serde(default, deserialize_with = "size")]
    pub max_client_memory: u64,
}

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            max_clients: default_max_clients(),
            max_request_bytes: default_max_request_bytes(),
            idle_timeout: 0,
            max_output_bytes: default_max_output_bytes(),
            max_client_memory: 0,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySection {
    /// The `default` user's password (Redis's requirepass); none = the default user is nopass.
    pub requirepass: Option<String>,
    /// ACL users, one `NAME RULE...` each (an ACL file line without `user`), e.g.
    /// `"alice on >secret ~* +@all"`. A `default` entry redefines the default user (from
    /// `reset`) and then replaces `requirepass`.
    #[serde(default)]
    pub users: Vec<String>,
    /// Redis's protected mode: with no password set, only clients on the loopback interface
    /// are accepted (on every listener).
    #[serde(default = "yes")]
    pub protected_mode: bool,
    /// Seconds a connection may stay unauthenticated while a password is set before it is
    /// closed (it holds a `max_clients` place meanwhile); 0 = no limit.
    #[serde(default = "default_auth_timeout")]
    pub auth_timeout: u64,
}

impl Default for SecuritySection {
    fn default() -> Self {
        SecuritySection {
            requirepass: None,
            users: Vec::new(),
            protected_mode: true,
            auth_timeout: default_auth_timeout(),
        }
    }
}

fn default_auth_timeout() -> u64 {
    10
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Serve Prometheus text at http://ADDRESS/metrics.
    pub address: Option<SocketAddr>,
    /// Scrapers must send `Authorization: Bearer TOKEN`; unset = no authentication.
    pub token: Option<String>,
}

fn yes() -> bool {
    true
}
fn default_databases() -> usize {
    16
}
fn default_engine() -> EngineChoice {
    EngineChoice::Auto
}
fn default_entries() -> u32 {
    1024
}
fn default_min_wait_us() -> u32 {
    io_driver::DEFAULT_MIN_WAIT_US
}

fn default_buffer_count() -> u16 {
    1024
}
fn default_buffer_size() -> u64 {
    16 * 1024
}
fn default_eviction() -> String {
    "noeviction".into()
}
fn default_max_accounts() -> u64 {
    1_000_000
}
fn default_max_transfers() -> u64 {
    10_000_000
}
fn default_forward_queue_depth() -> usize {
    1024
}
fn default_max_clients() -> usize {
    10_000
}
fn default_max_request_bytes() -> u64 {
    64 << 20
}
fn default_max_output_bytes() -> u64 {
    64 << 20
}

/// Eviction policies the cache implements.
pub const EVICTION_POLICIES: &[&str] = &[
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
];

/// Parses a byte size the way Redis's config does: a plain integer is bytes; suffixes `k`,
/// `m`, `g` are powers of 1000 and `kb`, `mb`, `gb` powers of 1024, case-insensitive
/// ("1GB" = 1073741824, "64k" = 64000).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("invalid size {s:?}"))?;
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => {
            return Err(format!(
                "invalid size {s:?} (units: b, k, kb, m, mb, g, gb)"
            ))
        }
    };
    n.checked_mul(mul)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

fn size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Int(n) => Ok(n),
        Raw::Text(s) => parse_size(&s).map_err(serde::de::Error::custom),
    }
}

/// A value [`Config::validate`] rejects: its dotted key, which element of the key's array of
/// tables (`[[listener]]`) when that matters, and why.
struct Invalid {
    key: &'static str,
    index: Option<usize>,
    message: String,
}

impl Config {
    /// Reads, parses and validates a config file. An error starts with `FILE:LINE:COLUMN:` and
    /// names the key.
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut config = Config::parse_named(&text, &path.display().to_string())?;
        // A relative data_dir is relative to the config file, not to wherever the server was
        // started from.
        if let Some(dir) = config.ledger.data_dir.as_mut() {
            if dir.is_relative() {
                let base = path.parent().unwrap_or(Path::new("."));
                *dir = base.join(&*dir);
            }
        }
        Ok(config)
    }

    /// Parses and validates config text (errors name the file `<config>`).
    pub fn parse(text: &str) -> Result<Config, String> {
        Config::parse_named(text, "<config>")
    }

    fn parse_named(text: &str, file: &str) -> Result<Config, String> {
        let mut config: Config =
            toml::from_str(text).map_err(|e| locate::toml_error(file, text, &e))?;
        config.apply_defaults();
        config.validate().map_err(|bad| {
            let at = locate::key_location(file, text, bad.key, bad.index);
            format!("{at}: invalid value for {}: {}", bad.key, bad.message)
        })?;
        Ok(config)
    }

    fn apply_defaults(&mut self) {
        if self.listeners.is_empty() {
            self.listeners.push(ListenerSection {
                protocol: ListenerProtocol::Resp,
                address: SocketAddr::from(([127, 0, 0, 1], 6379)),
            });
        }
        if self.ledger.fsync.is_none() && self.ledger.data_dir.is_some() {
            self.ledger.fsync = Some(FsyncPolicy::Always);
        }
    }

    /// Number of worker threads this config asks for.
    pub fn workers(&self) -> usize {
        self.server
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    pub fn partitions(&self) -> usize {
        self.ledger.partitions.unwrap_or_else(|| self.workers())
    }

    /// The ledger's sizes, as `[ledger]` sets them.
    pub fn ledger_config(&self) -> ledger::LedgerConfig {
        ledger::LedgerConfig {
            partitions: self.partitions(),
            max_accounts: self.ledger.max_accounts as usize,
            max_transfers: self.ledger.max_transfers as usize,
            prefault: self.ledger.prefault,
        }
    }

    fn validate(&self) -> Result<(), Invalid> {
        let bad = |key: &'static str, message: String| {
            Err(Invalid {
                key,
                index: None,
                message,
            })
        };
        if let Some(w) = self.server.workers {
            if !(1..=1024).contains(&w) {
                return bad("server.workers", format!("{w} (must be 1..=1024)"));
            }
        }
        if !(1..=1_000_000).contains(&self.server.databases) {
            return bad(
                "server.databases",
                format!("{} (must be 1..=1000000)", self.server.databases),
            );
        }
        if self.server.shutdown_timeout > 3600 {
            return bad(
                "server.shutdown_timeout",
                format!(
                    "{} (must be 0..=3600 seconds)",
                    self.server.shutdown_timeout
                ),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (index, l) in self.listeners.iter().enumerate() {
            // Port 0 asks the kernel for a free port: several listeners may ask.
            if l.address.port() != 0 && !seen.insert(l.address) {
                return Err(Invalid {
                    key: "listener.address",
                    index: Some(index),
                    message: format!("{} is listed twice", l.address),
                });
            }
        }
        if !self.uring.buffer_count.is_power_of_two() || self.uring.buffer_count > 32768 {
            return bad(
                "uring.buffer_count",
                format!(
                    "{} (must be a power of two <= 32768)",
                    self.uring.buffer_count
                ),
            );
        }
        if !(512..=(1 << 30)).contains(&self.uring.buffer_size) {
            return bad(
                "uring.buffer_size",
                format!("{} (must be 512 bytes ..= 1GB)", self.uring.buffer_size),
            );
        }
        if !(8..=32768).contains(&self.uring.entries) {
            return bad(
                "uring.entries",
                format!("{} (must be 8..=32768)", self.uring.entries),
            );
        }
        if self.uring.min_wait_us > io_driver::MAX_MIN_WAIT_US {
            return bad(
                "uring.min_wait_us",
                format!(
                    "{} (must be 0..={})",
                    self.uring.min_wait_us,
                    io_driver::MAX_MIN_WAIT_US
                ),
            );
        }
        if !EVICTION_POLICIES.contains(&self.cache.eviction.as_str()) {
            return bad(
                "cache.eviction",
                format!(
                    "{:?} (one of {})",
                    self.cache.eviction,
                    EVICTION_POLICIES.join(", ")
                ),
            );
        }
        if let Some(p) = self.ledger.partitions {
            if !(1..=ledger::MAX_PARTITIONS).contains(&p) {
                return bad("ledger.partitions", format!("{p} (must be 1..=256)"));
            }
        }
        if !(1..=65536).contains(&self.ledger.forward_queue_depth) {
            return bad(
                "ledger.forward_queue_depth",
                format!("{} (must be 1..=65536)", self.ledger.forward_queue_depth),
            );
        }
        if self.ledger.max_accounts == 0 || self.ledger.max_accounts > 1 << 32 {
            return bad(
                "ledger.max_accounts",
                format!("{} (must be 1..=4294967296)", self.ledger.max_accounts),
            );
        }
        if self.ledger.max_transfers == 0 || self.ledger.max_transfers > 1 << 34 {
            return bad(
                "ledger.max_transfers",
                format!("{} (must be 1..=17179869184)", self.ledger.max_transfers),
            );
        }
        if !(1..=1_000_000).contains(&self.limits.max_clients) {
            return bad(
                "limits.max_clients",
                format!("{} (must be 1..=1000000)", self.limits.max_clients),
            );
        }
        let ceiling = protocol::resp::PROTO_MAX_BULK_LEN_CEILING as u64;
        if self.limits.max_request_bytes < 1024 || self.limits.max_request_bytes > ceiling {
            return bad(
                "limits.max_request_bytes",
                format!("{} (must be 1KB ..= 512MB)", self.limits.max_request_bytes),
            );
        }
        if self.limits.max_output_bytes < 1024 {
            return bad(
                "limits.max_output_bytes",
                format!("{} (must be at least 1KB)", self.limits.max_output_bytes),
            );
        }
        if let Some(p) = &self.security.requirepass {
            if p.is_empty() {
                return bad(
                    "security.requirepass",
                    "empty password (omit the key for no password)".into(),
                );
            }
        }
        if let Some(token) = &self.metrics.token {
            let max = crate::metrics::http::MAX_TOKEN_BYTES;
            if self.metrics.address.is_none() {
                return bad(
                    "metrics.token",
                    "set, but metrics.address is not (there is no endpoint to protect)".into(),
                );
            }
            // Visible ASCII only: what fits in an Authorization header as sent, and a stray
            // space or newline pasted into the file is caught here rather than as 401s.
            if token.is_empty() || token.len() > max || !token.bytes().all(|b| b.is_ascii_graphic())
            {
                return bad(
                    "metrics.token",
                    format!("must be 1..={max} visible ASCII characters, without spaces (omit the key for no token)"),
                );
            }
        }
        let defines_default = self
            .security
            .users
            .iter()
            .any(|u| u.split_ascii_whitespace().next() == Some("default"));
        if defines_default && self.security.requirepass.is_some() {
            return bad(
                "security.users",
                "a \"default\" entry and requirepass both set the default user's password: keep one"
                    .into(),
            );
        }
        // The rules are checked here, so `--check` and start-up name the file and line.
        if let Err(e) = crate::acl::Acl::new(
            crate::commands::acl_commands(),
            self.security.requirepass.as_deref(),
            &self.security.users,
        ) {
            return bad("security.users", e);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_redis() {
        assert_eq!(parse_size("1GB"), Ok(1 << 30));
        assert_eq!(parse_size("1gb"), Ok(1 << 30));
        assert_eq!(parse_size("64k"), Ok(64_000));
        assert_eq!(parse_size("64kb"), Ok(65_536));
        assert_eq!(parse_size("512mb"), Ok(512 << 20));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("1tb").is_err());
        assert!(parse_size("x").is_err());
        assert!(parse_size("99999999999999999999gb").is_err());
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.listeners.len(), 1);
        assert_eq!(c.listeners[0].address.to_string(), "127.0.0.1:6379");
        assert_eq!(c.server.databases, 16);
        assert_eq!(c.cache.eviction, "noeviction");
        assert_eq!(c.ledger.fsync, None);
        assert_eq!(c.ledger.data_dir, None);
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = Config::parse("[server]\nworkerz = 2\n").unwrap_err();
        assert!(e.contains("workerz"), "{e}");
        let e = Config::parse("[nope]\n").unwrap_err();
        assert!(e.contains("nope"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        let e = Config::parse("[uring]\nmin_wait_us = 10001\n").unwrap_err();
        assert!(
            e.contains("uring.min_wait_us") && e.contains("10001"),
            "{e}"
        );
        let e = Config::parse("[uring]\nbuffer_count = 1000\n").unwrap_err();
        assert!(
            e.contains("uring.buffer_count") && e.contains("1000"),
            "{e}"
        );
        let e = Config::parse("[cache]\neviction = \"lru\"\n").unwrap_err();
        assert!(e.contains("cache.eviction"), "{e}");
        let e = Config::parse("[cache]\nmax_memory = \"1tb\"\n").unwrap_err();
        assert!(e.contains("1tb"), "{e}");
        let e = Config::parse("[[listener]]\nprotocol = \"http\"\naddress = \"127.0.0.1:1\"\n")
            .unwrap_err();
        assert!(e.contains("http"), "{e}");
    }

    /// Unknown keys and bad values, whether the toml crate or `validate` rejects them, name
    /// the key, the file and the line.
    #[test]
    fn errors_name_key_file_and_line() {
        let cases: &[(&str, &str, &str)] = &[
            // Unknown keys, in a section, as a section, and dotted.
            ("[server]\nworkers = 2\nworkerz = 2\n", "server.workerz", ":3:1:"),
            ("# comment\n\n[nope]\n", "nope", ":3:2:"),
            ("server.workerz = 1\n", "server.workerz", ":1:8:"),
            // Values the toml crate rejects.
            ("[server]\nworkers = \"x\"\n", "server.workers", ":2:11:"),
            ("\n[cache]\nmax_memory = \"1tb\"\n", "cache.max_memory", ":3:14:"),
            (
                "[[listener]]\nprotocol = \"resp\"\naddress = \"127.0.0.1:1\"\n\n[[listener]]\nprotocol = \"http\"\naddress = \"127.0.0.1:2\"\n",
                "listener.protocol",
                ":6:12:",
            ),
            ("[[listener]]\nprotocol = \"resp\"\naddress = \"1:1\"\n", "listener.address = \"1:1\"", ":3:11:"),
            // Values `validate` rejects.
            ("[uring]\nentries = 64\nbuffer_count = 1000\n", "uring.buffer_count", ":3:16:"),
            ("[cache]\neviction = \"lru\"\n", "cache.eviction", ":2:12:"),
            (
                "[metrics]\naddress = \"127.0.0.1:0\"\ntoken = \"two words\"\n",
                "metrics.token",
                ":3:9:",
            ),
            ("[metrics]\ntoken = \"x\"\n", "metrics.token", ":2:9:"),
            ("[metrics]\naddress = \"127.0.0.1:0\"\ntokne = \"x\"\n", "metrics.tokne", ":3:1:"),
            (
                "[[listener]]\nprotocol = \"resp\"\naddress = \"127.0.0.1:7\"\n[[listener]]\nprotocol = \"binary\"\naddress = \"127.0.0.1:7\"\n",
                "listener.address",
                ":6:11:",
            ),
        ];
        for (text, key, line) in cases {
            let e = Config::parse_named(text, "dir/ringledger.toml").unwrap_err();
            assert!(
                e.starts_with("dir/ringledger.toml:") && e.contains(line) && e.contains(key),
                "{text:?} gave {e:?}, want the file, line {line} and key {key}"
            );
        }
    }

    #[test]
    fn a_file_error_names_the_path() {
        let dir = std::env::temp_dir().join(format!("ringledger-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        std::fs::write(&path, "[limits]\nmax_clients = 0\n").unwrap();
        let e = Config::load(&path).unwrap_err();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            e.starts_with(&format!("{}:2:15: ", path.display()))
                && e.contains("limits.max_clients"),
            "{e}"
        );
        let e = Config::load(&dir.join("absent.toml")).unwrap_err();
        assert!(e.contains("absent.toml"), "{e}");
    }

    #[test]
    fn durable_defaults_to_fsync_always() {
        let c = Config::parse("[ledger]\ndata_dir = \"/tmp/x\"\n").unwrap();
        assert_eq!(c.ledger.fsync, Some(FsyncPolicy::Always));
    }
}
