//! INFO: Redis 7.0's sections, fields and selection rules (default, all, everything, several
//! section names, case-insensitive).

use super::connection::REDIS_VERSION;
use super::{table, Ctx, Flow};
use std::fmt::Write;

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "module_list",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Which sections to produce.
struct Selection {
    all: bool,
    names: Vec<String>,
}

impl Selection {
    fn from_args(args: &[&[u8]]) -> Selection {
        if args.is_empty() {
            return Selection {
                all: false,
                names: DEFAULT_SECTIONS.iter().map(|s| s.to_string()).collect(),
            };
        }
        let mut sel = Selection {
            all: false,
            names: Vec::new(),
        };
        for a in args {
            let name = String::from_utf8_lossy(a).to_ascii_lowercase();
            match name.as_str() {
                "default" => sel
                    .names
                    .extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string())),
                "all" | "everything" => sel.all = true,
                _ => sel.names.push(name),
            }
        }
        sel
    }

    fn wants(&self, section: &str) -> bool {
        self.all || self.names.iter().any(|n| n == section)
    }
}

pub fn info(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let text = render(ctx, &args[1..]);
    ctx.reply().verbatim("txt", text.as_bytes());
    Flow::Continue
}

/// `1.23M`-style sizes, as Redis's bytesToHuman.
pub fn human_bytes(n: u64) -> String {
    let n = n as f64;
    let units = [
        (1u64 << 50, "P"),
        (1 << 40, "T"),
        (1 << 30, "G"),
        (1 << 20, "M"),
        (1 << 10, "K"),
    ];
    for (size, unit) in units {
        if n >= size as f64 {
            return format!("{:.2}{unit}", n / size as f64);
        }
    }
    format!("{}B", n as u64)
}

/// Seconds of user and system CPU time of this process, from /proc.
fn cpu_times() -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return (0.0, 0.0);
    };
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    (ticks(11), ticks(12))
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn kernel() -> String {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("Linux {} {}", release.trim(), std::env::consts::ARCH)
}

