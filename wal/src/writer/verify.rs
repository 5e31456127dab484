//! [`WalWriter::verify`]: the writer's invariants, checked in tests after every step.

use super::{Staging, State, WalWriter};
use crate::config::FIRST_SEGMENT;
use crate::format::{self, Position};

impl WalWriter {
    /// Checks the writer's invariants; a description of the first one broken.
    pub fn verify(&self) -> Result<(), String> {
        self.config.validate().map_err(|e| e.to_string())?;
        let align = self.config.write_align;
        match &self.state {
            State::InFlight { group } => {
                if self.durable_group + 1 != *group || self.open_group != group + 1 {
                    return Err(format!(
                        "in flight {group}, durable {}, open {}",
                        self.durable_group, self.open_group
                    ));
                }
            }
            State::Idle { spare } => {
                if self.open_group != self.durable_group + 1 {
                    return Err(format!(
                        "idle, durable {}, open {}",
                        self.durable_group, self.open_group
                    ));
                }
                if spare.capacity() < self.capacity {
                    return Err(format!(
                        "spare buffer capacity {} < {}",
                        spare.capacity(),
                        self.capacity
                    ));
                }
            }
        }
        if self.tail.offset > self.config.segment_size || self.tail.segment < FIRST_SEGMENT {
            return Err(format!("tail {} outside the log", self.tail));
        }
        if self.tail_block.len() as u64 != self.tail.offset % align as u64 {
            return Err(format!(
                "tail block of {} bytes for tail {}",
                self.tail_block.len(),
                self.tail
            ));
        }
        let o = &self.open;
        if o.buf.capacity() < self.capacity || (o.buf.as_ptr() as usize + o.lead) % align != 0 {
            return Err("open buffer reallocated or misaligned".into());
        }
        if o.records == 0 {
            return if o.buf.len() == o.lead {
                Ok(())
            } else {
                Err("empty open group holds bytes".into())
            };
        }
        self.verify_open(o)
    }

    fn verify_open(&self, o: &Staging) -> Result<(), String> {
        let align = self.config.write_align as u64;
        if o.start.segment > self.prepared_through {
            return Err(format!(
                "open group starts in unprepared segment {}",
                o.start.segment
            ));
        }
        let (prefix_ok, prefix) = if o.start == self.tail {
            (o.prefix == self.tail_block.len(), &self.tail_block[..])
        } else {
            let rolled = o.start
                == Position {
                    segment: self.tail.segment + 1,
                    offset: 0,
                };
            (rolled && o.prefix == 0, &[][..])
        };
        if !prefix_ok
            || &o.buf[o.lead..o.lead + o.prefix] != prefix
            || o.start.offset % align != o.prefix as u64 % align
        {
            return Err(format!(
                "open group at {} does not follow the tail {}",
                o.start, self.tail
            ));
        }
        if o.record_bytes() > self.config.max_group_bytes
            || o.end().offset > self.config.segment_size
        {
            return Err(format!(
                "open group of {} bytes at {} too big",
                o.record_bytes(),
                o.start
            ));
        }
        let mut at = o.lead + o.prefix;
        let mut prev = o.prev_before;
        for index in 0..o.records {
            let bytes = &o.buf[at..];
            let h = format::decode(bytes).map_err(|d| format!("open record {index}: {d}"))?;
            let pos = Position {
                segment: o.start.segment,
                offset: o.start.offset + (at - o.lead - o.prefix) as u64,
            };
            let m = h.meta;
            if m.group != self.open_group
                || m.index != index
                || m.prev != prev
                || m.at != pos
                || m.group_end
            {
                return Err(format!(
                    "open record {index} has header {m:?}, expected at {pos}"
                ));
            }
            if m.core != self.config.core || m.dir_id != self.config.dir_id {
                return Err(format!("open record {index} has the wrong core or dir_id"));
            }
            if index + 1 == o.records && at != o.last {
                return Err("last-record index is stale".into());
            }
            prev = h.checksum;
            at += h.size as usize;
        }
        if at != o.buf.len() || prev != self.last_checksum {
            return Err("open records do not end the buffer or the chain".into());
        }
        Ok(())
    }
}
