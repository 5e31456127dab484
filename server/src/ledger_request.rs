//! A ledger request as a value: its operation, its decoded events, the partitions a create
//! needs, and the form its reply takes. RESP commands and binary frames build one, once; the
//! runtime then alone decides whether it runs here, is forwarded to the worker owning its
//! partitions, or waits behind earlier requests of its connection; `ledger_ops` executes it and
//! `ledger_reply` encodes the outcome.
//!
//! Event vectors come from a per-thread pool and go back to it when a request is done
//! ([`LedgerRequest::recycle`]): batches reach a megabyte, and a fresh allocation per request
//! costs page faults. A forwarded request carries its vectors to the owner, whose pool keeps them.

use crate::ledger_ops::OpError;
use crate::ledger_reply::Form;
use ledger::{Account, AccountFilter, Ledger, QueryFilter, Record, Transfer, BATCH_MAX};
use protocol::binary::Operation;

/// The decoded events of a request.
#[derive(Debug)]
pub enum Events {
    Accounts(Vec<Account>),
    Transfers(Vec<Transfer>),
    /// Lookups.
    Ids(Vec<u128>),
    AccountFilter(AccountFilter),
    QueryFilter(QueryFilter),
}

#[derive(Debug)]
pub struct LedgerRequest {
    pub operation: Operation,
    pub events: Events,
    /// The partitions a create holds first (sorted, distinct); empty for reads, which run on
    /// whichever worker received them.
    pub partitions: Vec<usize>,
    pub form: Form,
}

/// Vectors kept for the next requests on this thread.
#[derive(Default)]
struct Pool {
    accounts: Vec<Account>,
    transfers: Vec<Transfer>,
    ids: Vec<u128>,
}

thread_local! {
    static POOL: std::cell::RefCell<Pool> = std::cell::RefCell::new(Pool::default());
}

impl LedgerRequest {
    /// Decodes `body` (the events in their wire layout, any alignment) for `operation`; a
    /// malformed body is refused with why, before anything runs.
    pub fn decode(
        ledger: &Ledger,
        operation: Operation,
        body: &[u8],
        form: Form,
    ) -> Result<LedgerRequest, OpError> {
        let events = match operation {
            Operation::CreateAccounts => {
                let mut v = POOL.with_borrow_mut(|p| std::mem::take(&mut p.accounts));
                decode_into(body, "accounts", &mut v)?;
                Events::Accounts(v)
            }
            Operation::CreateTransfers => {
                let mut v = POOL.with_borrow_mut(|p| std::mem::take(&mut p.transfers));
                decode_into(body, "transfers", &mut v)?;
                Events::Transfers(v)
            }
            Operation::LookupAccounts | Operation::LookupTransfers => {
                let mut v = POOL.with_borrow_mut(|p| std::mem::take(&mut p.ids));
                decode_ids(body, &mut v)?;
                Events::Ids(v)
            }
            Operation::GetAccountTransfers | Operation::GetAccountBalances => {
                Events::AccountFilter(decode_filter(body, "account filter")?)
            }
            Operation::QueryAccounts | Operation::QueryTransfers => {
                Events::QueryFilter(decode_filter(body, "query filter")?)
            }
            Operation::Authenticate => {
                // The transport handles its handshake itself; it is never a ledger request.
                return Err(OpError::Malformed(
                    "authenticate is not a ledger operation".into(),
                ));
            }
        };
        Ok(Self::new(ledger, operation, events, form))
    }

    /// A request of already-typed events (the human RESP commands). Creates are routed here.
    pub fn new(ledger: &Ledger, operation: Operation, events: Events, form: Form) -> LedgerRequest {
        let partitions = match &events {
            Events::Accounts(a) => ledger.route_accounts(a),
            Events::Transfers(t) => ledger.route_transfers(t),
            _ => Vec::new(),
        };
        debug_assert!(
            matches!(
                (operation, &events),
                (Operation::CreateAccounts, Events::Accounts(_))
                    | (Operation::CreateTransfers, Events::Transfers(_))
                    | (
                        Operation::LookupAccounts | Operation::LookupTransfers,
                        Events::Ids(_)
                    )
                    | (
                        Operation::GetAccountTransfers | Operation::GetAccountBalances,
                        Events::AccountFilter(_)
                    )
                    | (
                        Operation::QueryAccounts | Operation::QueryTransfers,
                        Events::QueryFilter(_)
                    )
            ),
            "events match the operation"
        );
        LedgerRequest {
            operation,
            events,
            partitions,
            form,
        }
    }

