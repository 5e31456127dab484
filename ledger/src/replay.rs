//! Replaying logged effects (see [`crate::effects`]) into a ledger at start-up: the accounts
//! and transfers a batch created, the ids it burned and the pending transfers that expired,
//! applied without the checks that decided them. Each part runs as an attempt of its own and
//! commits like a batch, so the tables, lists, indexes, history rows and expiry heaps come out
//! as the original execution left them.
//!
//! Replay trusts the log's facts but not blindly: a record that cannot apply (an id already
//! present, a missing account or pending transfer, a pending transfer not pending, an
//! overflow) is a [`ReplayError`], never a panic or a silently different ledger.

use crate::create_transfer::{has_user_data, index_created, release_pending};
use crate::effects::Part;
use crate::exec::{Abort, Exec};
use crate::flags::{account as af, transfer as tf};
use crate::ledger::{Held, Ledger};
use crate::partition::PendingState;
use crate::table::transfers::TProbe;
use crate::table::Probe;
use crate::types::{Account, Transfer};
use std::sync::atomic::Ordering;

/// A logged effect that does not fit the ledger it is replayed into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayError(pub String);

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReplayError {}

fn err<T>(part: &Part<'_>, what: String) -> Result<T, ReplayError> {
    Err(ReplayError(format!(
        "partition {} effects seq {}: {what}",
        part.partition, part.seq
    )))
}

fn no_abort<T>(r: Result<T, Abort>) -> T {
    match r {
        Ok(x) => x,
        // Replay holds every partition and is the only writer.
        Err(a) => panic!("invariant: replay holds every partition, yet {a:?}"),
    }
}

impl Ledger {
    /// Applies one logged part. `held` must hold every partition (`lock_all`) and the parts of
    /// each partition must come in `seq` order, each exactly once.
    pub fn replay(&self, held: &mut Held<'_>, part: &Part<'_>) -> Result<(), ReplayError> {
        assert_eq!(
            held.partitions().len(),
            self.partition_count(),
            "replay holds every partition"
        );
        if part.partition >= self.partition_count() {
            return err(
                part,
                format!(
                    "partition out of range (the ledger has {})",
                    self.partition_count()
                ),
            );
        }
        let have = self.effect_seq[part.partition].0.load(Ordering::Relaxed);
        if part.seq != have + 1 {
            return err(
                part,
                format!("out of order: the partition is at seq {have}"),
            );
        }
        let (accounts, transfers, burned, _) = part.counts();
        if !Ledger::reserve(&self.accounts_used, accounts, self.config.max_accounts) {
            return err(part, "more accounts than max_accounts".into());
        }
        if !Ledger::reserve(
            &self.transfers_used,
            transfers + burned,
            self.config.max_transfers,
        ) {
            return err(part, "more transfers than max_transfers".into());
        }
        let mut ex = Exec::new(held);
        let outcome = apply(&mut ex, part);
        match outcome {
            Ok(()) => {
                ex.commit();
                self.effect_seq[part.partition]
                    .0
                    .store(part.seq, Ordering::Release);
                Ok(())
            }
            Err(e) => {
                ex.abort();
                Err(e)
            }
        }
    }

    /// Continues partition `p`'s effect seqs at `seq` (a resume part: the seqs between the
    /// current one and `seq` are void). For replay and start-up, before any batch runs.
    pub fn skip_effects_to(&self, p: usize, seq: u64) {
        let have = self.effect_seq[p].0.load(Ordering::Relaxed);
        assert!(seq >= have, "partition {p}: resume at {seq} below {have}");
        self.effect_seq[p].0.store(seq, Ordering::Release);
    }

    /// After replay: timestamps continue above every recovered one.
    pub fn resume_clock_after(&self, timestamp: u64) {
        self.clock.0.fetch_max(timestamp, Ordering::AcqRel);
    }
}