fn render(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> String {
    // Our own counters first, so a pipelined INFO sees the commands before it on this worker.
    ctx.state
        .stats
        .publish(ctx.worker, ctx.counters, ctx.commands);
    let sel = Selection::from_args(args);
    let state = ctx.state;
    let totals = state.stats.total();
    let uptime = state.started.elapsed().as_secs();
    let now_ms = ctx.now_ms;
    let mut out = String::new();
    let mut sections = 0;
    let mut section = |out: &mut String, title: &str| {
        if sections > 0 {
            out.push_str("\r\n");
        }
        sections += 1;
        let _ = write!(out, "# {title}\r\n");
    };
    macro_rules! line {
        ($out:expr, $($arg:tt)*) => {{ let _ = write!($out, $($arg)*); $out.push_str("\r\n"); }};
    }
    if sel.wants("server") {
        section(&mut out, "Server");
        line!(out, "redis_version:{REDIS_VERSION}");
        line!(out, "redis_git_sha1:00000000");
        line!(out, "redis_git_dirty:0");
        line!(out, "redis_build_id:0");
        line!(out, "redis_mode:standalone");
        line!(out, "os:{}", kernel());
        line!(out, "arch_bits:64");
        line!(out, "monotonic_clock:POSIX clock_gettime");
        line!(out, "multiplexing_api:{}", state.engine());
        line!(out, "atomicvar_api:c11-builtin");
        line!(out, "gcc_version:0.0.0");
        line!(out, "process_id:{}", std::process::id());
        line!(out, "process_supervised:no");
        line!(out, "run_id:{}", state.run_id);
        line!(out, "tcp_port:{}", state.options.tcp_port);
        line!(out, "server_time_usec:{}", now_ms * 1000);
        line!(out, "uptime_in_seconds:{uptime}");
        line!(out, "uptime_in_days:{}", uptime / 86400);
        line!(out, "hz:10");
        line!(out, "configured_hz:10");
        line!(out, "lru_clock:{}", crate::cache::lru_clock(now_ms));
        line!(
            out,
            "executable:{}",
            std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
        line!(out, "config_file:{}", state.options.config_file);
        line!(out, "io_threads_active:0");
        line!(out, "ringledger_version:{}", env!("CARGO_PKG_VERSION"));
        line!(out, "ringledger_workers:{}", state.options.workers);
    }
    if sel.wants("clients") {
        section(&mut out, "Clients");
        line!(out, "connected_clients:{}", state.clients.len());
        line!(out, "cluster_connections:0");
        line!(
            out,
            "maxclients:{}",
            state.max_clients.load(std::sync::atomic::Ordering::Relaxed)
        );
        line!(out, "client_recent_max_input_buffer:0");
        line!(out, "client_recent_max_output_buffer:0");
        line!(out, "blocked_clients:0");
        line!(out, "tracking_clients:0");
        line!(out, "clients_in_timeout_table:0");
    }
    if sel.wants("memory") {
        let used = state.cache.used_memory();
        let peak = state.note_memory_peak(used);
        let max = state.cache.max_memory();
        let rss = rss_bytes();
        section(&mut out, "Memory");
        line!(out, "used_memory:{used}");
        line!(out, "used_memory_human:{}", human_bytes(used));
        line!(out, "used_memory_rss:{rss}");
        line!(out, "used_memory_rss_human:{}", human_bytes(rss));
        line!(out, "used_memory_peak:{peak}");
        line!(out, "used_memory_peak_human:{}", human_bytes(peak));
        line!(out, "used_memory_dataset:{used}");
        line!(out, "maxmemory:{max}");
        line!(out, "maxmemory_human:{}", human_bytes(max));
        line!(out, "maxmemory_policy:{}", state.cache.policy().name());
        line!(out, "mem_clients_normal:{}", state.client_memory());
        line!(
            out,
            "maxmemory_clients:{}",
            state
                .max_client_memory
                .load(std::sync::atomic::Ordering::Relaxed)
        );
        line!(out, "mem_allocator:libc");
    }
    if sel.wants("persistence") {
        section(&mut out, "Persistence");
        line!(out, "loading:0");
        line!(out, "async_loading:0");
        line!(out, "rdb_changes_since_last_save:0");
        line!(out, "rdb_bgsave_in_progress:0");
        line!(out, "rdb_last_save_time:{}", state.started_unix_secs());
        line!(out, "rdb_last_bgsave_status:ok");
        line!(out, "aof_enabled:0");
        line!(out, "aof_rewrite_in_progress:0");
        line!(out, "aof_last_bgrewrite_status:ok");
        line!(out, "aof_last_write_status:ok");
        ledger_persistence(&mut out, state);
    }
    if sel.wants("stats") {
        section(&mut out, "Stats");
        line!(
            out,
            "total_connections_received:{}",
            totals.connections_received
        );
        line!(
            out,
            "total_commands_processed:{}",
            totals.commands_processed
        );
        line!(out, "instantaneous_ops_per_sec:{}", state.ops_per_sec());
        line!(out, "total_net_input_bytes:{}", totals.net_input_bytes);
        line!(out, "total_net_output_bytes:{}", totals.net_output_bytes);
        line!(out, "rejected_connections:{}", totals.rejected_connections);
        line!(out, "expired_keys:{}", state.cache.expired_keys());
        line!(out, "expired_stale_perc:0.00");
        line!(out, "expired_time_cap_reached_count:0");
        line!(out, "evicted_keys:{}", state.cache.evicted_keys());
        line!(out, "evicted_clients:{}", totals.evicted_clients);
        line!(out, "auth_timeouts:{}", totals.auth_timeouts);
        line!(out, "keyspace_hits:{}", totals.keyspace_hits);
        line!(out, "keyspace_misses:{}", totals.keyspace_misses);
        line!(out, "pubsub_channels:0");
        line!(out, "pubsub_patterns:0");
        line!(out, "total_error_replies:{}", totals.error_replies);
        line!(out, "recv_buffer_parks:{}", totals.recv_buffer_parks);
        line!(out, "coalesced_waits:{}", totals.coalesced_waits);
        line!(out, "worker_wakeups:{}", totals.worker_wakeups);
        let h = state.stats.histogram_totals();
        let buckets: Vec<String> = h
            .latency()
            .iter()
            .map(|(b, n)| format!("{}={n}", b.map_or("inf".to_string(), |b| b.to_string())))
            .collect();
        line!(out, "request_latency_usec_buckets:{}", buckets.join(","));
    }
    if sel.wants("replication") {
        section(&mut out, "Replication");
        line!(out, "role:master");
        line!(out, "connected_slaves:0");
        line!(out, "master_failover_state:no-failover");
        line!(out, "master_replid:{}", state.run_id);
        line!(
            out,
            "master_replid2:0000000000000000000000000000000000000000"
        );
        line!(out, "master_repl_offset:0");
        line!(out, "second_repl_offset:-1");
        line!(out, "repl_backlog_active:0");
        line!(out, "repl_backlog_size:1048576");
        line!(out, "repl_backlog_first_byte_offset:0");
        line!(out, "repl_backlog_histlen:0");
    }
    if sel.wants("cpu") {
        let (user, sys) = cpu_times();
        section(&mut out, "CPU");
        line!(out, "used_cpu_sys:{sys:.6}");
        line!(out, "used_cpu_user:{user:.6}");
        line!(out, "used_cpu_sys_children:0.000000");
        line!(out, "used_cpu_user_children:0.000000");
    }
    if sel.wants("module_list") || sel.wants("modules") {
        section(&mut out, "Modules");
    }
    if sel.wants("commandstats") {
        section(&mut out, "Commandstats");
        for (id, s) in state.stats.command_totals() {
            let name = table::command_name(id as u16);
            let usec = s.nanos / 1000;
            let per_call = if s.calls > 0 {
                s.nanos as f64 / 1000.0 / s.calls as f64
            } else {
                0.0
            };
            line!(
                out,
                "cmdstat_{name}:calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}",
                s.calls,
                usec,
                s.rejected,
                s.failed
            );
        }
    }
    if sel.wants("errorstats") {
        section(&mut out, "Errorstats");
        for (kind, n) in state.stats.error_totals() {
            line!(out, "errorstat_{kind}:count={n}");
        }
    }
    if sel.wants("latencystats") {
        section(&mut out, "Latencystats");
    }
    if sel.wants("cluster") {
        section(&mut out, "Cluster");
        line!(out, "cluster_enabled:0");
    }
    if sel.wants("ledger") {
        section(&mut out, "Ledger");
        let ledger = &state.ledger;
        let (accounts, transfers) = ledger.usage();
        line!(out, "ledger_partitions:{}", ledger.partition_count());
        line!(out, "ledger_forwarded_requests:{}", totals.ledger_forwarded);
        line!(
            out,
            "ledger_forward_queue_full:{}",
            totals.forward_queue_full
        );
        line!(out, "ledger_accounts_used:{accounts}");
        line!(
            out,
            "ledger_accounts_capacity:{}",
            ledger.config().max_accounts
        );
        line!(out, "ledger_transfers_used:{transfers}");
        line!(
            out,
            "ledger_transfers_capacity:{}",
            ledger.config().max_transfers
        );
        let h = state.stats.histogram_totals();
        for (op, n) in h.ledger_requests() {
            line!(out, "ledger_requests_{op}:{n}");
        }
        for (status, n) in h.account_statuses() {
            line!(out, "ledger_accounts_{status}:{n}");
        }
        for (status, n) in h.transfer_statuses() {
            line!(out, "ledger_transfers_{status}:{n}");
        }
        let buckets: Vec<String> = h
            .batch_sizes()
            .iter()
            .map(|(b, n)| format!("{}={n}", b.map_or("inf".to_string(), |b| b.to_string())))
            .collect();
        line!(out, "ledger_batch_events_buckets:{}", buckets.join(","));
    }
    if sel.wants("keyspace") {
        section(&mut out, "Keyspace");
        for (db, keys, expires) in state.cache.keyspace() {
            line!(out, "db{db}:keys={keys},expires={expires},avg_ttl=0");
        }
    }
    out
}

/// The ledger's write-ahead log, in INFO persistence (the cache above is never persisted).
fn ledger_persistence(out: &mut String, state: &crate::state::ServerState) {
    use std::sync::atomic::Ordering::Relaxed;
    macro_rules! line {
        ($out:expr, $($arg:tt)*) => {{ let _ = write!($out, $($arg)*); $out.push_str("\r\n"); }};
    }
    let Some(d) = state.durability.get() else {
        line!(out, "ledger_durable:0");
        return;
    };
    let s = &d.stats;
    let groups = s.groups.load(Relaxed);
    let dir = std::fs::canonicalize(d.data_dir.path()).unwrap_or_else(|_| d.data_dir.path().into());
    line!(out, "ledger_durable:1");
    line!(out, "ledger_data_dir:{}", dir.display());
    line!(out, "ledger_fsync:always");
    line!(out, "ledger_wal_bytes:{}", s.bytes.load(Relaxed));
    line!(out, "ledger_wal_records:{}", s.records.load(Relaxed));
    line!(out, "ledger_wal_groups:{groups}");
    line!(
        out,
        "ledger_wal_last_group_records:{}",
        s.last_group_records.load(Relaxed)
    );
    let avg = s
        .sync_us_total
        .load(Relaxed)
        .checked_div(groups)
        .unwrap_or(0);
    line!(out, "ledger_wal_sync_avg_us:{avg}");
    line!(
        out,
        "ledger_wal_sync_max_us:{}",
        s.sync_us_max.load(Relaxed)
    );
    line!(out, "ledger_wal_last_write_status:ok");
    line!(out, "ledger_recovery_ms:{}", s.recovery_ms.load(Relaxed));
    line!(
        out,
        "ledger_recovered_records:{}",
        s.recovered_records.load(Relaxed)
    );
    line!(out, "ledger_recovered_clean:{}", u8::from(d.recovery.clean));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(512), "512B");
        assert_eq!(human_bytes(1536), "1.50K");
        assert_eq!(human_bytes(1 << 30), "1.00G");
    }
}