    /// The number of events (1 for a filter).
    pub fn event_count(&self) -> usize {
        match &self.events {
            Events::Accounts(v) => v.len(),
            Events::Transfers(v) => v.len(),
            Events::Ids(v) => v.len(),
            Events::AccountFilter(_) | Events::QueryFilter(_) => 1,
        }
    }

    /// The worker, among `workers`, owning every partition of this create when that is not
    /// `me`: the request runs there. None for reads (they run where they arrive), requests
    /// spanning several owners (run here, holding all their partitions) and a single worker.
    pub fn owner_elsewhere(&self, workers: usize, me: usize) -> Option<usize> {
        if workers <= 1 {
            return None;
        }
        let owner = self.partitions.first()? % workers;
        (owner != me && self.partitions.iter().all(|p| p % workers == owner)).then_some(owner)
    }

    /// Gives the request's vectors back to this thread's pool.
    pub fn recycle(self) {
        POOL.with_borrow_mut(|p| match self.events {
            Events::Accounts(v) if v.capacity() > p.accounts.capacity() => p.accounts = v,
            Events::Transfers(v) if v.capacity() > p.transfers.capacity() => p.transfers = v,
            Events::Ids(v) if v.capacity() > p.ids.capacity() => p.ids = v,
            _ => {}
        })
    }
}

fn decode_into<R: Record>(body: &[u8], what: &str, events: &mut Vec<R>) -> Result<(), OpError> {
    if body.is_empty() {
        return Err(OpError::Malformed(format!("empty {what} batch")));
    }
    if body.len() % R::SIZE != 0 {
        return Err(OpError::Malformed(format!(
            "{what} must be a whole number of {}-byte records, got {} bytes",
            R::SIZE,
            body.len()
        )));
    }
    let n = body.len() / R::SIZE;
    if n > BATCH_MAX {
        return Err(OpError::Malformed(format!(
            "too many {what}: {n} (at most {BATCH_MAX} per request)"
        )));
    }
    events.clear();
    events.extend(
        body.chunks_exact(R::SIZE)
            .filter_map(|c| R::read_from_bytes(c).ok()),
    );
    assert_eq!(events.len(), n, "every whole record decodes");
    Ok(())
}

fn decode_ids(body: &[u8], ids: &mut Vec<u128>) -> Result<(), OpError> {
    if body.is_empty() {
        return Err(OpError::Malformed("empty id batch".into()));
    }
    if body.len() % 16 != 0 {
        return Err(OpError::Malformed(format!(
            "ids must be a whole number of 16-byte ids, got {} bytes",
            body.len()
        )));
    }
    let n = body.len() / 16;
    if n > BATCH_MAX {
        return Err(OpError::Malformed(format!(
            "too many ids: {n} (at most {BATCH_MAX} per request)"
        )));
    }
    ids.clear();
    ids.extend(body.chunks_exact(16).map(|c| {
        let mut id = [0u8; 16];
        id.copy_from_slice(c);
        u128::from_le_bytes(id)
    }));
    Ok(())
}