fn apply(ex: &mut Exec<'_, '_>, part: &Part<'_>) -> Result<(), ReplayError> {
    let p = part.partition;
    for a in part.accounts() {
        apply_account(ex, part, &a)?;
    }
    for t in part.transfers() {
        if ex.ledger.partition_of(t.ledger) != p {
            return err(part, format!("transfer {} is of another partition", t.id));
        }
        let pos = match no_abort(ex.probe_transfer(t.id)) {
            TProbe::Absent { pos } => pos,
            _ => return err(part, format!("transfer {} already exists", t.id)),
        };
        if t.flags & (tf::POST_PENDING_TRANSFER | tf::VOID_PENDING_TRANSFER) != 0 {
            apply_post_or_void(ex, part, &t, pos)?;
        } else {
            apply_transfer(ex, part, &t, pos)?;
        }
        if t.timestamp > ex.last_transfer_timestamp {
            ex.set_last_transfer_timestamp(t.timestamp);
        }
    }
    for id in part.burned() {
        match no_abort(ex.probe_transfer(id)) {
            TProbe::Absent { pos } if ex.insert_orphan(pos, id) => {}
            _ => return err(part, format!("burned id {id} is taken")),
        }
    }
    for id in part.expired() {
        let TProbe::Live { slot, .. } = no_abort(ex.probe_transfer(id)) else {
            return err(part, format!("expired pending transfer {id} not found"));
        };
        if ex.pending_state(p, slot) != Some(PendingState::Pending) {
            return err(part, format!("expired transfer {id} is not pending"));
        }
        let pending = ex.transfer_at(slot);
        let (dr, cr) = accounts_of(ex, part, &pending)?;
        release_pending(ex, &pending, dr, cr, None);
        ex.set_pending_state(p, slot, PendingState::Expired);
    }
    Ok(())
}

fn apply_account(ex: &mut Exec<'_, '_>, part: &Part<'_>, a: &Account) -> Result<(), ReplayError> {
    if ex.ledger.partition_of(a.ledger) != part.partition {
        return err(part, format!("account {} is of another partition", a.id));
    }
    let balances = [
        a.debits_pending,
        a.debits_posted,
        a.credits_pending,
        a.credits_posted,
    ];
    if a.id == 0 || a.id == u128::MAX || balances.iter().any(|&b| b != 0) || a.timestamp == 0 {
        return err(part, format!("account {} is not a created account", a.id));
    }
    let Probe::Absent(at) = no_abort(ex.probe_account(a.id)) else {
        return err(part, format!("account {} already exists", a.id));
    };
    if !ex.insert_account(at, a, part.partition) {
        return err(part, format!("account {} could not be inserted", a.id));
    }
    ex.created_accounts.push(crate::exec::CreatedAccount {
        partition: part.partition,
        entry: crate::partition::Entry {
            timestamp: a.timestamp,
            slot: at,
        },
        user_data: (a.user_data_128, a.user_data_64, a.user_data_32),
    });
    if a.timestamp > ex.last_account_timestamp {
        ex.set_last_account_timestamp(a.timestamp);
    }
    Ok(())
}

/// The working-set handles of a transfer's two accounts, which must exist.
fn accounts_of(
    ex: &mut Exec<'_, '_>,
    part: &Part<'_>,
    t: &Transfer,
) -> Result<(crate::exec::Acct, crate::exec::Acct), ReplayError> {
    let dr = no_abort(ex.account(t.debit_account_id));
    let cr = no_abort(ex.account(t.credit_account_id));
    match (dr, cr) {
        (Some(dr), Some(cr)) => Ok((dr, cr)),
        _ => err(part, format!("transfer {}: an account is missing", t.id)),
    }
}

