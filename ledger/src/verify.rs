//! Whole-ledger invariant checks and snapshots, for tests and tools (they hold every partition).

use crate::flags::account as af;
use crate::ledger::Ledger;
use crate::partition::PendingState;
use crate::table::lists::BLOCK;
use crate::types::{Account, Transfer};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;

impl Ledger {
    /// Every committed account, by id.
    pub fn all_accounts(&self) -> Vec<Account> {
        let _held = self.lock_all();
        let mut v: Vec<Account> = self
            .accounts
            .committed_slots()
            .into_iter()
            .map(|s| self.accounts.read_owned(s))
            .collect();
        v.sort_unstable_by_key(|a| a.id);
        v
    }

    /// Every committed transfer, by id.
    pub fn all_transfers(&self) -> Vec<Transfer> {
        let _held = self.lock_all();
        let mut v: Vec<Transfer> = self
            .transfers
            .committed_slots()
            .into_iter()
            .map(|s| self.transfers.read(s))
            .collect();
        v.sort_unstable_by_key(|t| t.id);
        v
    }

    /// The state of every pending transfer (by id), and every burned id: what a replay of the
    /// write-ahead log must reproduce beside the records.
    pub fn pending_states_and_orphans(&self) -> (BTreeMap<u128, PendingState>, Vec<u128>) {
        let held = self.lock_all();
        let mut states = BTreeMap::new();
        for g in &held.guards {
            for (&slot, &state) in g.pending.iter() {
                states.insert(self.transfers.read(slot).id, state);
            }
        }
        drop(held);
        (states, self.transfers.committed_orphan_ids())
    }

    /// The account-level invariants, in time linear in the accounts and pending transfers (what
    /// start-up checks after replaying a log; [`Ledger::verify`] checks these and every index):
    /// per ledger Σdebits = Σcredits (pending and posted); no balance limit broken; no account
    /// id 0 or 2^128-1 or ledger 0, each in its ledger's partition; every account's pending
    /// balances equal the sums of its pending transfers.
    pub fn verify_balances(&self) -> Result<(), String> {
        let held = self.lock_all();
        let accounts = self.all_accounts_unlocked();
        self.check_accounts(&accounts)?;
        let pending_sums = self.pending_sums(&held);
        drop(held);
        Self::check_pending(&accounts, &pending_sums)
    }

    fn pending_sums(&self, held: &crate::ledger::Held<'_>) -> HashMap<u128, (u128, u128)> {
        let mut sums: HashMap<u128, (u128, u128)> = HashMap::new();
        for g in &held.guards {
            for (&slot, &state) in &g.pending {
                if state == PendingState::Pending {
                    let t: Transfer = self.transfers.read(slot);
                    sums.entry(t.debit_account_id).or_default().0 += t.amount;
                    sums.entry(t.credit_account_id).or_default().1 += t.amount;
                }
            }
        }
        sums
    }

    fn check_pending(
        accounts: &[Account],
        pending_sums: &HashMap<u128, (u128, u128)>,
    ) -> Result<(), String> {
        for a in accounts {
            let (d, c) = pending_sums.get(&a.id).copied().unwrap_or((0, 0));
            if a.debits_pending != d || a.credits_pending != c {
                return Err(format!(
                    "account {}: pending balances {}/{} but pending transfers sum to {d}/{c}",
                    a.id, a.debits_pending, a.credits_pending
                ));
            }
        }
        Ok(())
    }

    fn check_accounts(&self, accounts: &[Account]) -> Result<(), String> {
        // Per-ledger sums are 192-bit (u128 + carry count): many accounts may each hold
        // balances near 2^128.
        let mut sums: BTreeMap<u32, [(u128, u64); 4]> = BTreeMap::new();
        for a in accounts {
            let s = sums.entry(a.ledger).or_default();
            for (sum, x) in s.iter_mut().zip([
                a.debits_pending,
                a.debits_posted,
                a.credits_pending,
                a.credits_posted,
            ]) {
                let (low, carry) = sum.0.overflowing_add(x);
                *sum = (low, sum.1 + u64::from(carry));
            }
            let debits = a
                .debits_pending
                .checked_add(a.debits_posted)
                .ok_or("debits overflow")?;
            let credits = a
                .credits_pending
                .checked_add(a.credits_posted)
                .ok_or("credits overflow")?;
            if a.flags & af::DEBITS_MUST_NOT_EXCEED_CREDITS != 0 && debits > a.credits_posted {
                return Err(format!("account {} debits exceed credits", a.id));
            }
            if a.flags & af::CREDITS_MUST_NOT_EXCEED_DEBITS != 0 && credits > a.debits_posted {
                return Err(format!("account {} credits exceed debits", a.id));
            }
        }
        // The fast path of create_transfers relies on these (see `create_transfer::plain`).
        for slot in self.accounts.committed_slots() {
            let a: Account = self.accounts.read_owned(slot);
            if a.id == 0 || a.id == u128::MAX || a.ledger == 0 {
                return Err(format!("account {} of ledger {} exists", a.id, a.ledger));
            }
            let p = crate::table::header::partition(self.accounts.header_of(slot));
            if p != self.partition_of(a.ledger) {
                return Err(format!(
                    "account {} in partition {p}, not its ledger's",
                    a.id
                ));
            }
        }
        for (ledger, [dp, dpo, cp, cpo]) in &sums {
            if dp != cp || dpo != cpo {
                return Err(format!("ledger {ledger} unbalanced: pending {dp:?} vs {cp:?}, posted {dpo:?} vs {cpo:?}"));
            }
        }
        Ok(())
    }