fn decode_filter<R: Record>(body: &[u8], what: &str) -> Result<R, OpError> {
    if body.len() != R::SIZE {
        return Err(OpError::Malformed(format!(
            "{what} must be exactly {} bytes, got {}",
            R::SIZE,
            body.len()
        )));
    }
    R::read_from_bytes(body)
        .map_err(|_| OpError::Malformed(format!("{what} must be exactly {} bytes", R::SIZE)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger_reply::RespForm;

    fn test_ledger() -> Ledger {
        Ledger::new(ledger::LedgerConfig {
            max_accounts: 64,
            max_transfers: 64,
            partitions: 4,
            ..ledger::LedgerConfig::default()
        })
        .unwrap()
    }

    const FORM: Form = Form::Resp(RespForm::Blob);

    #[test]
    fn malformed_bodies_are_refused_with_why() {
        let l = test_ledger();
        let why = |op, body: &[u8]| match LedgerRequest::decode(&l, op, body, FORM) {
            Err(OpError::Malformed(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(why(Operation::CreateAccounts, &[]), "empty accounts batch");
        assert_eq!(
            why(Operation::CreateTransfers, &[0; 129]),
            "transfers must be a whole number of 128-byte records, got 129 bytes"
        );
        assert_eq!(
            why(Operation::LookupAccounts, &[0; 17]),
            "ids must be a whole number of 16-byte ids, got 17 bytes"
        );
        assert_eq!(
            why(Operation::LookupTransfers, &vec![0; 16 * (BATCH_MAX + 1)]),
            format!(
                "too many ids: {} (at most {BATCH_MAX} per request)",
                BATCH_MAX + 1
            )
        );
        assert_eq!(
            why(Operation::QueryAccounts, &[0; 63]),
            "query filter must be exactly 64 bytes, got 63"
        );
    }

    #[test]
    fn creates_are_routed_once_and_owned_by_one_worker_or_run_here() {
        let l = test_ledger();
        let account = |id, ledger| Account {
            id,
            ledger,
            code: 1,
            ..Account::default()
        };
        // Ledgers 1 and 3 fall on partitions with the same owner among 2 workers only if
        // their partitions have the same parity; find a pair that does and one that does not.
        let p = |ledger| l.partition_of(ledger);
        let same = (2..100).find(|&x| p(x) % 2 == p(1) % 2 && p(x) != p(1));
        let other = (2..100).find(|&x| p(x) % 2 != p(1) % 2);
        let (Some(same), Some(other)) = (same, other) else {
            panic!("4 partitions over 2 workers give both cases");
        };
        let events = Events::Accounts(vec![account(1, 1), account(2, same)]);
        let r = LedgerRequest::new(&l, Operation::CreateAccounts, events, FORM);
        let owner = p(1) % 2;
        assert_eq!(r.partitions.len(), 2);
        assert_eq!(r.owner_elsewhere(2, owner), None, "its owner runs it");
        assert_eq!(r.owner_elsewhere(2, 1 - owner), Some(owner));
        assert_eq!(
            r.owner_elsewhere(1, 1 - owner),
            None,
            "one worker runs everything"
        );

        let events = Events::Accounts(vec![account(1, 1), account(2, other)]);
        let r = LedgerRequest::new(&l, Operation::CreateAccounts, events, FORM);
        assert_eq!(
            r.owner_elsewhere(2, 0),
            None,
            "two owners: run where it arrived"
        );
        assert_eq!(r.owner_elsewhere(2, 1), None);

        let r = LedgerRequest::decode(&l, Operation::LookupAccounts, &[0; 32], FORM).unwrap();
        assert!(r.partitions.is_empty());
        assert_eq!(r.event_count(), 2);
        assert_eq!(r.owner_elsewhere(2, 0), None, "reads run where they arrive");
    }

    #[test]
    fn recycled_vectors_are_reused() {
        let l = test_ledger();
        let r = LedgerRequest::decode(&l, Operation::LookupAccounts, &[1; 160], FORM).unwrap();
        let Events::Ids(ids) = &r.events else {
            panic!("lookups decode ids");
        };
        let address = ids.as_ptr();
        r.recycle();
        let r = LedgerRequest::decode(&l, Operation::LookupAccounts, &[2; 32], FORM).unwrap();
        let Events::Ids(ids) = &r.events else {
            panic!("lookups decode ids");
        };
        assert_eq!(ids.as_ptr(), address);
        assert_eq!(ids.len(), 2);
    }
}