fn apply_transfer(
    ex: &mut Exec<'_, '_>,
    part: &Part<'_>,
    t: &Transfer,
    pos: u32,
) -> Result<(), ReplayError> {
    let (dr, cr) = accounts_of(ex, part, t)?;
    let pending = t.flags & tf::PENDING != 0;
    let amount = t.amount;
    let (d, c) = (*ex.get(dr), *ex.get(cr));
    let add = |x: u128| x.checked_add(amount);
    let (d_pending, d_posted, c_pending, c_posted) = if pending {
        (
            add(d.debits_pending),
            Some(d.debits_posted),
            add(c.credits_pending),
            Some(c.credits_posted),
        )
    } else {
        (
            Some(d.debits_pending),
            add(d.debits_posted),
            Some(c.credits_pending),
            add(c.credits_posted),
        )
    };
    let (Some(d_pending), Some(d_posted), Some(c_pending), Some(c_posted)) =
        (d_pending, d_posted, c_pending, c_posted)
    else {
        return err(part, format!("transfer {} overflows a balance", t.id));
    };
    let Some(slot) = ex.insert_transfer(pos, t, part.partition) else {
        return err(part, format!("transfer {} could not be inserted", t.id));
    };
    if pending {
        ex.set_pending_state(part.partition, slot, PendingState::Pending);
    }
    {
        let d = ex.get_mut(dr);
        d.debits_pending = d_pending;
        d.debits_posted = d_posted;
        if t.flags & tf::CLOSING_DEBIT != 0 {
            d.flags |= af::CLOSED;
        }
    }
    {
        let c = ex.get_mut(cr);
        c.credits_pending = c_pending;
        c.credits_posted = c_posted;
        if t.flags & tf::CLOSING_CREDIT != 0 {
            c.flags |= af::CLOSED;
        }
    }
    let expires = pending && t.timeout > 0;
    index_created(
        ex,
        has_user_data(t),
        t.timestamp,
        part.partition,
        slot,
        (dr, cr),
        expires,
    );
    Ok(())
}

fn apply_post_or_void(
    ex: &mut Exec<'_, '_>,
    part: &Part<'_>,
    t: &Transfer,
    pos: u32,
) -> Result<(), ReplayError> {
    let post = t.flags & tf::POST_PENDING_TRANSFER != 0;
    let TProbe::Live { slot: p_slot, .. } = no_abort(ex.probe_transfer(t.pending_id)) else {
        return err(part, format!("transfer {}: pending transfer missing", t.id));
    };
    let p = ex.transfer_at(p_slot);
    let state = ex.pending_state(part.partition, p_slot);
    if p.flags & tf::PENDING == 0 || state != Some(PendingState::Pending) {
        return err(part, format!("transfer {}: {} is not pending", t.id, p.id));
    }
    if (post && t.amount > p.amount) || (!post && t.amount != p.amount) {
        return err(part, format!("transfer {}: amount does not fit", t.id));
    }
    let (dr, cr) = accounts_of(ex, part, &p)?;
    let Some(slot) = ex.insert_transfer(pos, t, part.partition) else {
        return err(part, format!("transfer {} could not be inserted", t.id));
    };
    ex.set_pending_state(
        part.partition,
        p_slot,
        if post {
            PendingState::Posted
        } else {
            PendingState::Voided
        },
    );
    release_pending(ex, &p, dr, cr, post.then_some(t.amount));
    index_created(
        ex,
        has_user_data(t),
        t.timestamp,
        part.partition,
        slot,
        (dr, cr),
        false,
    );
    Ok(())
}

/// What [`Ledger::replay_batches`] applied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Batches applied, and their parts.
    pub batches: u64,
    pub parts: u64,
    pub accounts: u64,
    pub transfers: u64,
    /// Batches beyond a gap in some partition's seqs: never acknowledged, not applied.
    pub dropped: u64,
    /// Per partition: the highest seq any batch or resume part carries, applied or not. A
    /// recovery that dropped parts must continue the partition above this, with a resume part
    /// (`effects::encode_resume`) logged before anything new, so a dropped part's seq is never
    /// reused and never applies later.
    pub max_seen: Vec<u64>,
    /// The newest timestamp any applied batch could have handed out (the clock resumes above).
    pub newest: u64,
}