    /// Checks the ledger's invariants: per ledger Σdebits = Σcredits (pending and posted); no
    /// balance limit broken; pending balances equal the sum of pending transfers; timestamps
    /// unique; every committed transfer in its partition's log exactly once, logs and indexes
    /// in timestamp order; table usage within its counters.
    pub fn verify(&self) -> Result<(), String> {
        let mut held = self.lock_all();
        let accounts = self.all_accounts_unlocked();
        self.check_accounts(&accounts)?;
        let mut by_id: HashMap<u128, &Account> = HashMap::new();
        let mut timestamps = Vec::new();
        for a in &accounts {
            by_id.insert(a.id, a);
            timestamps.push(a.timestamp);
        }
        let pending_sums = self.pending_sums(&held);
        let log = &self.transfers.log;
        let mut logged: HashMap<u32, usize> = HashMap::new();
        // (account id, log slot) of every account list entry.
        let mut listed: Vec<(u128, u32)> = Vec::new();
        for p in 0..self.partition_count() {
            let part = held.part(p);
            let log_slots: Vec<u32> = (0..part.log.len()).map(|i| part.log.slot(i)).collect();
            let mut lists: Vec<(&str, Vec<u32>)> = vec![("log", log_slots.clone())];
            let account_slots: Vec<u32> =
                part.accounts.by_timestamp.iter().map(|e| e.slot).collect();
            for slot in account_slots {
                let list = part
                    .account_list(&self.account_meta, &self.lists, slot)
                    .ok_or_else(|| format!("account at slot {slot} has no list"))?;
                if list.blocks.len() != list.len / BLOCK {
                    return Err(format!(
                        "account at slot {slot}: blocks and length disagree"
                    ));
                }
                let entries: Vec<u32> = (0..list.len).map(|i| list.get(i)).collect();
                let id = self.accounts.read_owned::<Account>(slot).id;
                listed.extend(entries.iter().map(|&t| (id, t)));
                lists.push(("account list", entries));
            }
            for (what, list) in lists {
                if list
                    .windows(2)
                    .any(|w| log.timestamp(w[0]) >= log.timestamp(w[1]))
                {
                    return Err(format!("partition {p}: {what} out of timestamp order"));
                }
            }
            for &slot in &log_slots {
                let t = self.transfers.read(slot);
                if self.partition_of(t.ledger) != p {
                    return Err(format!("transfer {} logged by partition {p}", t.id));
                }
                *logged.entry(slot).or_default() += 1;
            }
            if part
                .accounts
                .by_timestamp
                .windows(2)
                .any(|w| w[0].timestamp >= w[1].timestamp)
            {
                return Err(format!("partition {p}: accounts out of timestamp order"));
            }
        }
        Self::check_pending(&accounts, &pending_sums)?;
        // Each account list holds exactly the committed transfers on that account's side(s).
        let mut expected: Vec<(u128, u32)> = Vec::new();
        for &slot in &self.transfers.committed_slots() {
            let t: Transfer = self.transfers.read(slot);
            expected.push((t.debit_account_id, slot));
            expected.push((t.credit_account_id, slot));
        }
        listed.sort_unstable();
        expected.sort_unstable();
        if listed != expected {
            return Err(format!(
                "account lists hold {} entries, committed transfers need {} (or they differ)",
                listed.len(),
                expected.len()
            ));
        }
        let committed = self.transfers.committed_slots();
        if committed.len() != logged.len() || logged.values().any(|&n| n != 1) {
            return Err(format!(
                "{} committed transfers but {} logged",
                committed.len(),
                logged.len()
            ));
        }
        for slot in committed {
            if !logged.contains_key(&slot) {
                return Err(format!("committed transfer at slot {slot} is in no log"));
            }
            let t: Transfer = self.transfers.read(slot);
            for id in [t.debit_account_id, t.credit_account_id] {
                if !by_id.contains_key(&id) {
                    return Err(format!("transfer {} refers to missing account {id}", t.id));
                }
            }
            timestamps.push(t.timestamp);
        }
        timestamps.sort_unstable();
        if let Some(w) = timestamps.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("timestamp {} used twice", w[0]));
        }
        if timestamps.first().is_some_and(|&t| t == 0) {
            return Err("a record has timestamp 0".into());
        }
        for (name, (live, orphan, tomb), used) in [
            ("accounts", self.accounts.census(), &self.accounts_used),
            ("transfers", self.transfers.census(), &self.transfers_used),
        ] {
            if live + orphan + tomb != used.load(Ordering::Acquire) {
                return Err(format!(
                    "{name}: {live}+{orphan}+{tomb} slots in use, counter says {used:?}"
                ));
            }
        }
        drop(held);
        Ok(())
    }

    fn all_accounts_unlocked(&self) -> Vec<Account> {
        self.accounts
            .committed_slots()
            .into_iter()
            .map(|s| self.accounts.read_owned(s))
            .collect()
    }
}
