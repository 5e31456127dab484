//! How fast the host runs for this benchmark, measured between batches.
//!
//! On a shared VM host this benchmark's figures can swing by 2x within minutes. Three probes, run
//! after every batch (outside the timed region, about 0.2 ms together), say which part of the
//! machine the swings come from:
//! - `cpu`: fixed register-only work (eight multiply-xorshift chains), no memory traffic. It
//!   slows when this thread gets less of the core (another tenant on the core's other
//!   hardware thread, a lower clock).
//! - `l3` and `dram`: dependent walks over a random cycle of cache lines, one load at a time,
//!   in a 4 MiB buffer (beyond the 1 MiB L2, within the L3 when no one else needs it, like the
//!   benchmark's 3 MiB of accounts) and in a 64 MiB one (beyond the L3: a miss to DRAM, 4 KiB
//!   pages, so a TLB walk too). Each walk's time per load rises as other tenants take the L3
//!   or load the memory. A probe touches a few hundred lines, none of the ledger's.

use rand::rngs::StdRng;
use rand::RngExt;
use std::time::{Duration, Instant};

const CPU_ROUNDS: u64 = 4096;
/// One entry per cache line of a walk's buffer.
const LINE_WORDS: usize = 16;
const WALK_HOPS: usize = 256;

/// A random cycle through every cache line of a buffer, walked a few loads at a time.
struct Walk {
    /// `next[line * LINE_WORDS]` is the line after `line`.
    next: Vec<u32>,
    at: u32,
    /// Nanoseconds per load, one figure per probe.
    ns_per_load: Vec<f64>,
}

impl Walk {
    fn new(bytes: usize, rng: &mut StdRng, probes: usize) -> Walk {
        let lines = bytes / 64;
        // Sattolo's algorithm: a random permutation that is one cycle, so the walk visits
        // every line before it repeats and the hardware prefetchers cannot follow it.
        let mut order: Vec<u32> = (0..lines as u32).collect();
        for i in (1..lines).rev() {
            let j = rng.random_range(0..i);
            order.swap(i, j);
        }
        let mut next = vec![0u32; lines * LINE_WORDS];
        for (from, to) in order.iter().zip(order.iter().cycle().skip(1)) {
            next[*from as usize * LINE_WORDS] = *to;
        }
        Walk {
            next,
            at: order[0],
            ns_per_load: Vec::with_capacity(probes),
        }
    }

    fn sample(&mut self) {
        let start = Instant::now();
        let mut at = self.at;
        for _ in 0..WALK_HOPS {
            at = self.next[at as usize * LINE_WORDS];
        }
        self.at = std::hint::black_box(at);
        self.ns_per_load
            .push(start.elapsed().as_nanos() as f64 / WALK_HOPS as f64);
    }

    /// The median time per load, in ns (None before the first sample).
    fn median(&mut self) -> Option<f64> {
        self.ns_per_load.sort_unstable_by(f64::total_cmp);
        self.ns_per_load.get(self.ns_per_load.len() / 2).copied()
    }
}

pub struct HostProbe {
    cpu: Vec<Duration>,
    l3: Walk,
    dram: Walk,
}

impl HostProbe {
    pub fn new(rng: &mut StdRng, probes: usize) -> HostProbe {
        HostProbe {
            cpu: Vec::with_capacity(probes),
            l3: Walk::new(4 << 20, rng, probes),
            dram: Walk::new(64 << 20, rng, probes),
        }
    }

    /// Runs the three probes once.
    pub fn sample(&mut self) {
        let start = Instant::now();
        let mut x: [u64; 8] = std::hint::black_box([1, 2, 3, 4, 5, 6, 7, 8]);
        for _ in 0..CPU_ROUNDS {
            for v in &mut x {
                *v = (*v ^ (*v >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            }
            x = std::hint::black_box(x);
        }
        std::hint::black_box(x);
        self.cpu.push(start.elapsed());
        self.l3.sample();
        self.dram.sample();
    }

    /// `host_cpu_probe=<median> host_l3_walk=<median>ns host_dram_walk=<median>ns`, or None
    /// before the first sample.
    pub fn report(&mut self) -> Option<String> {
        self.cpu.sort_unstable();
        let cpu = *self.cpu.get(self.cpu.len() / 2)?;
        let l3 = self.l3.median()?;
        let dram = self.dram.median()?;
        Some(format!(
            "host_cpu_probe={cpu:.2?} host_l3_walk={l3:.0}ns host_dram_walk={dram:.0}ns"
        ))
    }
}