impl Ledger {
    /// Replays logged batches (each one batch's encoded effects, from any number of logs, in
    /// any order between logs) into this ledger, which must be empty: each partition's parts
    /// apply in `seq` order, and a batch applies when each of its parts is its partition's
    /// next seq. Batches that never can (beyond a gap: a part whose predecessor is missing)
    /// are counted as dropped. The clock then resumes above every applied timestamp.
    ///
    /// `batches[i]` is described as `name(i)` in errors.
    pub fn replay_batches(
        &self,
        batches: &[&[u8]],
        name: impl Fn(usize) -> String,
    ) -> Result<ReplaySummary, ReplayError> {
        use std::collections::HashMap;
        let mut decoded = Vec::with_capacity(batches.len());
        for (i, b) in batches.iter().enumerate() {
            let parts =
                crate::effects::decode(b).map_err(|e| ReplayError(format!("{}: {e}", name(i))))?;
            decoded.push(parts);
        }
        // Which batch holds each (partition, seq); the resume parts, by partition.
        let mut holder: HashMap<(usize, u64), usize> = HashMap::with_capacity(decoded.len());
        let mut resumes: Vec<std::collections::BTreeMap<u64, u64>> =
            vec![Default::default(); self.partition_count()];
        let mut max_seen = vec![0u64; self.partition_count()];
        for (b, parts) in decoded.iter().enumerate() {
            for p in parts {
                if p.partition >= self.partition_count() {
                    return Err(ReplayError(format!(
                        "{}: effects of partition {}, but the ledger has {}",
                        name(b),
                        p.partition,
                        self.partition_count()
                    )));
                }
                max_seen[p.partition] = max_seen[p.partition].max(p.seq);
                let duplicate = if p.resume {
                    resumes[p.partition].insert(p.seq, p.clock).is_some()
                        || holder.contains_key(&(p.partition, p.seq))
                } else {
                    resumes[p.partition].contains_key(&p.seq)
                        || holder.insert((p.partition, p.seq), b).is_some()
                };
                if duplicate {
                    return Err(ReplayError(format!(
                        "{}: partition {} seq {} appears twice",
                        name(b),
                        p.partition,
                        p.seq
                    )));
                }
            }
        }
        let mut next: Vec<u64> = vec![1; self.partition_count()];
        let mut applied = vec![false; decoded.len()];
        let mut summary = ReplaySummary::default();
        let mut held = self.lock_all();
        let mut todo: Vec<usize> = (0..self.partition_count())
            .filter_map(|p| holder.get(&(p, 1)).copied())
            .collect();
        loop {
            let Some(b) = todo.pop() else {
                // Stuck: where a partition stopped below a resume part, the seqs between are
                // void (dropped by an earlier recovery); it continues after the resume. The
                // earliest recovery's resume goes first (lowest clock): replay then passes
                // through each recovery's state in turn, where its partitions stopped.
                let jump = (0..self.partition_count())
                    .filter_map(|p| {
                        let (&r, &clock) = resumes[p].range(next[p]..).next()?;
                        Some((p, r, clock))
                    })
                    .min_by_key(|&(p, _, clock)| (clock, p));
                let Some((p, r, clock)) = jump else {
                    break;
                };
                resumes[p].remove(&r);
                summary.newest = summary.newest.max(clock);
                self.skip_effects_to(p, r);
                next[p] = r + 1;
                if let Some(&n) = holder.get(&(p, next[p])) {
                    todo.push(n);
                }
                continue;
            };
            if applied[b] {
                continue;
            }
            let parts = &decoded[b];
            // Every part must come next in its partition (one partition's parts in order).
            let mut want = next.clone();
            let ready = parts.iter().all(|p| {
                let ok = p.seq == want[p.partition];
                want[p.partition] += 1;
                ok
            });
            if !ready {
                continue;
            }
            for part in parts {
                self.replay(&mut held, part)
                    .map_err(|e| ReplayError(format!("{}: {e}", name(b))))?;
                let (a, t, _, _) = part.counts();
                summary.accounts += a as u64;
                summary.transfers += t as u64;
                summary.parts += 1;
                summary.newest = summary.newest.max(part.max_timestamp());
                next[part.partition] = part.seq + 1;
            }
            applied[b] = true;
            summary.batches += 1;
            for part in parts {
                if let Some(&n) = holder.get(&(part.partition, next[part.partition])) {
                    todo.push(n);
                }
            }
        }
        drop(held);
        // Resume parts are not batches of their own (they are applied as jumps above).
        summary.dropped = applied
            .iter()
            .zip(&decoded)
            .filter(|(a, parts)| !**a && !parts.iter().all(|p| p.resume))
            .count() as u64;
        summary.max_seen = max_seen;
        self.resume_clock_after(summary.newest);
        Ok(summary)
    }
}
