//! maxmemory: eviction policies, access stamps (approximate LRU and Redis's logarithmic LFU),
//! and the eviction loop that runs before commands that may grow memory.

use super::entry::Entry;
use super::{Store, SHARDS};
use std::cell::Cell;

/// Redis's `maxmemory-policy` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum EvictionPolicy {
    NoEviction = 0,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

const ALL: [EvictionPolicy; 8] = [
    EvictionPolicy::NoEviction,
    EvictionPolicy::AllKeysLru,
    EvictionPolicy::AllKeysLfu,
    EvictionPolicy::AllKeysRandom,
    EvictionPolicy::VolatileLru,
    EvictionPolicy::VolatileLfu,
    EvictionPolicy::VolatileRandom,
    EvictionPolicy::VolatileTtl,
];

/// The error a write gets when memory is over `maxmemory` and nothing can be evicted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Oom;

impl Oom {
    pub const MESSAGE: &'static str = "OOM command not allowed when used memory > 'maxmemory'.";
}

/// Samples per eviction, as Redis's default `maxmemory-samples`.
const SAMPLES: usize = 5;
/// Evictions one command may perform before it proceeds anyway (bounds its latency).
const MAX_EVICTIONS_PER_CALL: usize = 4096;
/// LFU: counter of a new key, log factor and decay period (minutes), Redis's defaults.
const LFU_INIT_VAL: u32 = 5;
const LFU_LOG_FACTOR: u32 = 10;
const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;

impl EvictionPolicy {
    pub fn name(self) -> &'static str {
        match self {
            EvictionPolicy::NoEviction => "noeviction",
            EvictionPolicy::AllKeysLru => "allkeys-lru",
            EvictionPolicy::AllKeysLfu => "allkeys-lfu",
            EvictionPolicy::AllKeysRandom => "allkeys-random",
            EvictionPolicy::VolatileLru => "volatile-lru",
            EvictionPolicy::VolatileLfu => "volatile-lfu",
            EvictionPolicy::VolatileRandom => "volatile-random",
            EvictionPolicy::VolatileTtl => "volatile-ttl",
        }
    }

    pub fn from_name(name: &str) -> Option<EvictionPolicy> {
        ALL.into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    pub(crate) fn from_u8(v: u8) -> EvictionPolicy {
        ALL.get(v as usize)
            .copied()
            .unwrap_or(EvictionPolicy::NoEviction)
    }

    pub fn is_lfu(self) -> bool {
        matches!(
            self,
            EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu
        )
    }

    fn volatile_only(self) -> bool {
        matches!(
            self,
            EvictionPolicy::VolatileLru
                | EvictionPolicy::VolatileLfu
                | EvictionPolicy::VolatileRandom
                | EvictionPolicy::VolatileTtl
        )
    }

    /// Updates the entry's access stamp for an access at `now_ms`.
    pub fn touch(self, e: &mut Entry, now_ms: u64) {
        if self.is_lfu() {
            let counter = lfu_log_incr(lfu_decayed_counter(e.access, now_ms));
            e.access = (lfu_minutes(now_ms) << 8) | counter;
        } else {
            e.access = lru_clock(now_ms);
        }
    }
}

/// Seconds since the epoch in 24 bits (Redis's LRU clock at 1000 ms resolution).
pub fn lru_clock(now_ms: u64) -> u32 {
    ((now_ms / 1000) as u32) & LRU_CLOCK_MAX
}

/// Seconds since the entry's last access (OBJECT IDLETIME under LRU policies).
pub fn idle_seconds(e: &Entry, now_ms: u64) -> u64 {
    let now = lru_clock(now_ms);
    let then = e.access & LRU_CLOCK_MAX;
    u64::from(if now >= then {
        now - then
    } else {
        LRU_CLOCK_MAX - then + now
    })
}

fn lfu_minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) as u32) & 0xFFFF
}

