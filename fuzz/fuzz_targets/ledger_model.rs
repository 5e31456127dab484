//! The ledger state machine against the reference model (`ledger::reference::Model`): the
//! fuzzer's bytes drive a sequence of batches (every flag, chains, tiny id spaces so ids
//! collide, u128 edge values, imported events, timeouts and clock jumps) on a 2-partition
//! ledger and on the model. Every result, every lookup and the full final state must agree, and
//! the ledger's invariants must hold.
#![no_main]

use ledger::reference::Model;
use ledger::{Account, Ledger, LedgerConfig, Transfer};
use libfuzzer_sys::fuzz_target;

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from(self.u8()) | (u16::from(self.u8()) << 8)
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[usize::from(self.u8()) % xs.len()]
    }
    fn id(&mut self) -> u128 {
        self.pick(&[0, 1, 2, 3, 4, 5, 6, 7, 8, u128::MAX])
    }
    fn amount(&mut self) -> u128 {
        self.pick(&[0, 1, 2, 5, 100, u128::MAX, u128::MAX - 1, 1 << 127, u128::MAX / 2])
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let ledger = Ledger::new(LedgerConfig { partitions: 2, max_accounts: 256, max_transfers: 1024, prefault: false })
        .expect("ledger");
    let mut model = Model::new();
    let mut now: u64 = 10_000_000_000;
    for _ in 0..16 {
        if b.0.is_empty() {
            break;
        }
        now += b.pick(&[0, 1, 1_000_000_000, 3_000_000_000]);
        let n = 1 + usize::from(b.u8() % 6);
        let imported = b.u8() % 16 == 0;
        let ts = |b: &mut Bytes, i: usize| -> u64 {
            if imported {
                b.pick(&[0, now - 1_000_000 + i as u64 * 10, now + 5, 1])
            } else {
                b.pick(&[0, 0, 0, 0, 0, 0, 0, 9])
            }
        };
        let mut got = Vec::new();
        let mut held = ledger.lock_all();
        let expected = if b.u8() % 3 == 0 {
            let batch: Vec<Account> = (0..n)
                .map(|i| Account {
                    id: b.id(),
                    ledger: b.pick(&[0, 1, 2, 3]),
                    code: b.pick(&[0, 1, 2]),
                    flags: b.u16() & 0x7f | if imported { 0x10 } else { 0 },
                    user_data_128: b.pick(&[0, 1]),
                    user_data_64: b.pick(&[0, 7]),
                    user_data_32: b.pick(&[0, 3]),
                    reserved: b.pick(&[0, 0, 0, 1]),
                    debits_posted: b.pick(&[0, 0, 0, 1]),
                    timestamp: ts(&mut b, i),
                    ..Account::default()
                })
                .collect();
            ledger.create_accounts(&mut held, &batch, now, &mut got).expect("batch fits");
            model.create_accounts(&batch, now)
        } else {
            let batch: Vec<Transfer> = (0..n)
                .map(|i| Transfer {
                    id: b.pick(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, u128::MAX]),
                    debit_account_id: b.id(),
                    credit_account_id: b.id(),
                    amount: b.amount(),
                    pending_id: b.pick(&[0, 0, 1, 2, 3, 4, 5, 6]),
                    user_data_128: b.pick(&[0, 1]),
                    user_data_64: b.pick(&[0, 7]),
                    user_data_32: b.pick(&[0, 3]),
                    timeout: b.pick(&[0, 0, 1, 2, u32::MAX]),
                    ledger: b.pick(&[0, 1, 2, 3]),
                    code: b.pick(&[0, 1, 2]),
                    flags: b.u16() & 0x3ff | if imported { 0x100 } else { 0 },
                    timestamp: ts(&mut b, i),
                })
                .collect();
            ledger.create_transfers(&mut held, &batch, now, &mut got).expect("batch fits");
            model.create_transfers(&batch, now)
        };
        drop(held);
        assert_eq!(got, expected, "results differ");
        ledger.verify().expect("invariants");
        let ids: Vec<u128> = (0..4).map(|_| b.id()).collect();
        assert_eq!(ledger.lookup_accounts(&ids), model.lookup_accounts(&ids));
    }
    assert_eq!(ledger.all_accounts(), model.accounts(), "accounts differ");
    assert_eq!(ledger.all_transfers(), model.transfers(), "transfers differ");
    for id in model.orphans() {
        assert!(ledger.is_orphaned(id), "orphan {id}");
    }
});