/// The LFU counter after decay (one step per idle minute); a never-touched entry starts at
/// LFU_INIT_VAL (OBJECT FREQ).
pub fn lfu_decayed_counter(access: u32, now_ms: u64) -> u32 {
    if access == 0 {
        return LFU_INIT_VAL;
    }
    let then = access >> 8;
    let counter = access & 0xFF;
    let now = lfu_minutes(now_ms);
    let elapsed = if now >= then {
        now - then
    } else {
        0xFFFF - then + now
    };
    counter.saturating_sub(elapsed)
}

fn lfu_log_incr(counter: u32) -> u32 {
    if counter >= 255 {
        return 255;
    }
    let base = counter.saturating_sub(LFU_INIT_VAL);
    let p = 1.0 / f64::from(base * LFU_LOG_FACTOR + 1);
    let r = Rng::thread_local_next() as f64 / u64::MAX as f64;
    if r < p {
        counter + 1
    } else {
        counter
    }
}

/// xorshift64*: cheap randomness for sampling (not for anything security-related).
pub(crate) struct Rng(u64);

thread_local! {
    static THREAD_RNG: Cell<u64> = Cell::new(seed_from_time());
}

fn seed_from_time() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let local = 0u8;
    (t ^ (&local as *const u8 as u64).rotate_left(32)) | 1
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    pub fn thread_local_next() -> u64 {
        THREAD_RNG.with(|c| {
            let mut r = Rng(c.get());
            let v = r.next();
            c.set(r.0);
            v
        })
    }
}

impl Store {
    /// Before a command that may use more memory: evicts keys by the policy until used
    /// memory is under `maxmemory`; `Err(Oom)` when over the limit and nothing can go.
    pub fn evict_if_needed(&self, now_ms: u64) -> Result<(), Oom> {
        let max = self.max_memory();
        if max == 0 || self.used_memory() <= max {
            return Ok(());
        }
        let policy = self.policy();
        if policy == EvictionPolicy::NoEviction {
            return Err(Oom);
        }
        let mut rng = Rng::new(Rng::thread_local_next());
        for _ in 0..MAX_EVICTIONS_PER_CALL {
            if self.used_memory() <= max {
                return Ok(());
            }
            let Some((db, key)) = self.pick_victim(policy, now_ms, &mut rng) else {
                return Err(Oom);
            };
            if self.remove(db, &key, now_ms) {
                self.evicted_keys.add(self.shard_of(&key), 1);
            }
        }
        Ok(())
    }

    /// The best of a few sampled keys for `policy` (highest idle time, lowest frequency,
    /// nearest expiry, or any for the random policies).
    fn pick_victim(
        &self,
        policy: EvictionPolicy,
        now_ms: u64,
        rng: &mut Rng,
    ) -> Option<(usize, Vec<u8>)> {
        let mut best: Option<(u64, usize, Vec<u8>)> = None;
        let mut samples = 0;
        let wanted = if matches!(
            policy,
            EvictionPolicy::AllKeysRandom | EvictionPolicy::VolatileRandom
        ) {
            1
        } else {
            SAMPLES
        };
        for _ in 0..SHARDS {
            if samples >= wanted {
                break;
            }
            let shard = self.shards[rng.below(SHARDS)].lock();
            for db in 0..self.databases {
                let m = &shard.dbs[db];
                if m.is_empty() || (policy.volatile_only() && shard.volatile[db] == 0) {
                    continue;
                }
                let start = rng.below(m.len());
                let candidate = m
                    .iter()
                    .skip(start)
                    .chain(m.iter().take(start))
                    .find(|(_, e)| !policy.volatile_only() || e.is_volatile());
                if let Some((k, e)) = candidate {
                    let score = match policy {
                        EvictionPolicy::AllKeysLru | EvictionPolicy::VolatileLru => {
                            idle_seconds(e, now_ms)
                        }
                        EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu => {
                            255 - u64::from(lfu_decayed_counter(e.access, now_ms))
                        }
                        EvictionPolicy::VolatileTtl => u64::MAX - e.expire_at,
                        _ => 0,
                    };
                    samples += 1;
                    if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
                        best = Some((score, db, k.to_vec()));
                    }
                    break;
                }
            }
        }
        best.map(|(_, db, k)| (db, k))
    }
}
